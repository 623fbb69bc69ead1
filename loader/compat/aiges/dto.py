"""The SDK's aiges.dto: here aiges_embed's own data classes, so what a wrapper builds is what the
worker serialises (the SDK's pure-Python twins were for running a wrapper without the loader).

One drift stays visible: the SDK's pure-Python ResponseData took (key, data, length, type,
status) positionally, the native one (key, len, status, type); wrappers written against the
native module, as the template recommends, are the ones that run unchanged.
"""
from __future__ import annotations

from aiges_embed import (
    DataListCls,
    DataListNode,
    Response,
    ResponseData,
    SessionCreateResponse,
    callback,
    callback_metric,
    callback_trace,
)

from .core.types import (
    AUDIO,
    IMAGE,
    PROCESS_MODE,
    STRING,
    THREAD_MODE,
    VIDEO,
    DataAudio,
    DataBegin,
    DataContinue,
    DataEnd,
    DataImage,
    DataOnce,
    DataPer,
    DataText,
    DataVideo,
    Once,
    Status,
    Types,
)

__all__ = [
    "AUDIO", "DataAudio", "DataBegin", "DataContinue", "DataEnd", "DataImage", "DataListCls",
    "DataListNode", "DataOnce", "DataPer", "DataText", "DataVideo", "IMAGE", "Once",
    "PROCESS_MODE", "Response", "ResponseData", "STRING", "SessionCreateResponse", "Status",
    "THREAD_MODE", "Types", "VIDEO", "callback", "callback_metric", "callback_trace",
]

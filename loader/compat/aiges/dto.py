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

from .core import types as _types
from .core.types import *  # noqa: F403  (the SDK's dto re-exported its constants)

__all__ = [
    "DataListCls", "DataListNode", "Response", "ResponseData", "SessionCreateResponse",
    "callback", "callback_metric", "callback_trace", *_types.__all__,
]

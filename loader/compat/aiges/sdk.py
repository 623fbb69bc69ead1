"""The SDK's aiges.sdk: WrapperBase, the schema fields, and the names its module exported.

`from aiges.sdk import *` gives what the SDK's module namespace gave a wrapper in practice: the
base class and fields, the data classes (aiges_embed's), the type constants, `log`, and the
session pool of aiges.stream. Its pydantic schema models, jinja2 templates, gradio page and
Flask server are not here (see WrapperBase.schema() and run()).
"""
from __future__ import annotations

from ._base import Metaclass, WrapperBase
from ._fields import (
    AudioBodyField,
    AudioRespField,
    BooleanParamField,
    Field,
    ImageBodyField,
    ImageRespField,
    IntegerParamField,
    JsonBodyField,
    NumberParamField,
    ParamField,
    PayloadField,
    StringBodyField,
    StringParamField,
    StringRespField,
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
from .dto import (
    DataListCls,
    DataListNode,
    Response,
    ResponseData,
    SessionCreateResponse,
    callback,
)
from .stream import SessionManager, StreamHandleThread, ThreadPool, WorkerThread
from .utils.log import log

# the SDK's map from a schema's data type name to the constant
type_map: dict[str, int] = {"text": STRING, "audio": AUDIO, "image": IMAGE, "video": VIDEO}

__all__ = [
    # the base class and the fields
    "AudioBodyField", "AudioRespField", "BooleanParamField", "Field", "ImageBodyField",
    "ImageRespField", "IntegerParamField", "JsonBodyField", "Metaclass", "NumberParamField",
    "ParamField", "PayloadField", "StringBodyField", "StringParamField", "StringRespField",
    "WrapperBase",
    # what the SDK's module imported and so exported
    "AUDIO", "DataAudio", "DataBegin", "DataContinue", "DataEnd", "DataImage", "DataListCls",
    "DataListNode", "DataOnce", "DataPer", "DataText", "DataVideo", "IMAGE", "Once",
    "PROCESS_MODE", "Response", "ResponseData", "STRING", "SessionCreateResponse",
    "SessionManager", "Status", "StreamHandleThread", "THREAD_MODE", "ThreadPool", "Types",
    "VIDEO", "WorkerThread", "callback", "log", "type_map",
]

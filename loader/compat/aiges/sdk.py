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
from .core import types as _types
from .core.types import *  # noqa: F403  (the SDK's module exported them)
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
type_map: dict[str, int] = {"text": _types.STRING, "audio": _types.AUDIO, "image": _types.IMAGE,
                           "video": _types.VIDEO}

__all__ = [
    # the base class and the fields
    "AudioBodyField", "AudioRespField", "BooleanParamField", "Field", "ImageBodyField",
    "ImageRespField", "IntegerParamField", "JsonBodyField", "Metaclass", "NumberParamField",
    "ParamField", "PayloadField", "StringBodyField", "StringParamField", "StringRespField",
    "WrapperBase",
    # what the SDK's module imported and so exported
    "DataListCls", "DataListNode", "Response", "ResponseData", "SessionCreateResponse",
    "SessionManager", "StreamHandleThread", "ThreadPool", "WorkerThread", "callback", "log",
    "type_map", *_types.__all__,
]

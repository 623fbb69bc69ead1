"""The SDK's WrapperBase (re-exported by aiges.sdk): the class a wrapper's `Wrapper` extends.

Its metaclass gathers the fields a wrapper declares, as the SDK's does, into `__mappings__`:
`params` and `inputs` from requestCls, `accepts` from responseCls (each an instance of the
user's class whose class attributes are fields), plus `call`, `sub`, `route`, `call_type` when
the class sets them. Unlike the SDK it also reads fields a request class inherits, takes the
class itself where a wrapper forgot the `()`, skips non-field `accept*` attributes, and lets a
Wrapper subclass without requestCls/responseCls keep its base's fields.

The default methods return what the SDK's do: wrapperInit, wrapperFini and the once calls raise
NotImplementedError, the rest answer 0, "", [] or None. They stay on the class so that
`WrapperBase.<name>` (qualname "WrapperBase.<name>", as in the SDK) tells a default from a
wrapper's own method.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from aiges_embed import DataListCls, Response, SessionCreateResponse

from ._fields import Field, ParamField, PayloadField
from .core.types import Once
from .stream import SessionManager
from .utils.log import log

__all__ = ["Metaclass", "WrapperBase"]

_ROUTING = ("call", "sub", "route", "call_type")


class Metaclass(type):
    """Builds each Wrapper class's `__mappings__` from its requestCls and responseCls."""

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> Metaclass:
        inherited: Mapping[str, Any] = next(
            (m for b in bases if (m := getattr(b, "__mappings__", None)) is not None), {})
        mappings: dict[str, Any] = {
            "inputs": list(inherited.get("inputs", [])),
            "accepts": list(inherited.get("accepts", [])),
            "params": list(inherited.get("params", [])),
        }
        mappings.update({k: inherited[k] for k in _ROUTING if k in inherited})
        if "requestCls" in attrs:
            declared = list(_fields_of(attrs["requestCls"]))
            mappings["params"] = [f for f in declared if isinstance(f, ParamField)]
            mappings["inputs"] = [f for f in declared if isinstance(f, PayloadField)]
        if "responseCls" in attrs:
            mappings["accepts"] = [f for f in _fields_of(attrs["responseCls"])
                                   if isinstance(f, PayloadField)]
        mappings.update({k: attrs[k] for k in _ROUTING if k in attrs})
        attrs["__mappings__"] = mappings
        return super().__new__(mcs, name, bases, attrs)


def _fields_of(declared: Any) -> Iterator[Field]:
    """The fields of a request or response declaration, in the order they were written."""
    if declared is None:
        return
    owner = declared if isinstance(declared, type) else type(declared)
    seen: set[int] = set()
    namespaces: list[Mapping[str, Any]] = [vars(c) for c in reversed(owner.__mro__)
                                           if c is not object]
    if not isinstance(declared, type):
        namespaces.append(getattr(declared, "__dict__", {}))
    for namespace in namespaces:
        for value in namespace.values():
            if isinstance(value, Field) and id(value) not in seen:
                seen.add(id(value))
                yield value


class WrapperBase(metaclass=Metaclass):
    config: dict[str, str] = {}
    requestCls: Any = None
    responseCls: Any = None
    __mappings__: dict[str, Any]

    def __init__(self, legacy: bool = True, is_aipaas: bool = True,
                 keep_schema_default_value: bool = True) -> None:
        self.inputs_test_values: dict[str, Any] = {}
        self.params_test_values: dict[str, Any] = {}
        self.respData: list[Any] = []
        self.session = SessionManager()
        # legacy and is_aipaas chose between the SDK's two schema documents; schema() here
        # writes one, so they are kept for wrappers that read them back
        self.legacy = legacy
        self.is_aipaas = is_aipaas
        self.keep_schema_default_value = keep_schema_default_value
        self._schema: str | None = None
        self.printPythonInfo()

    def printPythonInfo(self) -> None:
        log.debug("wrapper running on %s, Python %s", sys.executable, sys.version.split()[0])

    def schema(self) -> str:
        """The declared API as a JSON string, in athena's format (not the SDK's templates):

        {"serviceId", "version", "route",
         "parameters": {key: {"type", "required", "enum" or "minimum"/"maximum" or
                              "minLength"/"maxLength", "default", "title", "description"}},
         "required_parameters": [key, ...],
         "inputs": {key: {"dataType": "text" | "audio" | "image" | "video", "required",
                          "status", "encoding", "format", "compress"}},
         "accepts": {key: the same as an input}}
        Empty-valued attributes are left out; "default" too without keep_schema_default_value.
        """
        mappings = self.__mappings__
        # getattr: a Wrapper whose __init__ skips super().__init__() still describes itself
        keep = bool(getattr(self, "keep_schema_default_value", True))
        service_id = str(getattr(self, "serviceId", "") or "")
        version = str(getattr(self, "version", "") or "v1")
        document = {
            "serviceId": service_id,
            "version": version,
            "route": mappings.get("route") or f"/{version}/private/{service_id}",
            "parameters": {f.key: f.describe(keep) for f in mappings["params"]},
            "required_parameters": [f.key for f in mappings["params"] if f.required],
            "inputs": {f.key: f.describe(keep) for f in mappings["inputs"]},
            "accepts": {f.key: f.describe(keep) for f in mappings["accepts"]},
        }
        self._schema = json.dumps(document, ensure_ascii=False, default=str)
        return self._schema

    def wrapperInit(self, config: dict[str, str]) -> int:
        raise NotImplementedError("implement wrapperInit(self, config) -> int in your Wrapper")

    def wrapperFini(self) -> int:
        raise NotImplementedError("implement wrapperFini(self) -> int in your Wrapper")

    def wrapperLoadRes(self, reqData: DataListCls, resId: int) -> int:
        return 0

    def wrapperUnloadRes(self, resId: int) -> int:
        return 0

    def wrapperOnceExec(self, params: dict[str, str], reqData: DataListCls, usrTag: str = "",
                        persId: int = 0) -> Response:
        raise NotImplementedError(
            "implement wrapperOnceExec(self, params, reqData, usrTag='', persId=0) -> Response")

    def wrapperOnceExecAsync(self, params: dict[str, str], reqData: DataListCls, sid: str,
                             persId: int = 0) -> int:
        raise NotImplementedError(
            "implement wrapperOnceExecAsync(self, params, reqData, usrTag, persId=0) -> int")

    def wrapperError(self, ret: int) -> str:
        return "This is a  error return" if ret == 100 else ""  # the SDK's text, spacing kept

    def wrapperCreate(self, params: dict[str, str], sid: str, persId: int = 0,
                      usrTag: str = "") -> SessionCreateResponse | None:
        return None

    def wrapperWrite(self, handle: str, datas: Any, sid: str = "") -> int:
        return 0

    def wrapperRead(self, handle: str, sid: str = "") -> Any:
        return []

    def wrapperDestroy(self, handle: str) -> int:
        return 0

    def check_resp(self, resp: Any) -> bool:
        """The SDK's self-check of a once result; logs what is wrong and answers whether all is
        right: a Response with outputs, unique keys, status Once, declared keys and types."""
        if not isinstance(resp, Response):
            log.error("wrapperOnceExec must return a Response, not %s", type(resp).__name__)
            return False
        if len(resp.list) == 0:
            log.error("the Response has no outputs (Response.list is empty)")
            return False
        if resp.error_code != 0:
            return True
        return _outputs_ok(resp.list, {f.key: f.data_type for f in self.__mappings__["accepts"]})

    def run(self, stream: bool = False) -> None:
        raise NotImplementedError(
            "WrapperBase.run() is the aiges SDK's local self-test, which athena does not ship; "
            "serve the wrapper instead: athena serve path/to/wrapper.py")

    run_once = run
    run_stream = run

    def gradio(self) -> None:
        raise NotImplementedError("the aiges SDK's gradio page is not part of athena; "
                                  "athena serve publishes the ability's /docs page")


def _outputs_ok(outputs: list[Any], accepts: dict[str, Any]) -> bool:
    keys = [out.key for out in outputs]
    if len(set(keys)) != len(keys):
        log.error("Response outputs must have unique keys, got %s", keys)
        return False
    for out in outputs:
        data = out.data
        if data is None:
            size = 0
        elif isinstance(data, str):
            size = len(data.encode())
        else:
            size = memoryview(data).nbytes
        if out.len != size:
            log.error("output %r: len is %d but its data has %d bytes", out.key, out.len, size)
            return False
        if out.status != Once:
            log.error("output %r: status is %d, a once call's must be %d", out.key, out.status,
                      Once)
            return False
        if accepts and out.key not in accepts:
            log.error("output %r is not declared in responseCls", out.key)
            return False
        if accepts and out.type != accepts[out.key]:
            log.error("output %r: data type %s, responseCls declares %s", out.key, out.type,
                      accepts[out.key])
            return False
    return True

"""Stream-call adapter: a wrapper's session methods bound once, at load time, to one convention.

Pure (no gRPC, no event loop): the session engine calls these from wherever it runs wrapper
code. Each method's parameters are read once and bound BY NAME, so every variant public
wrappers use is one call shape here:

    create(params, sid, usr_tag, pers_id) -> handle   wrapperCreate
    write(handle, data, sid)                           wrapperWrite
    read(handle, sid) -> Response | None               wrapperRead (None: the wrapper has none)
    destroy(handle)                                    wrapperDestroy, or the v1 wrapperDestory

A wrapper is v1 (function) style when wrapperCreate's first parameter is the usrTag
(`wrapperCreate(usrTag, params, psrIds, psrCnt[, errNum])`); its frames are then passed as
lists of dicts and wrapperRead(handle, respData) fills a list of dicts, as for v1 once calls.
Failures raise WrapperFailed: the wrapper's own code with its wrapperError text, or the 109xx
code of the method that raised.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiges_embed

from loader.errors import WrapperFailed, WrapperLoadError, WrapperRaised
from loader.plugin import POSITIONAL, TAG_NAMES, own_method, v1_request_dicts, v1_response
from loader.repeats import log_raised
from loader.v1.codes import Code

__all__ = ["ErrorText", "StreamCalls"]

log = logging.getLogger(__name__)

ErrorText = Callable[[int], str]
# (parameter name, what to pass, positional only): how one wrapper method is called
_Slots = list[tuple[str, str, bool]]

_NAMES = {
    "params": ("params", "param", "parameters"),
    "sid": ("sid", "session_id", "sessionid"),
    "tag": TAG_NAMES,
    "psr_ids": ("psrids", "psr_ids"),  # v1: the list of personalisation resources
    "psr_cnt": ("psrcnt", "psr_cnt"),
    "pers": ("persid", "pers_id", "psrid", "psr_id"),
    "err_num": ("errnum", "err_num", "errno", "errcode"),
    "resp": ("respdata", "resp_data", "resp", "response", "outputs"),
}


class StreamCalls:
    """A wrapper's session methods, adapted; made by `StreamCalls.of` at load time."""

    def __init__(self, create: Callable[..., Any], create_slots: _Slots,
                 write: Callable[..., Any] | None, write_slots: _Slots,
                 read: Callable[..., Any] | None, read_slots: _Slots,
                 destroy: Callable[..., Any] | None, error_text: ErrorText, v1: bool) -> None:
        self._create, self._create_slots = create, create_slots
        self._write, self._write_slots = write, write_slots
        self._read, self._read_slots = read, read_slots
        self._destroy = destroy
        self._error_text = error_text
        self.v1 = v1
        self.has_read = read is not None
        self.has_destroy = destroy is not None

    @classmethod
    def of(cls, target: Any, error_text: ErrorText) -> StreamCalls | None:
        """The adapted session methods, or None when the wrapper has no wrapperCreate of its own.
        Raises WrapperLoadError for a parameter the contract cannot fill."""
        create = own_method(target, "wrapperCreate")
        if create is None:
            return None
        create_slots = _slots(create, "wrapperCreate", (), ("params", "sid", "pers", "tag"),
                              ("psr_ids", "psr_cnt", "err_num"))
        v1 = bool(create_slots) and create_slots[0][1] == "tag"
        write = own_method(target, "wrapperWrite")
        write_slots = [] if write is None else _slots(
            write, "wrapperWrite", ("handle", "data"), ("handle", "data", "sid"))
        read = own_method(target, "wrapperRead")
        read_slots = [] if read is None else _slots(
            read, "wrapperRead", ("handle", "resp") if v1 else ("handle",), ("handle", "sid"),
            ("resp",))
        # v1 wrappers spell it wrapperDestory (sic)
        destroy = own_method(target, "wrapperDestroy") or own_method(target, "wrapperDestory")
        return cls(create, create_slots, write, write_slots, read, read_slots, destroy,
                   error_text, v1)

    def create(self, params: dict[str, str], sid: str, usr_tag: str, pers_id: int) -> str:
        """The session's handle (the sid when the wrapper gives none)."""
        values = {"params": params, "sid": sid, "tag": usr_tag, "pers": pers_id,
                  "psr_ids": [pers_id] if pers_id else [], "psr_cnt": 1 if pers_id else 0,
                  "err_num": 0}
        try:
            result = _call(self._create, self._create_slots, values)
        except Exception as e:
            raise _raised("wrapperCreate", e, Code.WRAPPER_CREATE) from e
        if result is None:
            return sid
        if isinstance(result, str):
            return result or sid
        if not hasattr(result, "handle"):
            raise WrapperFailed(f"wrapperCreate returned {type(result).__name__}, not a "
                                "SessionCreateResponse or a handle", Code.WRAPPER_CREATE)
        self._check("wrapperCreate", getattr(result, "error_code", 0))
        return str(result.handle or "") or sid

    def write(self, handle: str, data: Any, sid: str) -> None:
        """Hand one frame (a DataListCls) to the session."""
        if self._write is None:
            raise WrapperFailed("the wrapper defines no wrapperWrite", Code.WRAPPER_WRITE)
        frame = v1_request_dicts(data) if self.v1 else data
        try:
            code = _call(self._write, self._write_slots,
                         {"handle": handle, "data": frame, "sid": sid})
        except Exception as e:
            raise _raised("wrapperWrite", e, Code.WRAPPER_WRITE) from e
        self._check("wrapperWrite", code)

    def read(self, handle: str, sid: str) -> aiges_embed.Response | None:
        """What the session has produced (an empty Response for nothing yet, or None when the
        wrapper has no wrapperRead). A Response's own error_code is left for the caller to
        check with the outputs, as for once calls."""
        if self._read is None:
            return None
        produced: list[Any] = []
        try:
            result = _call(self._read, self._read_slots,
                           {"handle": handle, "sid": sid, "resp": produced})
        except Exception as e:
            raise _raised("wrapperRead", e, Code.WRAPPER_READ) from e
        if any(kind == "resp" for _, kind, _ in self._read_slots):  # v1: fills respData
            return v1_response(produced, int(result or 0))
        if result is None:
            return aiges_embed.Response()
        if isinstance(result, list):  # v1 wrapperRead(handle) -> list, and the SDK's stub
            return v1_response(result, 0)
        return result  # type: ignore[no-any-return]

    def destroy(self, handle: str) -> None:
        """Close the session; nothing when the wrapper has no wrapperDestroy."""
        if self._destroy is None:
            return
        try:
            code = self._destroy(handle)
        except Exception as e:
            raise _raised("wrapperDestroy", e, Code.WRAPPER_DESTROY) from e
        self._check("wrapperDestroy", code)

    def _check(self, method: str, code: Any) -> None:
        """A non-zero int a method returned is the wrapper's error code."""
        if isinstance(code, bool) or not isinstance(code, int) or code == 0:
            return
        raise WrapperFailed(self._error_text(code) or f"{method} returned error {code}", code)


def _slots(fn: Callable[..., Any], method: str, leading: Sequence[str],
           contract: Sequence[str], extra: Sequence[str] = ()) -> _Slots:
    """How to call fn: its leading positional parameters get `leading` whatever their names,
    the rest what their names say. A signature that cannot be read or takes *args gets the
    contract's order, positionally."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    if not parameters or any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return [(str(i), kind, True) for i, kind in enumerate(contract)]
    known = {*leading, *contract, *extra}
    slots: _Slots = []
    for i, p in enumerate(parameters):
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        kind = leading[i] if i < len(leading) and p.kind in POSITIONAL else _kind(p.name, known)
        if kind is None and i == 0 and method == "wrapperCreate":
            kind = "params"  # its first parameter is the params whatever it is called
        if kind is None:
            if p.default is inspect.Parameter.empty:
                raise WrapperLoadError(
                    f"{method} parameter {p.name!r} is not one the contract passes "
                    f"({', '.join(contract)}); give it a default")
            continue
        slots.append((p.name, kind, p.kind is inspect.Parameter.POSITIONAL_ONLY))
    return slots


def _kind(name: str, known: set[str]) -> str | None:
    lowered = name.lower()
    return next((kind for kind, names in _NAMES.items() if kind in known and lowered in names),
                None)


def _call(fn: Callable[..., Any], slots: _Slots, values: dict[str, Any]) -> Any:
    args = [values[kind] for _, kind, positional in slots if positional]
    return fn(*args, **{name: values[kind] for name, kind, positional in slots if not positional})


def _raised(method: str, error: Exception, code: int) -> WrapperFailed:
    log_raised(log, method, error)
    return WrapperRaised(method, error, code)

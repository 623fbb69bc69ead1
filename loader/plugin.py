"""Wrapper plugin: imports a user's wrapper.py once and adapts its signature variant once."""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiges_embed

from loader.compat import install_aiges_fallback
from loader.errors import WrapperLoadError
from loader.repeats import log_raised
from loader.schema import Schema
from loader.v1.codes import Code

if TYPE_CHECKING:
    from loader.streams import StreamCalls

__all__ = [
    "POSITIONAL", "TAG_NAMES", "OnceCall", "Plugin", "own_method", "v1_request_dicts",
    "v1_response",
]

log = logging.getLogger(__name__)

# (params, reqData, usrTag, persId) -> Response, or an awaitable of one for `async def` wrappers.
OnceCall = Callable[[dict[str, str], Any, str, int], Any]

# parameter names wrappers give the usrTag, and the kinds a positional parameter can be
TAG_NAMES = ("usrtag", "usertag", "usr_tag", "user_tag", "tag")
_PERS_NAMES = ("persid", "pers_id", "psrid", "psrids", "psr_id")
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class Plugin:
    """One loaded wrapper: the object whose methods the contract names, already adapted."""

    name: str
    target: Any
    service_id: str
    version: str
    once: OnceCall | None
    once_is_async: bool
    # wrapperOnceExecAsync, when the wrapper has it and no wrapperOnceExec: it returns a code
    # at once and delivers its Response later through callback(resp, usrTag)
    once_by_callback: OnceCall | None = None
    # `async def wrapperStream(params, frames, ...)`, an async generator: frames in, Responses
    # out (this loader's own session style, beside the AIGES wrapperCreate family)
    stream_generator: Callable[..., Any] | None = None
    declared: Schema | None = None  # what an SDK-style wrapper declares about its API
    source_digest: str = ""  # sha256 of the wrapper's source file ("" when it has none)
    streams: StreamCalls | None = None  # its session methods, adapted (None: no wrapperCreate)

    @classmethod
    def load(cls, spec: str, service_id: str | None = None) -> Plugin:
        install_aiges_fallback()  # `import aiges` works without the real SDK, which wins if present
        module, attr = _import(spec)
        target = _target(module, attr, spec)
        once_fn = own_method(target, "wrapperOnceExec")
        # a wrapper with both once methods answers through the direct one: its result needs
        # no callback round trip
        by_callback = None if once_fn is not None else own_method(target, "wrapperOnceExecAsync")
        generator = _stream_generator(target, spec)
        if (once_fn is None and by_callback is None and generator is None
                and own_method(target, "wrapperCreate") is None):
            raise WrapperLoadError(f"{spec}: defines none of wrapperOnceExec, "
                                   "wrapperOnceExecAsync, wrapperCreate and wrapperStream")
        stem = Path(spec.partition(":")[0]).parent.name or module.__name__
        plugin = cls(
            name=spec,
            target=target,
            service_id=service_id or str(getattr(target, "serviceId", "") or stem),
            version=str(getattr(target, "version", "") or "v1"),
            once=_adapt_once(once_fn, "wrapperOnceExec") if once_fn is not None else None,
            once_is_async=inspect.iscoroutinefunction(once_fn),
            once_by_callback=(None if by_callback is None
                              else _adapt_once(by_callback, "wrapperOnceExecAsync")),
            declared=_declared(target, spec),
            stream_generator=generator,
            source_digest=_digest(module),
        )
        # imported here: loader.streams builds on this module's helpers (_own, the v1 dicts)
        from loader.streams import StreamCalls
        # error_text reads only the target, which the copy shares
        return replace(plugin, streams=StreamCalls.of(target, plugin.error_text))

    def init(self, config: dict[str, str]) -> None:
        init = getattr(self.target, "wrapperInit", None)
        if init is None:  # common in function-style (v1) stream wrappers
            log.info("%s defines no wrapperInit: nothing to initialise", self.name)
            return
        try:
            code = init(config)
        except Exception as e:
            raise WrapperLoadError(f"wrapperInit raised {type(e).__name__}: {e}") from e
        if code not in (0, None):
            raise WrapperLoadError(
                f"wrapperInit returned {code}: {self.error_text(code)} (code {Code.WRAPPER_INIT})"
            )

    def fini(self) -> None:
        fini = getattr(self.target, "wrapperFini", None)
        if fini is None:
            return
        try:
            code = fini()
        except Exception as e:
            log_raised(log, "wrapperFini", e)
            return
        if code not in (0, None):
            log.warning("wrapperFini returned %s: %s", code, self.error_text(code))

    def error_text(self, code: int) -> str:
        describe = getattr(self.target, "wrapperError", None)
        if describe is None:
            return f"wrapper error {code}"
        try:
            return str(describe(code))
        except Exception as e:  # a broken wrapperError must not hide the original failure
            return f"wrapper error {code} (wrapperError raised {type(e).__name__})"

    def wrapper_version(self) -> str:
        version = getattr(self.target, "wrapperVersion", None)
        try:
            return str(version()) if version is not None else ""
        except Exception as e:
            log_raised(log, "wrapperVersion", e)
            return ""

    def operations(self) -> list[str]:
        present = {
            "once": "wrapperOnceExec",
            "once_async": "wrapperOnceExecAsync",
            "stream": "wrapperCreate",
        }
        found = [op for op, method in present.items()
                 if own_method(self.target, method) is not None]
        if self.stream_generator is not None and "stream" not in found:
            found.append("stream")
        return found


def own_method(target: Any, name: str) -> Any:
    """The wrapper's own method, or None: the SDK's WrapperBase (the real one and ours) defines
    every method as a stub, so an SDK wrapper would otherwise seem to offer every operation."""
    method = getattr(target, name, None)
    if method is None or getattr(method, "__qualname__", "").startswith("WrapperBase."):
        return None
    return method


def _import(spec: str) -> tuple[Any, str | None]:
    location, _, attr = spec.partition(":")
    path = Path(location)
    if path.suffix == ".py" or path.is_file():
        if not path.is_file():
            raise WrapperLoadError(f"wrapper file {location!r} does not exist")
        # wrappers import their sibling modules by bare name, as under the original loader
        sys.path.insert(0, str(path.parent.resolve()))
        _warn_of_shadowed_siblings(path.parent)
        name = f"athena_wrapper_{path.parent.name or 'root'}_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise WrapperLoadError(f"{location!r} cannot be imported as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        _exec(module_spec.loader.exec_module, module, location)
        return module, attr or None
    try:
        return importlib.import_module(location), attr or None
    except ImportError as e:
        raise WrapperLoadError(f"cannot import wrapper module {location!r}: {e}") from e


# the top-level packages athena installs: their names are the project's folders (see README,
# "Packaging"), so a wrapper's own module of the same name cannot be imported by that name
_OWN_PACKAGES = ("gateway", "loader")


def _warn_of_shadowed_siblings(folder: Path) -> None:
    for name in _OWN_PACKAGES:
        if (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file():
            log.warning("the wrapper's folder has its own %r module, but `import %s` gets "
                        "athena's %s package, which this worker already runs; rename the "
                        "wrapper's module (e.g. %s_%s) if the wrapper imports it",
                        name, name, name, folder.name or "my", name)


def _exec(run: Callable[[Any], None], module: Any, location: str) -> None:
    try:
        run(module)
    except Exception as e:
        raise WrapperLoadError(f"importing {location!r} raised {type(e).__name__}: {e}") from e


def _target(module: Any, attr: str | None, spec: str) -> Any:
    found = getattr(module, attr or "Wrapper", None)
    if attr and found is None:
        raise WrapperLoadError(f"{spec}: module has no attribute {attr!r}")
    if found is None:
        return module  # the old function-style wrapper
    if not inspect.isclass(found):
        return found
    try:
        return found()
    except Exception as e:
        raise WrapperLoadError(f"{spec}: {found.__name__}() raised {type(e).__name__}: {e}") from e


def _stream_generator(target: Any, spec: str) -> Callable[..., Any] | None:
    """wrapperStream bound to (params, frames, sid, usr_tag): its first two parameters get the
    params and the frames whatever their names; later ones by name (sid, usrTag, persId)."""
    fn = own_method(target, "wrapperStream")
    if fn is None:
        return None
    if not inspect.isasyncgenfunction(fn):
        raise WrapperLoadError(f"{spec}: wrapperStream must be an `async def` that yields "
                               "its results (an async generator)")
    parameters = list(inspect.signature(fn).parameters.values())
    named: list[tuple[str, str]] = []  # (parameter name, what to pass)
    for p in parameters[2:]:
        lowered = p.name.lower()
        kind = ("sid" if lowered in ("sid", "session_id") else "tag" if lowered in TAG_NAMES
                else "pers" if lowered in _PERS_NAMES else None)
        if kind is not None:
            named.append((p.name, kind))
        elif p.default is inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD:
            raise WrapperLoadError(f"wrapperStream parameter {p.name!r} is not one the loader "
                                   "passes (params, frames, sid, usrTag, persId)")
    if len([p for p in parameters if p.kind in POSITIONAL]) < 2:
        raise WrapperLoadError(f"wrapperStream{inspect.signature(fn)} must take (params, frames)")

    def start(params: dict[str, str], frames: Any, sid: str, tag: str, pers: int) -> Any:
        values = {"sid": sid, "tag": tag, "pers": pers}
        return fn(params, frames, **{name: values[kind] for name, kind in named})

    return start


def _adapt_once(fn: Callable[..., Any], method: str) -> OnceCall:
    """Bind whichever variant of wrapperOnceExec (or wrapperOnceExecAsync, called the same
    way) the wrapper has to one calling convention."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return lambda params, data, tag, pers: fn(params, data, tag, pers)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return lambda params, data, tag, pers: fn(params, data, tag, pers)
    positional = [p for p in parameters if p.kind in POSITIONAL]
    if positional and positional[0].name.lower() in TAG_NAMES:
        if method == "wrapperOnceExecAsync":  # v1: (usrTag, params, reqData, psrIds, psrCnt)
            return _adapt_v1_once_async(fn, len(positional))
        if len(positional) >= 6:
            return _adapt_v1_once(fn)
    if len(positional) < 2:
        raise WrapperLoadError(
            f"{method}{inspect.signature(fn)} must take at least (params, reqData)"
        )
    extras: list[tuple[str, str]] = []  # (parameter name, what to pass)
    for p in parameters[2:]:
        lowered = p.name.lower()
        if lowered in TAG_NAMES:
            extras.append((p.name, "tag"))
        elif lowered in _PERS_NAMES:
            extras.append((p.name, "pers"))
        elif p.default is inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD:
            raise WrapperLoadError(
                f"{method} parameter {p.name!r} is not one the contract passes "
                "(params, reqData, usrTag, persId); give it a default"
            )

    def call(params: dict[str, str], data: Any, tag: str, pers: int) -> Any:
        values = {"tag": tag, "pers": pers}
        return fn(params, data, **{name: values[kind] for name, kind in extras})

    return call


def _adapt_v1_once(fn: Callable[..., Any]) -> OnceCall:
    """v1: wrapperOnceExec(usrTag, params, reqData: list[dict], respData: list, psrIds, psrCnt)."""

    def call(params: dict[str, str], data: Any, tag: str, pers: int) -> Any:
        produced: list[dict[str, Any]] = []
        code = fn(tag, params, v1_request_dicts(data), produced, [pers] if pers else [],
                  1 if pers else 0)
        return v1_response(produced, code)

    return call


def _adapt_v1_once_async(fn: Callable[..., Any], count: int) -> OnceCall:
    """v1: wrapperOnceExecAsync(usrTag, params, reqData: list[dict][, psrIds, psrCnt]) -> code;
    as many of those as it takes, positionally."""

    def call(params: dict[str, str], data: Any, tag: str, pers: int) -> Any:
        values = (tag, params, v1_request_dicts(data), [pers] if pers else [], 1 if pers else 0)
        return fn(*values[:count])

    return call


def v1_request_dicts(data: Any) -> list[dict[str, Any]]:
    """A DataListCls as v1 (function-style) wrappers take it: one dict per input."""
    return [
        {"key": n.key, "data": n.data, "len": n.len, "status": n.status, "type": n.type,
         "desc": n.desc}
        for n in data.list
    ]


def v1_response(produced: list[Any], code: Any) -> aiges_embed.Response:
    """What a v1 wrapper appended (dicts, or ResponseData it made) and its code, as a Response."""
    response = aiges_embed.Response()
    response.error_code = int(code or 0)
    response.list = [_response_data(item) for item in produced]
    return response


def _response_data(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    out = aiges_embed.ResponseData()
    out.key = str(item.get("key", ""))
    out.type = int(item.get("type", 0))
    out.status = int(item.get("status", 0))
    out.desc = {str(k): str(v) for k, v in (item.get("desc") or {}).items()}
    out.setData(item.get("data", b""))
    return out


def _declared(target: Any, spec: str) -> Schema | None:
    try:
        return Schema.of(target)
    except Exception as e:  # a schema we cannot read must not stop the wrapper from serving
        log.warning("%s: cannot read its requestCls/responseCls schema (%s: %s); serving it "
                    "without one", spec, type(e).__name__, e)
        return None


def _digest(module: Any) -> str:
    source = getattr(module, "__file__", None)
    if not source:
        return ""
    try:
        return hashlib.sha256(Path(source).read_bytes()).hexdigest()
    except OSError:
        return ""

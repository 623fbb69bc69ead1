"""Callback routes: where `aiges_embed.callback(resp, usrTag)` results go.

A wrapper delivers asynchronous results (a push stream's results, a wrapperOnceExecAsync
call's one result) by calling `callback(resp, tag)` from whatever thread it likes. The tag is
one of the names the loader gave the work: the usrTag it passed, the session's sid, or the
handle wrapperCreate returned (public wrappers use each), and some pass the sid as a third
argument (`callback(res, tag, sid)`). Each piece of work waiting for results registers its
names with a receiver; the one process-wide hook looks the name up and hands the result to the
receiver's event loop, the only thread receivers run on.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import aiges_embed

__all__ = ["Route", "install_hook", "is_free"]

log = logging.getLogger(__name__)

Receiver = Callable[[Any], object]  # called on the loop thread with the wrapper's Response

# every name in use, one table per process: aiges_embed.callback has one hook per process
_ROUTES: dict[str, Route] = {}


class Route:
    """The names one piece of work answers to, until `close`. A name already taken by other
    work still open is not taken over (its results keep going where they went)."""

    def __init__(self, names: Iterable[str], receiver: Receiver) -> None:
        self._loop = asyncio.get_running_loop()
        self._receiver = receiver
        self.names = [n for n in dict.fromkeys(names) if n and n not in _ROUTES]
        for name in self.names:
            _ROUTES[name] = self

    def close(self) -> None:
        for name in self.names:
            if _ROUTES.get(name) is self:
                del _ROUTES[name]
        self.names = []

    def _deliver(self, resp: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self._loop.call_soon_threadsafe(self._receiver, resp)


def is_free(name: str) -> bool:
    return name not in _ROUTES


def install_hook() -> None:
    """Every engine (re)installs it: something else in the process (a test, an embedding
    program) may have set its own hook since the last engine was made."""
    aiges_embed.set_hooks(callback=_callback)


def _callback(resp: Any, usr_tag: Any, *extra: Any) -> int:
    """aiges_embed.callback's hook, on whatever thread the wrapper calls it from: 0 when the
    result found its work, -1 (and a warning) when no open work has that name."""
    for name in (usr_tag, *extra):
        route = _ROUTES.get(str(name))
        if route is not None:
            route._deliver(resp)
            return 0
    log.warning("callback for %r names no open session or call (it ended, or the tag is "
                "not one the loader gave): result dropped", usr_tag)
    return -1

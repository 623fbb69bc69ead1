"""Session engine: wrapperCreate / Write / Read / Destroy under the licence, results as they come.

Beside the once engine and, like it, free of any transport: the servicer feeds frames in and
reads results out. Each session holds one licence slot from open until wrapperDestroy returns.
Wrapper calls run one at a time per session, frames in arrival order: wrapperWrite and
wrapperRead inline on the event loop once they prove short (the once engine's Placement rule,
one Placement per engine), else on the wrapper threads; wrapperCreate and wrapperDestroy always
on a thread. An inline call runs to its end before anything else on the loop, so only a call
of the session still running on a thread (it holds the session's turn) makes the next wait.

Results reach the session two ways, both always on: a pull wrapper (one with wrapperRead) is
read after each write and polled by a timer every read re-arms (so while frames come faster
than the poll interval no poll runs), the interval growing from 5 to 50 ms while polls find
nothing; a push wrapper calls `aiges_embed.callback(resp, tag)` from any thread with the
usr_tag given at open, the sid, or the handle, and the result hops to the event loop. An empty
Response is a placeholder and is dropped, so a push wrapper whose wrapperRead returns
placeholders works too.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from time import perf_counter
from typing import Any

from loader.callbacks import install_hook
from loader.licence import Licence
from loader.metrics import LoaderMetrics
from loader.placement import Placement
from loader.plugin import Plugin
from loader.repeats import log_raised
from loader.session import GeneratedSession, Session
from loader.streams import StreamCalls
from loader.threads import WrapperThreads

__all__ = ["SessionEngine"]

log = logging.getLogger(__name__)


class SessionEngine:
    def __init__(self, plugin: Plugin, licence: Licence, inline_under_ms: float,
                 metrics: LoaderMetrics, threads: WrapperThreads) -> None:
        if plugin.streams is None and plugin.stream_generator is None:
            raise ValueError(f"{plugin.name} has no wrapperCreate")
        self.calls = plugin.streams
        self.generator = plugin.stream_generator
        self.error_text = plugin.error_text
        self.metrics = metrics
        self.threads = threads
        self.licence = licence  # shared with the once engine
        self.stopping = False  # set by the worker's drain: sessions cut now end as "shutdown"
        self.started: dict[asyncio.Future[Any], float] = {}  # wrapper calls running now
        self.inline_started: float | None = None  # a write or read running inline on the loop
        self.placement = Placement(inline_under_ms / 1000)  # fed by writes and reads alone
        self.frames_in = metrics.session_frames.labels("in")
        self.frames_out = metrics.session_frames.labels("out")
        self.open_sessions: set[Session] = set()
        install_hook()

    @property
    def in_use(self) -> int:
        return self.licence.in_use

    def longest_running_s(self) -> float:
        """How long the oldest session wrapper call still running has been at it (0 when idle)."""
        starts = list(self.started.values())
        if self.inline_started is not None:
            starts.append(self.inline_started)
        return perf_counter() - min(starts) if starts else 0.0

    def run(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        """`call` on a wrapper thread, its start time kept for the stuck-call watchdog."""
        future = self.threads.run(call)
        self.started[future] = perf_counter()
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: asyncio.Future[Any]) -> None:
        self.started.pop(future, None)

    def timed(self, method: Callable[..., Any], *args: Any) -> Any:
        """A write or read on a wrapper thread, timed there for the placement: waiting for a
        thread under load is not the wrapper's time."""
        started = perf_counter()
        try:
            return method(*args)
        finally:
            self.placement.record(perf_counter() - started)

    def inline(self, method: Callable[..., Any], *args: Any) -> Any:
        """A write or read on the loop, its start kept for the watchdog (a thread, so even a
        call that hangs here is caught). What it raises is the adapter's WrapperFailed, as on
        a thread."""
        started = self.inline_started = perf_counter()
        try:
            return method(*args)
        finally:
            self.inline_started = None
            self.placement.record(perf_counter() - started)

    async def open(self, params: dict[str, str], sid: str, usr_tag: str, pers_id: int) -> Session:
        """A session whose wrapperCreate returned. Raises Overloaded at the licence and the
        wrapper's error when create fails (nothing else is then called for it)."""
        self.licence.take()
        if self.calls is None:
            session: Session = GeneratedSession(self, sid, usr_tag, params, pers_id)
        else:
            session = await self._create(self.calls, params, sid, usr_tag, pers_id)
        self.open_sessions.add(session)
        self.metrics.sessions_active.inc()
        return session

    async def _create(self, calls: StreamCalls, params: dict[str, str], sid: str, usr_tag: str,
                      pers_id: int) -> Session:
        future = self.run(functools.partial(calls.create, params, sid, usr_tag, pers_id))
        try:
            handle = await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(self._abandoned)  # destroy it if create still succeeds
            raise
        except BaseException:
            self.licence.give_back()
            raise
        return Session(self, sid, usr_tag, handle)

    def _abandoned(self, future: asyncio.Future[Any]) -> None:
        """The client left while wrapperCreate ran: destroy what it made, then free the slot."""
        if future.cancelled() or future.exception() is not None:
            self.licence.give_back()
            return
        assert self.calls is not None  # only wrapperCreate sessions are created on a thread
        done = self.run(functools.partial(_destroy_quietly, self.calls, future.result()))
        done.add_done_callback(lambda _: self.licence.give_back())

    async def close_all(self) -> None:
        """End every open session (worker shutdown), each with its wrapperDestroy."""
        self.stopping = True
        sessions = list(self.open_sessions)
        await asyncio.gather(*(s.close("shutdown") for s in sessions), return_exceptions=True)


def _destroy_quietly(calls: StreamCalls, handle: str) -> None:
    try:
        calls.destroy(handle)
    except Exception as e:
        log_raised(log, "wrapperDestroy", e, "wrapperDestroy of an abandoned session failed")

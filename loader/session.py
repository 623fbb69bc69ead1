"""One stream session: its wrapper calls in order, its results in order, its end exactly once.

`Session` serves the wrapperCreate / Write / Read / Destroy family (pulled, pushed through
callback, or both); `GeneratedSession` an `async def wrapperStream` generator. Both are made
and counted by the session engine (loader/sessions.py), whose docstring has the rules.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import aiges_embed

from loader.callbacks import Route
from loader.errors import AigesError, CallTimeout, WrapperFailed, WrapperRaised
from loader.repeats import log_raised
from loader.v1.codes import Code

if TYPE_CHECKING:
    from loader.sessions import SessionEngine

__all__ = ["GeneratedSession", "Session", "SessionClosed"]

log = logging.getLogger(__name__)

POLL_MIN_S = 0.005  # the first poll after an empty read; doubles up to POLL_MAX_S
POLL_MAX_S = 0.05
AFTER_HALF_CLOSE_S = 15.0  # the longest wait for each result once the client sent its last frame
_FINAL = (2, 3)  # an output with one of these statuses ends the session
_END = object()  # queued after the last result


class SessionClosed(AigesError):
    """The session has ended: nothing more may be written to it."""

    default_code = Code.SESSION_RELEASED


class Session:
    """One open session: `write` frames, `next` results, `close` once."""

    def __init__(self, engine: SessionEngine, sid: str, usr_tag: str, handle: str) -> None:
        self.sid = sid
        self.usr_tag = usr_tag
        self.handle = handle
        self._engine = engine
        self._calls = engine.calls
        self._loop = asyncio.get_running_loop()
        # results, then _END or the error that ended the session; one reader (the servicer)
        self._results: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None  # the reader waiting for a result
        self._turn = asyncio.Lock()  # one wrapper call at a time for this session
        self._busy: asyncio.Future[Any] | None = None  # the wrapper call running now
        self._ended = False  # no more results are delivered
        self._closing: asyncio.Task[None] | None = None
        # polling wrapperRead: a timer re-armed by every read, so while frames come faster
        # than the interval no poll runs at all (each write is followed by its own read)
        self._poll_timer: asyncio.TimerHandle | None = None
        self._poll_interval = POLL_MIN_S
        self._polling: asyncio.Task[None] | None = None  # a poll's read running now
        self._timer: asyncio.TimerHandle | None = None  # armed once the client half-closed
        self._opened = perf_counter()
        # the names a push wrapper may call back with
        self._route = Route((usr_tag, sid, handle), self.deliver)

    @property
    def ended(self) -> bool:
        return self._ended

    async def write(self, data: aiges_embed.DataListCls) -> None:
        """wrapperWrite one frame, then (pull wrappers) read what it produced."""
        calls = self._calls
        assert calls is not None
        await self._wrapper(calls.write, self.handle, data, self.sid)
        self._engine.frames_in.inc()
        if calls.has_read:
            await self._read()

    async def next(self) -> Any:
        """The next Response with outputs, or None once the session has ended normally.
        Raises the error that ended it."""
        while not self._results:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._results[0]
        if item is _END:
            return None  # left queued: every later call sees the end too
        if isinstance(item, BaseException):
            raise item
        return self._results.popleft()

    def _put(self, item: Any) -> None:
        self._results.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def fail(self, error: AigesError) -> None:
        """End the session with `error` (after the results already delivered)."""
        if not self._ended:
            self._ended = True
            self._put(error)

    def half_closed(self) -> None:
        """The client sends no more frames: each result must now come within
        AFTER_HALF_CLOSE_S, or the session ends with 10114."""
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(AFTER_HALF_CLOSE_S, self._expired)

    def _expired(self) -> None:
        self.fail(CallTimeout(f"session {self.sid}: no result within {AFTER_HALF_CLOSE_S:g} s "
                              "of the client's last frame", Code.SESSION_TIMEOUT))

    async def close(self, reason: str) -> None:
        """wrapperDestroy exactly once (after any wrapper call still running), then the licence
        slot back. Safe to call many times and from a cancelled task: the closing goes on."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._destroy(reason))
        await asyncio.shield(self._closing)

    async def _destroy(self, reason: str) -> None:
        engine = self._engine
        self._ended = True
        if self._poll_timer is not None:
            self._poll_timer.cancel()
        if self._polling is not None:
            self._polling.cancel()
        if self._timer is not None:
            self._timer.cancel()
        self._route.close()
        try:
            await self._end_wrapper()
        except Exception as e:
            log_raised(log, "wrapperDestroy", e, f"session {self.sid}: wrapperDestroy failed")
        finally:
            engine.licence.give_back()
            engine.open_sessions.discard(self)
            engine.metrics.sessions_active.dec()
            engine.metrics.session_ends.labels(reason).inc()
            engine.metrics.session_duration.observe(perf_counter() - self._opened)

    async def _end_wrapper(self) -> None:
        if self._busy is not None and not self._busy.done():
            await asyncio.wait([self._busy])  # the wrapper is still in a call for this session
        assert self._calls is not None
        await self._engine.run(functools.partial(self._calls.destroy, self.handle))

    async def _wrapper(self, method: Callable[..., Any], *args: Any) -> Any:
        """One write or read of this session, after any of its calls still on a thread."""
        engine = self._engine
        if engine.placement.inline() and not self._turn.locked():
            if self._closing is not None:
                raise SessionClosed(f"session {self.sid} has ended")
            return engine.inline(method, *args)  # nothing of this session can interleave
        async with self._turn:
            if self._closing is not None:
                raise SessionClosed(f"session {self.sid} has ended")
            self._busy = engine.run(functools.partial(engine.timed, method, *args))
            # shielded: a cancelled caller leaves the call running; _destroy waits for it
            return await asyncio.shield(self._busy)

    async def _read(self, polled: bool = False) -> bool:
        """One wrapperRead (after a write, or `polled` by the timer); whether it produced
        anything. The poll interval starts at POLL_MIN_S, doubles after each empty poll up to
        POLL_MAX_S and starts again after a poll that produced something."""
        assert self._calls is not None
        produced = self.deliver(await self._wrapper(self._calls.read, self.handle, self.sid))
        if polled:
            self._poll_interval = (POLL_MIN_S if produced
                                   else min(self._poll_interval * 2, POLL_MAX_S))
        self._schedule_poll()
        return produced

    def _schedule_poll(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.cancel()
        self._poll_timer = (None if self._ended else
                            self._loop.call_later(self._poll_interval, self._poll_due))

    def _poll_due(self) -> None:
        self._poll_timer = None
        if not self._ended and self._polling is None:
            self._polling = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        try:
            await self._read(polled=True)
        except SessionClosed:
            pass
        except AigesError as error:
            self.fail(error)
        finally:
            self._polling = None

    def deliver(self, response: Any) -> bool:
        """Queue one wrapper result (on the loop thread); whether it carried outputs."""
        if self._ended or response is None:
            return False
        code = int(getattr(response, "error_code", 0) or 0)
        if code:
            text = self._engine.error_text(code)
            self.fail(WrapperFailed(text or f"the session's wrapper reported error {code}",
                                    code))
            return True
        outputs = list(getattr(response, "list", None) or ())
        if not outputs:
            return False  # a placeholder: nothing yet
        self._put(response)
        if self._timer is not None:
            self._arm()
        self._engine.frames_out.inc()
        if any(int(getattr(out, "status", 0) or 0) in _FINAL for out in outputs):
            self._ended = True
            self._put(_END)
        return True


class GeneratedSession(Session):
    """A session of an `async def wrapperStream(params, frames)` async generator: it runs on
    the loop (like an `async def wrapperOnceExec`), takes each frame from `frames` (an async
    iterator of DataListCls, ending when the client sends its last), and each Response it
    yields is a result. Ending the session closes the generator (its `finally` runs)."""

    def __init__(self, engine: SessionEngine, sid: str, usr_tag: str, params: dict[str, str],
                 pers_id: int) -> None:
        super().__init__(engine, sid, usr_tag, sid)
        # a few frames ahead of the generator at most: beyond that write() waits, and so does
        # the client's stream (gRPC flow control)
        self._frames: asyncio.Queue[Any] = asyncio.Queue(maxsize=4)
        assert engine.generator is not None
        results = engine.generator(params, self._frame_stream(), sid, usr_tag, pers_id)
        self._task = asyncio.create_task(self._pump(results))

    async def write(self, data: aiges_embed.DataListCls) -> None:
        if self._closing is not None or self._task.done():
            raise SessionClosed(f"session {self.sid} has ended")
        await self._frames.put(data)
        self._engine.frames_in.inc()

    def half_closed(self) -> None:
        super().half_closed()
        self._frames.put_nowait(_END)  # never blocks long: the queue holds a few at most

    async def _frame_stream(self) -> Any:
        while (frame := await self._frames.get()) is not _END:
            yield frame

    async def _pump(self, results: Any) -> None:
        try:
            async for response in results:
                self.deliver(response)
                if self.ended:
                    break
            if not self.ended:  # it returned without a final result: the session is complete
                self._ended = True
                self._put(_END)
        except Exception as e:
            log_raised(log, "wrapperStream", e)
            self.fail(WrapperRaised("wrapperStream", e, Code.WRAPPER_READ))
        finally:
            await results.aclose()

    async def _end_wrapper(self) -> None:
        self._task.cancel()
        await asyncio.wait([self._task])



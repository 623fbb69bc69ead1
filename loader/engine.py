"""Once-call engine: wrapperOnceExec under the licence, inline or on a thread, to a deadline.

A wrapper with only wrapperOnceExecAsync is called on a wrapper thread with a usrTag of the
call's own; the call then waits for the wrapper's `callback(resp, usrTag)` (from any thread,
naming that usrTag or the sid) until the deadline, holding its licence slot meanwhile.

A call whose deadline passes or whose client cancels is abandoned: its licence slot comes back
at once (see loader.licence for the bound on abandoned calls still running), it is counted in
athena_loader_abandoned_calls_total{reason}, and the wrapper, which cannot be interrupted, can
see it through `cancelled()` and stop early.

It also keeps the start times the stuck-call watchdog reads. It knows no transport: the gRPC
servicer parses and serialises around it, and the session engine sits beside it, sharing
the licence: a worker's [fc] max bounds its calls and sessions together.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import threading
import uuid
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from loader.callbacks import Route, install_hook, is_free
from loader.errors import CallTimeout, WrapperFailed, WrapperRaised
from loader.licence import Licence
from loader.metrics import LoaderMetrics
from loader.placement import Placement
from loader.plugin import Plugin
from loader.repeats import log_raised
from loader.threads import WrapperThreads
from loader.v1.codes import Code

__all__ = ["OnceEngine", "cancelled"]

log = logging.getLogger(__name__)

# the servicer reads the call's time remaining a moment before the engine starts its clock
_DEADLINE_SLACK_S = 0.05

_cancel: ContextVar[threading.Event | None] = ContextVar("athena_cancel", default=None)


def cancelled() -> bool:
    """Inside a wrapperOnceExec call: whether its client has given up on it (deadline passed
    or call cancelled). Nothing waits for its answer then; a long wrapper may check this
    between steps and return early. False outside a call."""
    event = _cancel.get()
    return event is not None and event.is_set()


class OnceEngine:
    def __init__(self, plugin: Plugin, licence: Licence, inline_under_ms: float,
                 metrics: LoaderMetrics, threads: WrapperThreads) -> None:
        once = plugin.once or plugin.once_by_callback
        if once is None:
            raise ValueError(f"{plugin.name} has no wrapperOnceExec")
        self._once = once
        self._by_callback = plugin.once is None
        self._error_text = plugin.error_text
        self._is_async = plugin.once_is_async
        self._metrics = metrics
        self._threads = threads
        self._licence = licence
        self._started: dict[asyncio.Future[Any], float] = {}  # wrapper calls running now
        self._inline_started: float | None = None  # a call running inline on the loop now
        self._placement = Placement(inline_under_ms / 1000)
        self._in_flight = metrics.wrapper_in_flight.labels("once")
        self._duration = metrics.wrapper_duration.labels("once")
        self._abandoned = metrics.abandoned_calls
        metrics.abandoned_running.set_function(lambda: licence.abandoned)
        if self._by_callback:
            install_hook()

    @property
    def in_use(self) -> int:
        """Licensed instances busy now (an abandoned call gives its one back at once)."""
        return self._licence.in_use

    @property
    def abandoned_running(self) -> int:
        """Calls given up on whose wrapper has not returned yet."""
        return self._licence.abandoned

    def longest_running_s(self) -> float:
        """How long the oldest wrapper call still running has been at it (0 when idle).
        Read from the watchdog thread: list() copies the values without releasing the GIL."""
        starts = list(self._started.values())
        if self._inline_started is not None:
            starts.append(self._inline_started)
        return perf_counter() - min(starts) if starts else 0.0

    async def run(self, params: dict[str, str], data: Any, usr_tag: str, pers_id: int,
                  timeout: float | None) -> Any:
        """The wrapper's Response. Raises Overloaded at the licence, CallTimeout past the
        deadline, WrapperFailed when the wrapper raises."""
        self._licence.take()
        if self._by_callback:
            return await self._run_by_callback(params, data, usr_tag, pers_id, timeout)
        if not self._is_async and self._placement.inline():
            return self._run_inline(params, data, usr_tag, pers_id)
        self._in_flight.inc()
        started = perf_counter()
        event = threading.Event()
        abandoned = False
        if self._is_async:
            token = _cancel.set(event)  # the task copies this context as it is created
            future: asyncio.Future[Any] = asyncio.ensure_future(
                self._once(params, data, usr_tag, pers_id))
            _cancel.reset(token)
        else:
            future = self._threads.run(
                functools.partial(self._timed, event, params, data, usr_tag, pers_id))

        def finished(_: asyncio.Future[Any]) -> None:
            if abandoned:
                self._licence.abandoned_returned()
            else:
                self._licence.give_back()
            self._started.pop(future, None)
            self._in_flight.dec()
            self._duration.observe(perf_counter() - started)

        self._started[future] = started
        future.add_done_callback(finished)
        try:
            return await _outcome(future, timeout)
        except TimeoutError:
            abandoned = self._give_up(future, event, "deadline")
            raise CallTimeout(
                f"wrapperOnceExec did not answer within the {timeout:.3g} s deadline"
            ) from None
        except asyncio.CancelledError:
            # grpc cancels the call itself when its deadline passes, and may do so before
            # our own timer fires: that is still the deadline, not the client cancelling
            late = timeout is not None and perf_counter() - started >= timeout - _DEADLINE_SLACK_S
            abandoned = self._give_up(future, event, "deadline" if late else "cancelled")
            raise
        except Exception as e:
            raise _failed(e) from None

    def _give_up(self, future: asyncio.Future[Any], event: threading.Event, reason: str) -> bool:
        """The client is gone: tell the wrapper, and hand the slot back now unless the call is
        a coroutine (cancelled, it hands it back itself) or too many are abandoned already.
        Whether the slot was handed back."""
        self._abandoned.labels(reason).inc()
        event.set()
        if self._is_async:
            future.cancel()
            return False
        return not future.done() and self._licence.abandon()

    async def _run_by_callback(self, params: dict[str, str], data: Any, usr_tag: str,
                               pers_id: int, timeout: float | None) -> Any:
        """wrapperOnceExecAsync, then its callback. The usrTag is the client's when no other
        open work has it, else the sid, else a fresh one: a callback must name one call."""
        sid = params.get("sid", "")
        tag = next((t for t in (usr_tag, sid) if t and is_free(t)), f"atn{uuid.uuid4().hex}")
        result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def receive(response: Any) -> None:
            if not result.done():
                result.set_result(response)

        route = Route((tag, sid), receive)
        self._in_flight.inc()
        started = perf_counter()
        self._started[result] = started  # the watchdog counts the wait for the callback too
        try:
            call = self._threads.run(functools.partial(self._once, params, data, tag, pers_id))
            try:
                code = await _outcome(call, timeout)
            except TimeoutError:
                self._abandoned.labels("deadline").inc()
                raise CallTimeout(f"wrapperOnceExecAsync did not return within the "
                                  f"{timeout:.3g} s deadline") from None
            except Exception as e:
                log_raised(log, "wrapperOnceExecAsync", e)
                raise WrapperRaised("wrapperOnceExecAsync", e, Code.WRAPPER_EXEC_ASYNC) from None
            if isinstance(code, int) and not isinstance(code, bool) and code != 0:
                raise WrapperFailed(self._error_text(code), code)
            remaining = None if timeout is None else timeout - (perf_counter() - started)
            try:
                return await _outcome(result, remaining)
            except TimeoutError:
                self._abandoned.labels("deadline").inc()
                raise CallTimeout(
                    f"wrapperOnceExecAsync's callback(resp, usrTag={tag!r}) did not come within "
                    f"the {timeout:.3g} s deadline") from None
        finally:
            # a late callback is dropped (logged): nothing waits for it any more
            route.close()
            self._started.pop(result, None)
            self._licence.give_back()
            self._in_flight.dec()
            self._duration.observe(perf_counter() - started)

    def _timed(self, event: threading.Event, *args: Any) -> Any:
        """The call itself, timed where it runs: waiting for a thread under load is not the
        wrapper's time, and counting it would keep a busy worker off the inline path."""
        started = perf_counter()
        token = _cancel.set(event)
        try:
            return self._once(*args)
        finally:
            _cancel.reset(token)
            self._placement.record(perf_counter() - started)

    def _run_inline(self, *args: Any) -> Any:
        """The call on the event loop, with no future around it: nothing else runs until it
        returns, so its licence is back before the next call, and the in-flight gauge, which
        no scrape could catch mid-call, is left alone."""
        started = self._inline_started = perf_counter()
        try:
            return self._once(*args)
        except Exception as e:  # StopIteration included: it never reaches a future here
            raise _failed(e) from None
        finally:
            elapsed = perf_counter() - started
            self._inline_started = None
            self._placement.record(elapsed)
            self._licence.give_back()
            self._duration.observe(elapsed)


def _failed(error: Exception) -> WrapperFailed:
    log_raised(log, "wrapperOnceExec", error)
    return WrapperRaised("wrapperOnceExec", error, Code.WRAPPER_EXEC)


async def _outcome(future: asyncio.Future[Any], timeout: float | None) -> Any:
    """The wrapper's result, waiting at most `timeout`; giving up (or being cancelled) leaves
    the call itself running, as asyncio.wait_for(shield(...)) would, at a third of its cost."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: object) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    timer = loop.call_later(max(timeout, 0.0), wake, None) if timeout is not None else None
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        future.remove_done_callback(wake)
    if not future.done():
        raise TimeoutError
    return future.result()

"""Once-call engine: wrapperOnceExec under the licence, inline or on a thread, to a deadline.

It also keeps the start times the stuck-call watchdog reads. It knows no transport: the gRPC
servicer parses and serialises around it, and the sessions engine will sit beside it.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from time import perf_counter
from typing import Any

from loader.errors import CallTimeout, WrapperFailed
from loader.licence import Licence
from loader.metrics import LoaderMetrics
from loader.placement import Placement
from loader.plugin import Plugin
from loader.threads import WrapperThreads, settleable
from loader.v1.codes import Code

__all__ = ["OnceEngine"]

log = logging.getLogger(__name__)


class OnceEngine:
    def __init__(self, plugin: Plugin, licence: int, inline_under_ms: float,
                 metrics: LoaderMetrics, threads: WrapperThreads) -> None:
        if plugin.once is None:
            raise ValueError(f"{plugin.name} has no wrapperOnceExec")
        self._once = plugin.once
        self._is_async = plugin.once_is_async
        self._metrics = metrics
        self._threads = threads
        self._licence = Licence(licence)
        self._started: dict[asyncio.Future[Any], float] = {}  # wrapper calls running now
        self._inline_started: float | None = None  # a call running inline on the loop now
        self._placement = Placement(inline_under_ms / 1000)
        self._in_flight = metrics.wrapper_in_flight.labels("once")
        self._duration = metrics.wrapper_duration.labels("once")
        metrics.licence.set(licence)

    @property
    def in_use(self) -> int:
        """Licensed instances busy now (a call past its deadline keeps one until it returns)."""
        return self._licence.in_use

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
        self._in_flight.inc()
        started = perf_counter()
        if self._is_async:
            future: asyncio.Future[Any] = asyncio.ensure_future(
                self._once(params, data, usr_tag, pers_id))
        else:
            call = functools.partial(self._timed, params, data, usr_tag, pers_id)
            future = self._run_inline(call, started) if self._placement.inline() \
                else self._threads.run(call)

        def finished(_: asyncio.Future[Any]) -> None:
            # the instance is busy until the wrapper really returns, even after a timeout
            self._licence.give_back()
            self._started.pop(future, None)
            self._in_flight.dec()
            self._duration.observe(perf_counter() - started)

        if future.done():  # ran inline: give the instance back now, not on a later loop turn
            finished(future)
        else:
            self._started[future] = started
            future.add_done_callback(finished)
        try:
            return await _outcome(future, timeout)
        except TimeoutError:
            if self._is_async:
                future.cancel()
            raise CallTimeout(
                f"wrapperOnceExec did not answer within the {timeout:.3g} s deadline"
            ) from None
        except asyncio.CancelledError:
            if self._is_async:
                future.cancel()
            raise
        except Exception as e:
            log.exception("wrapperOnceExec raised")
            raise WrapperFailed(
                f"wrapperOnceExec raised {type(e).__name__}: {e}", Code.WRAPPER_EXEC
            ) from None

    def _timed(self, *args: Any) -> Any:
        """The call itself, timed where it runs: waiting for a thread under load is not the
        wrapper's time, and counting it would keep a busy worker off the inline path."""
        started = perf_counter()
        try:
            return self._once(*args)
        finally:
            self._placement.record(perf_counter() - started)

    def _run_inline(self, call: Callable[[], Any], started: float) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inline_started = started
        try:
            future.set_result(call())
        except Exception as error:  # reported like a threaded call's failure
            future.set_exception(settleable(error))
        finally:
            self._inline_started = None
        return future


async def _outcome(future: asyncio.Future[Any], timeout: float | None) -> Any:
    """The wrapper's result, waiting at most `timeout`; giving up (or being cancelled) leaves
    the call itself running, as asyncio.wait_for(shield(...)) would, at a third of its cost."""
    if future.done():  # ran inline
        return future.result()
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: object) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    timer = loop.call_later(timeout, wake, None) if timeout is not None else None
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        future.remove_done_callback(wake)
    if not future.done():
        raise TimeoutError
    return future.result()

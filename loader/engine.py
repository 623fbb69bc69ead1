"""Once-call engine: wrapperOnceExec under the licence, inline or on a thread, to a deadline.

It also keeps the start times the stuck-call watchdog reads. It knows no transport: the gRPC
servicer parses and serialises around it, and the sessions engine will sit beside it.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from time import perf_counter
from typing import Any

from loader.errors import CallTimeout, WrapperFailed
from loader.licence import Licence
from loader.metrics import LoaderMetrics
from loader.placement import Placement
from loader.plugin import Plugin
from loader.threads import WrapperThreads
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
        if not self._is_async and self._placement.inline():
            return self._run_inline(params, data, usr_tag, pers_id)
        self._in_flight.inc()
        started = perf_counter()
        future: asyncio.Future[Any] = (
            asyncio.ensure_future(self._once(params, data, usr_tag, pers_id)) if self._is_async
            else self._threads.run(functools.partial(self._timed, params, data, usr_tag, pers_id))
        )

        def finished(_: asyncio.Future[Any]) -> None:
            # the instance is busy until the wrapper really returns, even after a timeout
            self._licence.give_back()
            self._started.pop(future, None)
            self._in_flight.dec()
            self._duration.observe(perf_counter() - started)

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
            raise _failed(e) from None

    def _timed(self, *args: Any) -> Any:
        """The call itself, timed where it runs: waiting for a thread under load is not the
        wrapper's time, and counting it would keep a busy worker off the inline path."""
        started = perf_counter()
        try:
            return self._once(*args)
        finally:
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
    log.error("wrapperOnceExec raised", exc_info=error)
    return WrapperFailed(f"wrapperOnceExec raised {type(error).__name__}: {error}",
                         Code.WRAPPER_EXEC)


async def _outcome(future: asyncio.Future[Any], timeout: float | None) -> Any:
    """The wrapper's result, waiting at most `timeout`; giving up (or being cancelled) leaves
    the call itself running, as asyncio.wait_for(shield(...)) would, at a third of its cost."""
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

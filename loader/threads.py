"""Wrapper threads: where synchronous wrapper calls run, off the event loop.

A lean replacement for loop.run_in_executor(ThreadPoolExecutor): the call and its asyncio
future go through one SimpleQueue and come back with one call_soon_threadsafe, without the
concurrent.futures.Future and the future chaining in between. That hop is most of what a
worker adds to a small call, so it is worth its few lines.
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

__all__ = ["WrapperThreads", "settleable"]

_Job = tuple[asyncio.Future[Any], Callable[[], Any]] | None


class WrapperThreads:
    """Up to `size` threads, started as calls need them and kept for the next ones."""

    def __init__(self, size: int, name: str = "wrapper") -> None:
        self._size = size
        self._name = name
        self._jobs: SimpleQueue[_Job] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def run(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run `call` on a wrapper thread; the returned future completes on the caller's loop."""
        if self._closed:
            raise RuntimeError("the wrapper threads are shut down")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._idle:
                self._idle -= 1  # an idle thread takes this call
            elif len(self._threads) < self._size:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._name}-{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
        self._jobs.put((future, call))
        return future

    def shutdown(self) -> None:
        """Threads finish the call they are in (it cannot be interrupted), then exit."""
        self._closed = True
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, call = job
            try:
                result, error = call(), None
            except BaseException as raised:  # handed to the awaiting coroutine, not lost
                result, error = None, raised
            with self._lock:
                # idle before the answer leaves: a call made the moment this one returns
                # then takes this thread instead of starting another
                self._idle += 1
            _settle(future, result, error)


def settleable(error: BaseException) -> BaseException:
    """An exception an asyncio future can hold: it refuses StopIteration (PEP 479), which a
    wrapper raises by calling next() on an empty iterator; that would leave its caller waiting
    for ever."""
    if isinstance(error, StopIteration):
        wrapped = RuntimeError(f"the wrapper raised StopIteration({error})")
        wrapped.__cause__ = error
        return wrapped
    return error


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    def settle() -> None:
        if future.done():  # cancelled while the wrapper ran
            return
        if error is not None:
            future.set_exception(settleable(error))
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop closed while the wrapper ran
        future.get_loop().call_soon_threadsafe(settle)

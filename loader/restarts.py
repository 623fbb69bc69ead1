"""Restarts: the backoff rules for child processes that exit, and the watch that applies them,
one task per child, so each restarts on its own clock.

Used by the worker supervisor (loader/supervisor.py) and the gateway process group
(gateway/processes.py). A child that exits is replaced after its backoff: FIRST_BACKOFF_S,
doubling with each exit in a row up to MAX_BACKOFF_S; one that served HEALTHY_S before it
exited starts over at FIRST_BACKOFF_S. An exit code in `at_once` (a worker that drained at its
recycling limit) is replaced with no backoff and leaves the streak alone. Several children
that exit together all wait out their own backoff at the same time, not one after another.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["FIRST_BACKOFF_S", "HEALTHY_S", "MAX_BACKOFF_S", "Child", "RestartPolicy",
           "Restarter"]

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
HEALTHY_S = 60.0  # a child that served this long before it exited starts its backoff over


@dataclass(frozen=True)
class RestartPolicy:
    first_s: float = FIRST_BACKOFF_S
    max_s: float = MAX_BACKOFF_S
    healthy_s: float = HEALTHY_S

    def backoff(self, streak: int) -> float:
        """The wait before restart number `streak` + 1 of an unbroken run of exits."""
        return min(self.max_s, self.first_s * 2**streak)


class Child(Protocol):
    """What the watch needs of a child: the process it runs now (set by its spawn)."""

    @property
    def process(self) -> asyncio.subprocess.Process | None: ...


C = TypeVar("C", bound=Child)


@dataclass
class _Run:
    streak: int = 0  # exits since it last served policy.healthy_s: the backoff's exponent
    serving_since: float = 0.0


class Restarter(Generic[C]):
    """Watches `children` once started. When one exits with `code`, `exited(child, code,
    backoff)` runs (log it, count it; backoff is 0.0 for a code in `at_once`), then after the
    backoff `respawn(child)`, which must not raise for a child that fails to start again: its
    process has exited by then, so the watch sees it and backs off further."""

    def __init__(self, children: Sequence[C], respawn: Callable[[C], Awaitable[None]],
                 exited: Callable[[C, int, float], None],
                 policy: RestartPolicy | None = None, at_once: Collection[int] = ()) -> None:
        self.policy = policy or RestartPolicy()
        self._children = list(children)
        self._respawn = respawn
        self._exited = exited
        self._at_once = frozenset(at_once)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start watching every child (each already spawned)."""
        self._tasks = [asyncio.create_task(self._watch(child)) for child in self._children]

    async def stop(self) -> None:
        """Stop watching: nothing exited from now on is restarted (a respawn under way is
        cancelled; its process, if it has one yet, is the caller's to stop)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _watch(self, child: C) -> None:
        loop = asyncio.get_running_loop()
        run = _Run(serving_since=loop.time())
        while (process := child.process) is not None:
            code = await process.wait()
            if code in self._at_once:
                backoff = 0.0
            else:
                if loop.time() - run.serving_since > self.policy.healthy_s:
                    run.streak = 0
                backoff = self.policy.backoff(run.streak)
                run.streak += 1
            self._exited(child, code, backoff)
            await asyncio.sleep(backoff)
            try:
                await self._respawn(child)
            except Exception:  # a bug in one respawn must not end this child's watch
                log.exception("restarting a child process failed")
            run.serving_since = loop.time()

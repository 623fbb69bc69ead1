"""Restarts (loader/restarts.py) through a real Supervisor and real worker processes: workers
that crash together are restarted together, each after its own backoff, and a worker that
served the healthy period starts its backoff over."""
from __future__ import annotations

import asyncio
import logging
import os
import re
import signal

import pytest

from loader.restarts import HEALTHY_S, RestartPolicy
from loader.supervisor import Supervisor, WorkerSpec
from tests.loader.test_supervisor import ECHO, echo, pids
from tests.support import pid_alive


def test_the_backoff_doubles_up_to_its_cap_and_the_healthy_period_is_a_minute() -> None:
    policy = RestartPolicy()
    assert [policy.backoff(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert policy.healthy_s == HEALTHY_S == 60.0


class Restarts:
    """Counts the supervisor's restarts as they finish (its on_restart hook)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.done = 0
        self._changed = asyncio.Event()
        supervisor.on_restart = self._one

    def _one(self) -> None:
        self.done += 1
        self._changed.set()

    async def reach(self, count: int, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while self.done < count:
                self._changed.clear()
                await self._changed.wait()


def backoffs(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [float(m[1]) for r in caplog.records
            if (m := re.search(r"restarting in ([\d.]+) s", r.getMessage()))]


async def _stopped(supervisor: Supervisor, seen: set[int]) -> None:
    seen.update(pids(supervisor))
    await supervisor.stop()
    for pid in seen:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


async def test_workers_killed_together_all_wait_their_backoff_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "loader.supervisor")
    supervisor = Supervisor([WorkerSpec(ECHO)], 3, ready_timeout_s=60)
    seen: set[int] = set()
    try:
        await supervisor.start()
        restarts = Restarts(supervisor)
        addresses = supervisor.addresses
        killed = pids(supervisor)
        seen.update(killed)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        await restarts.reach(3)
        replies = [await echo(a, f"back {a}") for a in addresses]
        seen.update(pids(supervisor))
    finally:
        await _stopped(supervisor, seen)
    messages = [r.getMessage() for r in caplog.records]
    exits = [i for i, m in enumerate(messages) if "restarting in" in m]
    readies = [i for i, m in enumerate(messages) if " ready on " in m][3:]  # after the first 3
    assert len(exits) == 3 and len(readies) == 3
    assert max(exits) < min(readies)  # every crash was seen before any worker was back
    assert backoffs(caplog) == [0.5, 0.5, 0.5]  # each its own first backoff, none queued
    assert replies == [f"back {a}".encode() for a in addresses]
    assert supervisor.addresses == addresses


async def test_a_worker_that_served_the_healthy_period_starts_its_backoff_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "loader.supervisor")
    healthy_s = 3.0
    supervisor = Supervisor([WorkerSpec(ECHO)], 1, ready_timeout_s=60,
                            policy=RestartPolicy(healthy_s=healthy_s))
    seen: set[int] = set()
    try:
        await supervisor.start()
        restarts = Restarts(supervisor)
        for round_, pause_s in enumerate((0.0, 0.0, 0.0, healthy_s + 0.5), start=1):
            await asyncio.sleep(pause_s)
            pid = pids(supervisor)[0]
            seen.add(pid)
            os.kill(pid, signal.SIGKILL)
            await restarts.reach(round_)
        answer = await echo(supervisor.addresses[0], "still here")
        seen.update(pids(supervisor))
    finally:
        await _stopped(supervisor, seen)
    # three crashes in a row double the backoff; after a healthy run it is the first again
    assert backoffs(caplog) == [0.5, 1.0, 2.0, 0.5]
    assert answer == b"still here"

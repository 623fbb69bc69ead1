"""Parallel restarts through real processes: three workers of `athena serve wrappers/echo
--workers 3` SIGKILLed at once are all restarted together, each after its own first backoff,
not one after another, and serve again on the ports they had."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import aiohttp

from tests.support import ROOT, aiges_body, pid_alive, serve, text_item

ECHO = ROOT / "wrappers" / "echo" / "wrapper.py"
_READY = re.compile(r"worker echo#(\d+) \(pid (\d+)\) ready on (\S+)")


def _ready_lines(log: str) -> list[tuple[int, int, str]]:
    return [(int(m[1]), int(m[2]), m[3]) for m in _READY.finditer(log)]


async def _echo_once_back(base: str, count: int) -> list[int]:
    """`count` calls once the gateway takes calls again (its health checks have seen a
    restarted worker serving)."""
    body = aiges_body("echo", {"text": text_item("hello")})
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        async def status() -> int:
            async with client.post(base + "/v1/private/echo", json=body) as response:
                return response.status

        async with asyncio.timeout(30):
            while await status() != 200:
                await asyncio.sleep(0.1)
        return [await status() for _ in range(count)]


def test_three_workers_killed_at_once_are_all_back_within_one_backoff_not_three(
    tmp_path: Path,
) -> None:
    with serve(tmp_path, [ECHO], "--workers", "3") as stack:
        killed = [int(w["pid"]) for w in stack.workers]
        started = time.monotonic()
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        deadline = started + 60
        while len(_ready_lines(stack.log_text())) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        took = time.monotonic() - started
        log = stack.log_text()
        statuses = asyncio.run(_echo_once_back(stack.base, 6))
    print(f"3 workers killed at once: all serving again {took:.2f} s later")
    ready = _ready_lines(log)
    assert len(ready) == 6, log[-3000:]
    restarted = ready[3:]
    assert sorted(i for i, _, _ in restarted) == [0, 1, 2]
    assert not set(killed) & {pid for _, pid, _ in restarted}
    assert {a for _, _, a in restarted} == {a for _, _, a in ready[:3]}  # on the ports they had
    # each waited its own first backoff, and every crash was handled before any worker was
    # back: nothing waited behind another's backoff and start
    assert re.findall(r"exited with code -9; restarting in ([\d.]+) s", log) == ["0.5"] * 3
    last_exit = max(m.end() for m in re.finditer("exited with code -9", log))
    first_back = min(m.start() for m in _READY.finditer(log) if int(m[2]) not in killed)
    assert last_exit < first_back
    assert statuses == [200] * 6
    assert not any(pid_alive(pid) for pid in killed)

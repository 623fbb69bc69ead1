"""Chaos through real processes: `athena serve` with 3 workers of echo and 3 of stream_echo,
CHAOS_SECONDS (default 30) of concurrent HTTP calls and WebSocket sessions while random
workers are killed (SIGKILL, the supervisor restarts them) or frozen (SIGSTOP, SIGCONT a few
seconds later). Every call succeeds, or fails with 502/10109 (its worker died under it) or
504/10102 (its worker froze under it: the gateway's deadline ends it); none hangs past its
deadline; every session ends with its last result (status 2) or one error frame (10109 for
a worker lost, 10114 for one frozen past the session timeout); afterwards every worker is
healthy again and a final round of calls and sessions all succeed.

At most one worker of each ability is disturbed at a time (killed within the last few
seconds, or frozen), so the other two always serve: a 503 (no worker) would be a failure."""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.support import (
    ABILITIES,
    ROOT,
    Stack,
    aiges_body,
    echo_frame,
    pid_alive,
    serve,
    text_item,
)

ECHO = ROOT / "wrappers" / "echo" / "wrapper.py"
STREAM_ECHO = ABILITIES / "stream_echo" / "wrapper.py"
SECONDS = float(os.environ.get("CHAOS_SECONDS", "30"))
DEADLINE_S = 3.0  # [gateway] timeout_s: a call on a frozen worker ends at this
SESSION_TIMEOUT_S = 6.0  # [ws] sessionTimeout: a session on a frozen worker ends at this
MARGIN_S = 5.0  # past its deadline plus this, a call or session hung
CALLERS, SESSIONS = 4, 2
SETTINGS = {"ATHENA_GATEWAY_TIMEOUT_S": str(DEADLINE_S),
            "ATHENA_GATEWAY_WS_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S),
            "ATHENA_GATEWAY_HEALTH_INTERVAL_S": "0.2"}
ALLOWED_FAILURES = {(502, 10109), (504, 10102)}
ALLOWED_SESSION_ERRORS = {10109, 10114}


def workers_of(serve_pid: int) -> dict[int, str]:
    """The serve process's worker children (pid -> ability), from /proc."""
    found = {}
    for task in Path(f"/proc/{serve_pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except FileNotFoundError:
                continue
            if b"stream_echo" in cmdline:
                found[child] = "stream_echo"
            elif b"echo" in cmdline:
                found[child] = "echo"
    return found


@dataclass
class Chaos:
    kills: int = 0
    freezes: int = 0
    frozen: set[int] = field(default_factory=set)
    disturbed: dict[str, float] = field(default_factory=dict)  # ability -> quiet again at

    async def run(self, serve_pid: int, until: float) -> None:
        rng = random.Random(12)
        while time.monotonic() < until - 3:
            await asyncio.sleep(rng.uniform(0.8, 1.6))
            now = time.monotonic()
            calm = [(pid, ability) for pid, ability in workers_of(serve_pid).items()
                    if self.disturbed.get(ability, 0) < now and pid not in self.frozen]
            if not calm:
                continue
            pid, ability = rng.choice(calm)
            if rng.random() < 0.5:
                os.kill(pid, signal.SIGKILL)
                self.kills += 1
                self.disturbed[ability] = now + 4.0  # its restart and readmission
            else:
                os.kill(pid, signal.SIGSTOP)
                self.freezes += 1
                self.frozen.add(pid)
                held = rng.uniform(2.0, 4.0)
                self.disturbed[ability] = now + held + 2.0
                asyncio.get_running_loop().call_later(held, self.thaw, pid)

    def thaw(self, pid: int) -> None:
        if pid in self.frozen:
            self.frozen.discard(pid)
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def thaw_all(self) -> None:
        for pid in list(self.frozen):
            self.thaw(pid)


async def call(client: aiohttp.ClientSession, base: str, text: str) -> tuple[int, int]:
    """(HTTP status, AIGES code); (0, 0) when no answer came within its deadline + margin."""
    try:
        async with asyncio.timeout(DEADLINE_S + MARGIN_S):
            async with client.post(f"{base}/v1/private/echo",
                                   json=aiges_body("echo", {"text": text_item(text)})) as response:
                reply = await response.json()
                if response.status == 200:
                    assert reply["payload"]["text"]["text"] == text, reply
                return response.status, int(reply["header"]["code"])
    except TimeoutError:
        return 0, 0


async def session(client: aiohttp.ClientSession, base: str) -> str:
    """How a three-frame session ended: "ok", "error <code>", "hung" or "no end"."""
    frames = [echo_frame("a", 0, first=True), echo_frame("b", 1), echo_frame("c", 2)]
    received = []
    try:
        async with asyncio.timeout(SESSION_TIMEOUT_S + MARGIN_S):
            async with client.ws_connect(f"{base}/v1/private/stream_echo") as ws:
                for frame in frames:
                    if ws.closed:
                        break
                    await ws.send_str(json.dumps(frame))
                    await asyncio.sleep(0.05)
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.TEXT:
                        received.append(json.loads(message.data))
    except TimeoutError:
        return "hung"
    except aiohttp.ClientError as error:
        return f"client error {type(error).__name__}"
    if not received:
        return "no end"
    header = received[-1]["header"]
    if header["code"] == 0:
        return "ok" if header["status"] == 2 else f"ended status {header['status']}"
    assert header["message"], header
    return f"error {header['code']}"


async def load(base: str, seconds: float, serve_pid: int, chaos: Chaos
               ) -> tuple[Counter[tuple[int, int]], Counter[str]]:
    calls: Counter[tuple[int, int]] = Counter()
    sessions: Counter[str] = Counter()
    until = time.monotonic() + seconds
    async with aiohttp.ClientSession() as client:
        async def caller(n: int) -> None:
            i = 0
            while time.monotonic() < until:
                i += 1
                calls[await call(client, base, f"c{n}-{i}")] += 1

        async def sessioner() -> None:
            while time.monotonic() < until:
                sessions[await session(client, base)] += 1

        try:
            await asyncio.gather(chaos.run(serve_pid, until),
                                 *(caller(n) for n in range(CALLERS)),
                                 *(sessioner() for _ in range(SESSIONS)))
        finally:
            chaos.thaw_all()
    return calls, sessions


async def all_serving(base: str, count: int, within: float = 60.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as client:
        while True:
            async with client.get(f"{base}/readyz") as response:
                workers = (await response.json())["workers"]
            if len(workers) == count and all(w["healthy"] for w in workers):
                return list(workers)
            assert time.monotonic() < deadline, workers
            await asyncio.sleep(0.2)


async def final_round(base: str) -> tuple[list[tuple[int, int]], list[str]]:
    """30 calls, 8 at a time (a 30-wide burst would meet 3 workers' licences, 429), and 6
    sessions."""
    calls: list[tuple[int, int]] = []
    async with aiohttp.ClientSession() as client:
        for start in range(0, 30, 8):
            calls += await asyncio.gather(*(call(client, base, f"final{i}")
                                            for i in range(start, min(start + 8, 30))))
        sessions = await asyncio.gather(*(session(client, base) for _ in range(6)))
    return calls, list(sessions)


def test_kill_and_freeze_random_workers_under_mixed_load_loses_only_their_calls(
        tmp_path: Path) -> None:
    chaos = Chaos()
    with serve(tmp_path, [ECHO, STREAM_ECHO], "--workers", "3", env=SETTINGS) as stack:
        try:
            run(stack, chaos)
        finally:
            chaos.thaw_all()  # a frozen worker could not drain when serve stops


def run(stack: Stack, chaos: Chaos) -> None:
    asyncio.run(all_serving(stack.base, 6))
    started = time.monotonic()
    calls, sessions = asyncio.run(load(stack.base, SECONDS, stack.process.pid, chaos))
    took = time.monotonic() - started
    healthy = asyncio.run(all_serving(stack.base, 6))
    workers = workers_of(stack.process.pid)
    final_calls, final_sessions = asyncio.run(final_round(stack.base))
    print(f"chaos {took:.0f} s: {chaos.kills} kills, {chaos.freezes} freezes; calls "
          f"{dict(calls)}; sessions {dict(sessions)}; final {Counter(final_calls)} "
          f"{Counter(final_sessions)}")
    failed = {outcome for outcome in calls if outcome != (200, 0)}
    assert failed <= ALLOWED_FAILURES, calls  # (0, 0): hung past its deadline
    assert calls[(200, 0)] > 10 * sum(n for o, n in calls.items() if o != (200, 0)), calls
    allowed = {"ok", *(f"error {code}" for code in ALLOWED_SESSION_ERRORS)}
    assert set(sessions) <= allowed, sessions
    assert sessions["ok"] > 0
    assert chaos.kills >= 1 and chaos.freezes >= 1, (chaos.kills, chaos.freezes)
    assert chaos.kills + chaos.freezes >= SECONDS / 6, (chaos.kills, chaos.freezes)
    assert len(healthy) == 6 and len(workers) == 6 and all(map(pid_alive, workers)), workers
    assert final_calls == [(200, 0)] * 30, final_calls
    assert final_sessions == ["ok"] * 6, final_sessions

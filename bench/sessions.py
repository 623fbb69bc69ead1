"""The session benchmark: N concurrent WebSocket sessions streaming 20 ms audio frames.

Each session sends 640-byte frames (20 ms of 16 kHz 16-bit mono) as AIGES JSON text frames,
one in flight (send, wait for its result, send the next), FRAMES_PER_SESSION frames with
payload status 0, 1, ..., 2, waits for the server's close, then opens the next session. The
load client runs in a process of its own (`python -m bench.sessions client ...`): a closed
loop for a warm-up, then a timed window whose frames/s and per-frame latencies (send to
result) are reported. Ours (`athena serve` of bench/abilities/frames, one worker) and the raw
stack (bench/rawsessions.py) are measured alike, in interleaved rounds.

Ours serves the pull-style echo (wrapperWrite queues, wrapperRead returns: two wrapper-thread
hops a frame); `ATHENA_BENCH_FRAMES=frames_push` serves the callback-style one instead (one
hop plus a callback to the loop). Measured on the 2-core machine, neither was clearly cheaper.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FRAME_BYTES", "SessionCell", "SessionPlan", "run_sessions"]

log = logging.getLogger(__name__)

FRAME_BYTES = 640  # 20 ms of 16 kHz, 16-bit mono audio
FRAMES_PER_SESSION = 50  # one second of audio: status 0, 48 x 1, 2
ROUTE = "/v1/private/frames"
SERVICE_ID = "frames"
# which echo ability ours serves: `frames` (pull: wrapperRead) or `frames_push` (callback)
ABILITY = os.environ.get("ATHENA_BENCH_FRAMES", "frames")


def frame_text(audio: bytes, status: int, *, first: bool = False) -> str:
    body: dict[str, Any] = {"payload": {"audio": {
        "encoding": "raw", "status": status, "audio": base64.b64encode(audio).decode()}}}
    if first:
        body = {"header": {"app_id": "bench"}, "parameter": {SERVICE_ID: {}}, **body}
    return json.dumps(body)


# ---------------------------------------------------------------------------- the client

@dataclass
class _Tally:
    start: float
    end: float
    latencies_us: list[int] = field(default_factory=list)
    frames: int = 0  # answered within the window
    sessions: int = 0  # completed (closed by the server after the final result) in the window
    errors: list[str] = field(default_factory=list)


async def _client(url: str, sessions: int, warmup: float, duration: float) -> dict[str, Any]:
    import aiohttp
    from aiohttp import WSMsgType

    audio = os.urandom(FRAME_BYTES)
    texts = [frame_text(audio, 0, first=True),
             *[frame_text(audio, 1)] * (FRAMES_PER_SESSION - 2), frame_text(audio, 2)]
    statuses = [0, *[1] * (FRAMES_PER_SESSION - 2), 2]
    loop = asyncio.get_running_loop()
    started = loop.time()
    tally = _Tally(started + warmup, started + warmup + duration)
    clock = time.perf_counter_ns

    async def one_session(http: aiohttp.ClientSession) -> None:
        async with http.ws_connect(url, autoping=False, compress=0) as ws:
            for text, status in zip(texts, statuses, strict=True):
                if loop.time() >= tally.end:
                    return  # cut mid-session: the server sees the client go
                sent = clock()
                await ws.send_str(text)
                message = await ws.receive(timeout=30)
                took = clock() - sent
                if message.type is not WSMsgType.TEXT:
                    raise RuntimeError(f"got {message.type.name} {message.data!r} "
                                       f"instead of the result of frame status {status}")
                header = json.loads(message.data)["header"]
                if header["code"] != 0 or header["status"] != status:
                    raise RuntimeError(f"bad result for status {status}: {header}")
                if tally.start <= loop.time() < tally.end:
                    tally.frames += 1
                    tally.latencies_us.append(took // 1000)
            closing = await ws.receive(timeout=30)
            if closing.type is not WSMsgType.CLOSE or closing.data != 1000:
                raise RuntimeError(f"expected a 1000 close, got {closing.type.name} "
                                   f"{closing.data!r}")
            if tally.start <= loop.time() < tally.end:
                tally.sessions += 1

    async def run_sessions(http: aiohttp.ClientSession) -> None:
        while loop.time() < tally.end:
            try:
                await one_session(http)
            except (RuntimeError, TimeoutError, aiohttp.ClientError, OSError) as error:
                tally.errors.append(f"{type(error).__name__}: {error}")
                await asyncio.sleep(0.05)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        tasks = [asyncio.create_task(run_sessions(http)) for _ in range(sessions)]
        await asyncio.sleep(max(0.0, tally.start - loop.time()))
        print("start", flush=True)  # the harness reads the servers' CPU at these two lines
        await asyncio.sleep(max(0.0, tally.end - loop.time()))
        print("stop", flush=True)
        await asyncio.gather(*tasks)
    return {"frames": tally.frames, "sessions": tally.sessions, "seconds": duration,
            "latencies_us": tally.latencies_us, "errors": tally.errors[:20],
            "error_count": len(tally.errors)}


@dataclass
class Sample:
    seconds: float
    cpu_s: float  # the servers' CPU over the timed window
    frames: int
    sessions: int
    errors: int
    latencies_us: list[int]
    first_errors: list[str]


def run_client(url: str, sessions: int, warmup: float, duration: float,
               cpu: Callable[[], float]) -> Sample:
    """The load client in its own process; `cpu` reads the servers' CPU seconds so far."""
    command = [sys.executable, "-m", "bench.sessions", "client", "--url", url,
               "--sessions", str(sessions), "--warmup", str(warmup), "--duration", str(duration)]
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
        assert process.stdout is not None
        watchdog = threading.Timer(warmup + duration + 120, process.kill)
        watchdog.start()
        cpu_before = cpu_after = 0.0
        lines = []
        try:
            for line in process.stdout:
                if line.strip() == "start":
                    cpu_before = cpu()
                elif line.strip() == "stop":
                    cpu_after = cpu()
                else:
                    lines.append(line)
            process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        if process.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"the session client failed ({process.returncode}): "
                               f"{err.read()[-2000:]}")
    out = lines[-1]
    found = json.loads(out)
    return Sample(found["seconds"], cpu_after - cpu_before, found["frames"], found["sessions"],
                  found["error_count"], found["latencies_us"], found["errors"])


# ------------------------------------------------------------------------ the servers

@dataclass(frozen=True)
class SessionPlan:
    sessions: Sequence[int]
    warmup_s: float
    duration_s: float
    rounds: int


@dataclass
class SessionCell:
    """All rounds of one stack at one number of concurrent sessions."""

    target: str
    sessions: int
    fps_by_round: list[float] = field(default_factory=list)
    frames: int = 0
    completed: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    latencies_us: list[int] = field(default_factory=list)


def _stacks() -> list[Any]:
    """(label, Family) of ours and of the raw stack, in the order each round runs them."""
    from bench.procs import Server, free_port
    from bench.targets import ATHENA, ROOT, Family, _ready_file, _tcp_ready

    wrapper = str(ROOT / "bench" / "abilities" / ABILITY / "wrapper.py")

    def ours(workdir: Path) -> Any:
        ready = workdir / "sessions-ready.json"
        ready.unlink(missing_ok=True)
        http, grpc_port = free_port(), free_port()
        server = Server("athena sessions",
                        [ATHENA, "serve", wrapper, "--workers", "1", "--licence", "256",
                         "--port", str(http), "--grpc-port", str(grpc_port),
                         "--ready-file", str(ready)],
                        _ready_file(ready), workdir / "athena-sessions.log", cwd=ROOT)
        return [server], lambda: [f"ws://127.0.0.1:{http}{ROUTE}"]

    def raw(workdir: Path) -> Any:
        echo, ws = free_port(), free_port()
        module = [sys.executable, "-m", "bench.rawsessions"]
        servers = [
            Server("raw bidi echo", [*module, "echo", "--port", str(echo)], _tcp_ready(echo),
                   workdir / "raw-bidi-echo.log", cwd=ROOT),
            Server("raw ws", [*module, "ws", "--port", str(ws), "--upstream",
                              f"127.0.0.1:{echo}"], _tcp_ready(ws), workdir / "raw-ws.log",
                   cwd=ROOT),
        ]
        return servers, lambda: [f"ws://127.0.0.1:{ws}{ROUTE}"]

    return [("athena WS", Family("athena sessions", ours)), ("raw WS", Family("raw sessions", raw))]


async def _verify(url: str) -> None:
    """One session of three distinct frames: each echoed byte for byte with its status, then
    a 1000 close. A stack that answered wrongly would be measured for nothing."""
    import aiohttp

    frames = [os.urandom(FRAME_BYTES) for _ in range(3)]
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        for status, audio in enumerate(frames):
            await ws.send_str(frame_text(audio, status, first=status == 0))
            reply = await ws.receive_json(timeout=10)
            output = reply["payload"]["audio"]
            if (reply["header"]["code"], reply["header"]["status"], output["status"]) != (
                    0, status, str(status)) or base64.b64decode(output["audio"]) != audio:
                raise RuntimeError(f"{url}: frame {status} answered {str(reply)[:300]}")
        closing = await ws.receive(timeout=10)
        if closing.data != 1000:
            raise RuntimeError(f"{url}: closed with {closing.data!r}, not 1000")


def run_sessions(plan: SessionPlan, workdir: Path) -> list[SessionCell]:
    cells: dict[tuple[str, int], SessionCell] = {}
    stacks = _stacks()
    for round_number in range(1, plan.rounds + 1):
        for label, family in stacks:
            log.info("sessions round %d/%d: starting %s", round_number, plan.rounds,
                     family.name)
            family.start(workdir)
            try:
                url = family.targets[0]
                if round_number == 1:
                    asyncio.run(_verify(url))
                for n in plan.sessions:
                    cell = cells.setdefault((label, n), SessionCell(label, n))
                    sample = run_client(url, n, plan.warmup_s, plan.duration_s,
                                        family.cpu_seconds)
                    if sample.errors:
                        log.warning("  %s N=%d: %d failed sessions, first: %s", label, n,
                                    sample.errors, sample.first_errors[:3])
                    fps = sample.frames / sample.seconds
                    cell.fps_by_round.append(fps)
                    cell.frames += sample.frames
                    cell.completed += sample.sessions
                    cell.errors += sample.errors
                    cell.seconds += sample.seconds
                    cell.cpu_s += sample.cpu_s
                    cell.latencies_us.extend(sample.latencies_us)
                    log.info("  %-10s N=%-3d %9.1f frames/s", label, n, fps)
            finally:
                family.stop()
    return list(cells.values())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sessions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role", required=True)
    client = sub.add_parser("client", help="the load client (run by the harness)")
    client.add_argument("--url", required=True)
    client.add_argument("--sessions", type=int, required=True)
    client.add_argument("--warmup", type=float, default=1.0)
    client.add_argument("--duration", type=float, default=2.5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_client(args.url, args.sessions, args.warmup,
                                         args.duration))))


if __name__ == "__main__":
    main()

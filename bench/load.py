"""The load client: h2load, closed loop, for every HTTP target (HTTP/1.1) and every gRPC
target (HTTP/2, one connection multiplexing the concurrent calls, as a gRPC channel does)."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Load", "Sample", "h2load_path", "run_load"]


def h2load_path() -> str:
    found = shutil.which("h2load")
    if found is None:
        raise RuntimeError("h2load is missing: `apt-get install nghttp2-client` (make bench does)")
    return found


@dataclass(frozen=True)
class Load:
    """One request, repeated: where it goes, what it carries, how many at once."""

    url: str
    body: Path
    headers: tuple[str, ...]
    grpc: bool
    concurrency: int


@dataclass
class Sample:
    """What one timed run measured."""

    seconds: float
    cpu_s: float  # the servers' CPU over the timed part
    ok: int
    failed: int
    response_bytes: int
    latencies_us: list[int]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def _command(load: Load, warmup: float, seconds: float, log: Path) -> list[str]:
    # the warm-up runs in the same closed loop, so timing starts with every slot busy
    command = [h2load_path(), "-t", "1", "--warm-up-time", f"{round(warmup * 1000)}ms",
               "-D", f"{round(seconds * 1000)}ms", "-d", str(load.body),
               f"--log-file={log}", "-H", "accept-encoding: identity"]
    for header in load.headers:
        command += ["-H", header]
    if load.grpc:
        # one connection, N concurrent streams: what a gRPC channel does
        command += ["-c", "1", "-m", str(load.concurrency),
                    "-H", "content-type: application/grpc", "-H", "te: trailers"]
    else:
        command += ["--h1", "-c", str(load.concurrency), "-m", "1",
                    "-H", "content-type: application/json"]
    return [*command, load.url]


def _count(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    return int(found.group(1)) if found else 0


def run_load(load: Load, warmup: float, seconds: float, cpu: Callable[[], float]) -> Sample:
    """Warm up, then time `seconds`; `cpu` reads the servers' CPU seconds so far."""
    with tempfile.TemporaryDirectory(prefix="athena-bench-") as tmp:
        log = Path(tmp, "requests.log")
        process = subprocess.Popen(_command(load, warmup, seconds, log),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(warmup)
        cpu_before = cpu()
        try:
            out, err = process.communicate(timeout=warmup + seconds + 120)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        cpu_used = cpu() - cpu_before
        if process.returncode != 0:
            raise RuntimeError(f"h2load failed ({process.returncode}): {err[-2000:]}")
        latencies = []
        failed_in_log = 0
        for line in log.read_text().splitlines():
            _start, status, elapsed = line.split("\t")[:3]
            if status.startswith("2"):
                latencies.append(int(elapsed))
            else:
                failed_in_log += 1
    two_xx = _count(r"status codes: (\d+) 2xx", out)
    errored = _count(r"(\d+) errored", out) + _count(r"(\d+) timeout", out)
    return Sample(
        seconds=seconds,  # h2load's main phase is exactly this long
        cpu_s=cpu_used,
        ok=two_xx,
        failed=failed_in_log + errored,
        response_bytes=_count(r"traffic: .*?\((\d+)\) data", out),
        latencies_us=latencies,
    )

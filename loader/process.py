"""Athena process kit: what every athena process (gateway or worker) does at start and stop.

Logging, allocator tuning, signals turned into a stop event, the ready file that announces the
bound ports, the link that ends a worker with the `athena serve` that started it, and the
metric conventions every process's /metrics follows. One copy of each, for both hops.
"""
from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client.metrics import MetricWrapperBase

__all__ = [
    "LATENCY_BUCKETS", "SESSION_BUCKETS", "child_environment", "die_with_parent",
    "remember_children", "setup_logging", "stop_event", "tune_allocator", "write_ready_file",
]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=MetricWrapperBase)

_PARENT_ENV = "ATHENA_PARENT_PID"
_PR_SET_PDEATHSIG = 1
_LOG_FORMATS = {
    "gateway": "%(asctime)s %(levelname)s %(name)s: %(message)s",
    "worker": "%(asctime)s %(levelname)s [worker %(process)d] %(name)s: %(message)s",
}

# from sub-millisecond echo calls to model calls of tens of seconds; shared by every hop so
# latencies compare bucket for bucket
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
)
# sessions last from a fraction of a second to the 180 s session timeout and beyond
SESSION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 180, 300, 600)


def setup_logging(role: str) -> None:
    """Log lines of `role` ("gateway" or "worker") at ATHENA_LOG_LEVEL (default INFO)."""
    logging.basicConfig(level=os.environ.get("ATHENA_LOG_LEVEL", "INFO"),
                        format=_LOG_FORMATS[role])


# glibc's M_TRIM_THRESHOLD / M_MMAP_THRESHOLD parameters of mallopt()
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for this setting on 64-bit
_TRIM_THRESHOLD = 1 << 30


def tune_allocator() -> bool:
    """Tune the C allocator for payload-sized buffers (glibc only); returns whether it was.

    By default glibc serves every allocation above a moving threshold (128 KiB to 32 MiB) with
    a fresh mmap and gives freed memory back to the kernel quickly, so each request re-faults
    every page of every payload buffer it touches: measured here, that halved the throughput
    of 16 MiB calls. Serving processes keep their working set instead: buffers up to 32 MiB
    come from the heap and freed memory stays for the next request (the resident size settles
    at the peak working set, as it would with jemalloc or tcmalloc). glibc's own
    MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ in the environment leave it as set there.
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False
    tuned = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    if not tuned:
        log.warning("could not tune the C allocator; large payloads will be slower")
    return tuned


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: the process drains and stops when it is set."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def write_ready_file(path: Path | None, info: Mapping[str, Any]) -> None:
    """Tell whoever started us which ports we bound (port 0 means the OS picked them)."""
    if path is None:
        return
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(info))
    partial.replace(path)  # atomic: a reader never sees half a file


def child_environment() -> dict[str, str]:
    """The environment for a worker this process starts: it will end when we do."""
    return {**os.environ, _PARENT_ENV: str(os.getpid())}


def die_with_parent() -> None:
    """A worker started by `athena serve` must not outlive it (the original's children did)."""
    parent = os.environ.get(_PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        sys.exit(1)


def remember_children(metric: M) -> M:
    """prometheus_client's labels() validates the values and takes a lock on every call; a
    request path asks for the same few children every time, so look each up once."""
    children: dict[tuple[str, ...], Any] = {}
    look_up = metric.labels

    def labels(*values: str) -> Any:
        child = children.get(values)
        if child is None:
            child = children[values] = look_up(*values)
        return child

    metric.labels = labels  # type: ignore[method-assign,assignment]
    return metric

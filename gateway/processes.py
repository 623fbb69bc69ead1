"""Gateway process group: N gateway processes on one host sharing the HTTP and gRPC ports
(SO_REUSEPORT), started, restarted and stopped together, their metrics aggregated.

Metrics: prometheus_client's multiprocess mode. The parent makes a folder and names it in
PROMETHEUS_MULTIPROC_DIR for every member; each member's counters, histograms and gauges live
in memory-mapped files there, and every member's /metrics reads them all. So a scrape of the
shared port, whichever member answers, shows the whole group: counters and histograms summed,
gauges (in flight, endpoints by state, sessions) one series per member with a `pid` label,
since each member keeps its own view of the workers.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, multiprocess, values

from loader.process import child_environment, write_ready_file
from loader.restarts import Restarter, RestartPolicy

__all__ = ["GatewayGroup", "GroupFailed", "aggregated_registry", "enable_multiprocess_metrics",
           "member_command", "multiprocess_dir", "process_responses", "run_group",
           "write_group_ready_file"]

log = logging.getLogger(__name__)

_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own name for the folder
_STOP_GRACE_S = 15.0  # after SIGTERM, a member's time to finish its calls before SIGKILL

# the arguments of member i, given the ports it must bind and the ready file it must write
Command = Callable[[int, int, int, Path], Sequence[str]]


class GroupFailed(RuntimeError):
    """A gateway process exited before it was serving."""


def multiprocess_dir() -> Path | None:
    """The group's metrics folder when this process is a member (or the parent) of a group."""
    found = os.environ.get(_ENV)
    return Path(found) if found else None


def enable_multiprocess_metrics() -> Path:
    """Make the metrics folder and switch this process's metrics created from now on to it;
    the members inherit it through their environment (prometheus_client reads it at import)."""
    folder = Path(tempfile.mkdtemp(prefix="athena-metrics-"))
    os.environ[_ENV] = str(folder)
    values.ValueClass = values.MultiProcessValue()
    return folder


def aggregated_registry(folder: Path) -> CollectorRegistry:
    """A registry that collects every member's metrics from the folder (none of its own)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return registry


def process_responses() -> Counter:
    """HTTP responses sent by each member (its index): the one per-member traffic count."""
    return Counter("athena_gateway_process_http_responses",
                   "HTTP responses sent by each process of a gateway group (--processes N)",
                   ["process"], registry=None)


@dataclass
class _Member:
    index: int
    ready_file: Path
    process: asyncio.subprocess.Process | None = None


class GatewayGroup:
    """Member 0 binds the ports given (0: any free port); the others then bind the ports it
    got, so port 0 works. A member that dies is restarted on the same ports after its own
    backoff (`policy`, loader.restarts), whatever the others are doing."""

    def __init__(self, count: int, command: Command, http_port: int, grpc_port: int,
                 restarts: Counter, ready_timeout_s: float = 120.0,
                 policy: RestartPolicy | None = None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="athena-gateways-"))
        self._members = [_Member(i, self._dir / f"gateway-{i}.json") for i in range(count)]
        self._command = command
        self.http_port, self.grpc_port = http_port, grpc_port
        self._restarts = restarts
        self._ready_timeout_s = ready_timeout_s
        self._watch = Restarter(self._members, self._respawn, self._exited, policy)
        self.on_change: Callable[[], None] = lambda: None  # after each restart

    def describe(self) -> list[dict[str, object]]:
        return [{"index": m.index, "pid": m.process.pid if m.process else None}
                for m in self._members]

    async def start(self) -> None:
        first, *others = self._members
        info = await self._spawn(first)
        self.http_port, self.grpc_port = info["http_port"], info["grpc_port"]
        await asyncio.gather(*(self._spawn(m) for m in others))
        self._watch.start()

    async def stop(self, grace_s: float = _STOP_GRACE_S) -> None:
        """SIGTERM to every member (each drains), SIGKILL to one still running after grace_s."""
        await self._watch.stop()
        running = [m.process for m in self._members
                   if m.process and m.process.returncode is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        if running:
            await asyncio.wait([asyncio.create_task(p.wait()) for p in running],
                               timeout=grace_s)
        for process in running:
            if process.returncode is None:
                log.warning("gateway pid %d did not stop in %.0f s; killing", process.pid,
                            grace_s)
                process.kill()
                await process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    async def _spawn(self, member: _Member) -> dict[str, int]:
        member.ready_file.unlink(missing_ok=True)
        args = self._command(member.index, self.http_port, self.grpc_port, member.ready_file)
        # a session of its own: a terminal's Ctrl-C reaches only the parent, which stops the
        # members in order (each draining); PR_SET_PDEATHSIG still ends one whose parent died
        member.process = process = await asyncio.create_subprocess_exec(
            *args, env=child_environment(), start_new_session=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ready_timeout_s
        while not member.ready_file.exists():
            if process.returncode is not None:
                raise GroupFailed(f"gateway process {member.index} exited with code "
                                  f"{process.returncode} before it was serving (its log is "
                                  "above)")
            if loop.time() > deadline:
                process.kill()
                raise GroupFailed(f"gateway process {member.index} was not serving within "
                                  f"{self._ready_timeout_s:.0f} s")
            await asyncio.sleep(0.05)
        info: dict[str, int] = json.loads(member.ready_file.read_text())
        log.info("gateway process %d (pid %d) serving", member.index, process.pid)
        return info

    def _exited(self, member: _Member, code: int, backoff: float) -> None:
        assert member.process is not None
        _forget_gauges(member.process.pid)
        log.error("gateway process %d exited with code %s; restarting in %.1f s",
                  member.index, code, backoff)
        self._restarts.inc()

    async def _respawn(self, member: _Member) -> None:
        try:
            await self._spawn(member)
        except GroupFailed as e:
            log.error("%s", e)
        self.on_change()


def _forget_gauges(pid: int) -> None:
    """A dead member's gauges (its in-flight count, its view of the workers) are no longer
    true; its counters stay, so the group's totals never go down."""
    folder = multiprocess_dir()
    if folder is None:
        return
    multiprocess.mark_process_dead(pid, str(folder))
    for stale in folder.glob(f"gauge_*_{pid}.db"):
        stale.unlink(missing_ok=True)


def member_command(argv_tail: Sequence[str]) -> Command:
    """`python -m gateway.cli gateway ARGS --port P --grpc-port G --ready-file F
    --process-index I`: one member, its worker list and settings in `argv_tail`."""
    def command(index: int, http_port: int, grpc_port: int, ready: Path) -> list[str]:
        return [sys.executable, "-m", "gateway.cli", "gateway", *argv_tail,
                "--port", str(http_port), "--grpc-port", str(grpc_port),
                "--ready-file", str(ready), "--process-index", str(index)]
    return command


def write_group_ready_file(path: Path | None, group: GatewayGroup,
                           extra: dict[str, object]) -> None:
    write_ready_file(path, {"http_port": group.http_port, "grpc_port": group.grpc_port,
                            "pid": os.getpid(), "processes": group.describe(), **extra})


async def run_group(count: int, argv_tail: Sequence[str], http_port: int, grpc_port: int,
                    ready_file: Path | None, stop: asyncio.Event,
                    extra: Callable[[], dict[str, object]] = dict, *,
                    drain_delay_s: float = 0.0) -> None:
    """Run `count` gateway members until `stop` is set, then stop them all (each drains,
    taking [gateway] drain_delay_s first: they get that much longer before SIGKILL).
    The ready file lists the members (rewritten after a restart) and `extra()`."""
    restarts = Counter("athena_supervisor_gateway_restarts",
                       "Gateway processes of the group restarted after they exited",
                       registry=None)
    group = GatewayGroup(count, member_command(argv_tail), http_port, grpc_port, restarts)

    def announce() -> None:
        write_group_ready_file(ready_file, group, extra())

    group.on_change = announce
    try:
        await group.start()
        log.info("%d gateway processes serving HTTP on :%d and gRPC on :%d", count,
                 group.http_port, group.grpc_port)
        announce()
        await stop.wait()
    finally:
        await group.stop(_STOP_GRACE_S + drain_delay_s)

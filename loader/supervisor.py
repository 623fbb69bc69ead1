"""Supervisor: starts N worker processes per wrapper, restarts crashed ones, stops them all.

A worker that exits with EXIT_RECYCLE (it was over [loader] max_calls or max_rss_mb and
drained) is replaced at once, with no backoff, and counted as a recycle, not a restart.

Each worker is a fresh interpreter (`python -m loader`), not a fork of this process, so no
gRPC object of ours ever crosses into a worker (grpc/grpc#16001); this process creates none.
"""
from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import Counter
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from loader.process import child_environment
from loader.recycle import EXIT_RECYCLE, LOCK_NAME, NOTICE_S
from loader.restarts import Restarter, RestartPolicy

__all__ = ["PortInUse", "Supervisor", "WorkerExits", "WorkerFailed", "WorkerSpec",
           "worker_restarts"]

log = logging.getLogger(__name__)


def worker_restarts() -> Counter:
    """Restarts of crashed workers per ability, registered wherever it is served (the
    gateway's /metrics under `athena serve`, the supervisor's own under `athena loader`)."""
    return Counter("athena_supervisor_worker_restarts",
                   "Workers restarted after they exited, by ability", ["ability"],
                   registry=None)


def worker_recycles() -> Counter:
    return Counter("athena_supervisor_worker_recycles",
                   "Workers replaced after they drained at [loader] max_calls or max_rss_mb, "
                   "by ability", ["ability"], registry=None)


class WorkerExits(Collector):
    """The restarts and recycles counters as one collector: what a /metrics registers."""

    def __init__(self, restarts: Counter | None = None) -> None:
        self.restarted = restarts if restarts is not None else worker_restarts()
        self.recycled = worker_recycles()

    def collect(self) -> Iterable[Metric]:
        yield from self.restarted.collect()
        yield from self.recycled.collect()

    def show(self, ability: str) -> None:
        """Both shown as 0 for an ability until its first exit."""
        self.restarted.labels(ability)
        self.recycled.labels(ability)


class WorkerFailed(RuntimeError):
    """A worker exited before it became ready."""


class PortInUse(WorkerFailed):
    """A pinned worker port cannot be bound; nothing was started."""

    def __init__(self, message: str, port: int) -> None:
        super().__init__(message)
        self.port = port


@dataclass(frozen=True)
class WorkerSpec:
    wrapper: str
    config: str | None = None
    host: str = "127.0.0.1"
    extra_args: tuple[str, ...] = ()


@dataclass
class _Worker:
    spec: WorkerSpec
    index: int
    ready_file: Path
    port: int = 0
    metrics_port: int = 0
    service_id: str = ""
    process: asyncio.subprocess.Process | None = None
    restarts: int = field(default=0)

    @property
    def address(self) -> str:
        return f"{self.spec.host}:{self.port}"

    @property
    def metrics_address(self) -> str:
        return f"{self.spec.host}:{self.metrics_port}"


class Supervisor:
    """`port_base` pins the ports: worker k (counted across the specs, in order) serves gRPC
    on port_base + 2k and /metrics on port_base + 2k + 1. Without it each worker binds free
    ports on its first start; either way a restarted worker binds the ports it had.
    `restarts` counts the restarts (default: a counter of its own) and, as a collector,
    reports the recycles beside them; `on_restart` runs after each restarted or recycled
    worker is serving again. Each crashed worker is restarted on its own after its own backoff
    (`policy`, loader.restarts); a recycled one is replaced at once."""

    def __init__(self, specs: list[WorkerSpec], workers_each: int, ready_timeout_s: float = 120.0,
                 port_base: int | None = None, restarts: Counter | None = None,
                 policy: RestartPolicy | None = None):
        count = len(specs) * workers_each
        if port_base is not None and not 0 < port_base <= 65536 - 2 * count:
            raise ValueError(f"port_base {port_base}: {count} workers need ports "
                             f"{port_base}..{port_base + 2 * count - 1}, within 1..65535")
        self._dir = Path(tempfile.mkdtemp(prefix="athena-workers-"))
        (self._dir / LOCK_NAME).touch()  # its workers recycle one at a time (loader.recycle)
        self._workers = [
            _Worker(spec, i, self._dir / f"worker-{n}-{i}.json")
            for n, spec in enumerate(specs)
            for i in range(workers_each)
        ]
        if port_base is not None:
            for k, worker in enumerate(self._workers):
                worker.port, worker.metrics_port = port_base + 2 * k, port_base + 2 * k + 1
        self._pinned = port_base is not None
        self._ready_timeout_s = ready_timeout_s
        self._watch = Restarter(self._workers, self._respawn, self._exited, policy,
                                at_once=(EXIT_RECYCLE,))
        self.restarts = WorkerExits(restarts)
        self.on_restart: Callable[[], None] = lambda: None

    @property
    def addresses(self) -> list[str]:
        return [w.address for w in self._workers]

    def describe(self) -> list[dict[str, object]]:
        """Where each worker serves, for people and tests (written to the ready file)."""
        return [
            {"ability": w.service_id, "address": w.address, "metrics_address": w.metrics_address,
             "pid": w.process.pid if w.process else None}
            for w in self._workers
        ]

    async def start(self) -> None:
        """Start every worker at once and return when all are serving."""
        if self._pinned:
            self._check_pinned_ports()
        await asyncio.gather(*(self._spawn(w) for w in self._workers))
        self._watch.start()

    async def stop(self, grace_s: float = 10.0) -> None:
        try:
            await self._stop_workers(grace_s)
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)  # the workers' ready files

    async def _stop_workers(self, grace_s: float) -> None:
        await self._watch.stop()
        running = [w.process for w in self._workers if w.process and w.process.returncode is None]
        for process in running:
            process.send_signal(signal.SIGTERM)  # workers drain and call wrapperFini
        if running:
            _, pending = await asyncio.wait(
                [asyncio.create_task(p.wait()) for p in running], timeout=grace_s
            )
            for process in running:
                if process.returncode is None:
                    log.warning("worker pid %d did not stop in %.0f s; killing", process.pid,
                                grace_s)
                    process.kill()
                    await process.wait()

    def _check_pinned_ports(self) -> None:
        """Bind each pinned port once before any worker starts: gRPC servers bind with
        SO_REUSEPORT, so a worker would otherwise silently share a port another server holds."""
        for k, worker in enumerate(self._workers):
            for port, what in ((worker.port, "gRPC"), (worker.metrics_port, "metrics")):
                try:
                    socket.create_server((worker.spec.host, port)).close()
                except OSError as e:
                    raise PortInUse(
                        f"port {port} (the {what} port of worker {k}, #{worker.index} of "
                        f"{worker.spec.wrapper}) cannot be bound on {worker.spec.host}: "
                        f"{e.strerror or e}", port) from None

    async def _spawn(self, worker: _Worker) -> None:
        worker.ready_file.unlink(missing_ok=True)
        args = [sys.executable, "-m", "loader", worker.spec.wrapper,
                "--host", worker.spec.host, "--port", str(worker.port),
                "--metrics-port", str(worker.metrics_port),
                "--ready-file", str(worker.ready_file), *worker.spec.extra_args]
        if worker.spec.config:
            args += ["--config", worker.spec.config]
        # a session of its own: a terminal's Ctrl-C reaches only `athena serve`, whose gateway
        # drains ([gateway] drain_delay_s) while its workers still serve, then stops them;
        # PR_SET_PDEATHSIG (loader/process.py) still ends a worker whose supervisor died
        worker.process = await asyncio.create_subprocess_exec(*args, env=child_environment(),
                                                              start_new_session=True)
        await self._await_ready(worker)
        info = json.loads(worker.ready_file.read_text())
        # a restarted worker binds the same ports, so the gateway's address list stays true
        worker.port, worker.metrics_port = info["port"], info["metrics_port"]
        worker.service_id = info["service_id"]
        self.restarts.show(worker.service_id)  # 0 until the first restart or recycle
        # serving again: the next sibling over its limit may recycle once balancers have had
        # NOTICE_S to see this one serve
        mark = worker.ready_file.with_suffix(".recycling")
        if mark.exists():
            asyncio.get_running_loop().call_later(NOTICE_S, mark.unlink, True)
        log.info("worker %s#%d (pid %d) ready on %s", worker.service_id, worker.index,
                 info["pid"], worker.address)

    async def _await_ready(self, worker: _Worker) -> None:
        assert worker.process is not None
        deadline = asyncio.get_running_loop().time() + self._ready_timeout_s
        while not worker.ready_file.exists():
            if worker.process.returncode is not None:
                raise WorkerFailed(
                    f"worker for {worker.spec.wrapper} exited with code "
                    f"{worker.process.returncode} before it was ready (its log is above)"
                )
            if asyncio.get_running_loop().time() > deadline:
                worker.process.kill()
                raise WorkerFailed(
                    f"worker for {worker.spec.wrapper} was not ready within "
                    f"{self._ready_timeout_s:.0f} s"
                )
            await asyncio.sleep(0.05)

    def _exited(self, worker: _Worker, code: int, backoff: float) -> None:
        if code == EXIT_RECYCLE:
            log.info("worker %s#%d drained at its recycling limit; replacing it",
                     worker.service_id, worker.index)
            self.restarts.recycled.labels(worker.service_id).inc()
            return
        log.error("worker %s#%d exited with code %s; restarting in %.1f s",
                  worker.service_id, worker.index, code, backoff)
        worker.restarts += 1
        self.restarts.restarted.labels(worker.service_id).inc()

    async def _respawn(self, worker: _Worker) -> None:
        try:
            await self._spawn(worker)
        except WorkerFailed as e:
            log.error("%s", e)
        self.on_restart()

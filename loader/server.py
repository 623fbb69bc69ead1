"""Worker process: loads the wrapper, serves loader.v1 + health over gRPC, drains on SIGTERM."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from loader.certificates import CertificateFiles, Pem
from loader.engine import OnceEngine
from loader.licence import Licence
from loader.metrics import LoaderMetrics
from loader.plugin import Plugin
from loader.probe import start_probe
from loader.process import stop_event, write_ready_file
from loader.recycle import EXIT_RECYCLE, NOTICE_S, Recycler
from loader.servicer import LoaderServicer
from loader.sessions import SessionEngine
from loader.settings import LoaderSettings
from loader.threads import WrapperThreads
from loader.v1.wire import SERVICE, message_options

__all__ = ["EXIT_RECYCLE", "EXIT_STUCK", "Worker", "assemble", "run", "serve"]

log = logging.getLogger(__name__)

EXIT_STUCK = 70  # EX_SOFTWARE


@dataclass(frozen=True)
class Worker:
    """One worker's parts, wired but not yet serving: what `serve` runs in its own process and
    tests run in theirs."""

    plugin: Plugin
    metrics: LoaderMetrics
    threads: WrapperThreads
    engine: OnceEngine | None  # None: the wrapper serves sessions only
    sessions: SessionEngine | None  # None: the wrapper serves one-shot calls only
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    servicer: LoaderServicer
    licence: Licence

    async def start(self) -> None:
        await self.server.start()
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)

    async def drain(self, grace_s: float | None, notice_s: float = 0.0) -> None:
        """Health turns NOT_SERVING at once; calls keep being taken for `notice_s` (while
        balancers see it), then calls and sessions in flight get `grace_s` to finish;
        sessions still open then end with their wrapperDestroy."""
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        if notice_s > 0:
            await asyncio.sleep(notice_s)
        if self.sessions is not None:
            self.sessions.stopping = True
        await self.server.stop(grace_s)
        if self.sessions is not None:
            await self.sessions.close_all()

    def close(self) -> None:
        """After drain: wrapper threads finish the call they are in, then wrapperFini runs."""
        self.threads.shutdown()
        self.plugin.fini()

    def outstanding(self) -> dict[str, int]:
        """The work really running now, for /readyz: licensed calls and sessions, and calls
        given up on whose wrapper has not returned (they hold a thread, not a slot)."""
        return {"in_use": self.licence.in_use, "licence": self.licence.limit,
                "abandoned_running": self.licence.abandoned,
                "sessions": len(self.sessions.open_sessions) if self.sessions else 0,
                "served": self.servicer.served}

    def longest_running_s(self) -> float:
        return max(self.engine.longest_running_s() if self.engine is not None else 0.0,
                   self.sessions.longest_running_s() if self.sessions is not None else 0.0)

    async def _set_health(self, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        for name in ("", SERVICE):
            await self.health.set(name, status)


def assemble(settings: LoaderSettings) -> Worker:
    """Import and initialise the wrapper, then wire engine, servicer and gRPC server around it
    (the port is bound; nothing is served until start)."""
    plugin = Plugin.load(settings.wrapper, settings.service_id)
    plugin.init(dict(settings.wrapper_config))
    log.info("wrapper %s loaded as ability %r", settings.wrapper, plugin.service_id)
    metrics = LoaderMetrics()
    # abandoned calls hold a thread each until their wrapper returns: room for them too
    threads = WrapperThreads(settings.licence + max(settings.max_abandoned, 0))
    # one for calls and sessions: [fc] max bounds both
    licence = Licence(settings.licence, max(settings.max_abandoned, 0))
    metrics.licence.set(settings.licence)
    engine = None if plugin.once is None and plugin.once_by_callback is None else OnceEngine(
        plugin, licence, settings.inline_under_ms, metrics, threads)
    has_sessions = plugin.streams is not None or plugin.stream_generator is not None
    sessions = None if not has_sessions else SessionEngine(
        plugin, licence, settings.inline_under_ms, metrics, threads)
    servicer = LoaderServicer(plugin, settings, metrics, engine, sessions)
    server = grpc.aio.server(options=message_options(settings.max_message_bytes))
    server.add_generic_rpc_handlers((servicer.handler(),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = _bind(server, settings)
    return Worker(plugin, metrics, threads, engine, sessions, server, health_servicer, port,
                  servicer, licence)


def _bind(server: grpc.aio.Server, settings: LoaderSettings) -> int:
    """The gRPC port, in plain text or, with [loader] tls_*, mutual TLS: a client must show a
    certificate signed by tls_client_ca. The files are looked at again before each new
    connection's handshake, so a renewed certificate or CA is served without a restart
    (loader.certificates). (The metrics port stays plain HTTP.)"""
    address = f"{settings.host}:{settings.port}"
    if not settings.tls:
        return server.add_insecure_port(address)
    assert settings.tls_cert and settings.tls_key and settings.tls_client_ca
    files = CertificateFiles("loader", ("tls_cert", settings.tls_cert),
                             ("tls_key", settings.tls_key),
                             ("tls_client_ca", settings.tls_client_ca))

    def configuration(pem: Pem) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration([(pem.key, pem.cert)],
                                                         root_certificates=pem.ca)

    def renewed() -> grpc.ServerCertificateConfiguration | None:  # None: keep the current
        pem = files.renewed()
        return None if pem is None else configuration(pem)

    credentials = grpc.dynamic_ssl_server_credentials(
        configuration(files.current), renewed, require_client_authentication=True)
    log.info("gRPC port with mutual TLS (certificate %s, clients signed by %s)",
             settings.tls_cert, settings.tls_client_ca)
    return server.add_secure_port(address, credentials)


async def serve(settings: LoaderSettings, stop: asyncio.Event) -> bool:
    """Serve until `stop` is set or the worker is over a recycling limit; True for the latter
    (the caller exits with EXIT_RECYCLE)."""
    worker = assemble(settings)
    await worker.start()
    serving = True
    probe, metrics_port = await start_probe(
        worker.metrics.registry, settings.host, settings.metrics_port, lambda: serving,
        worker.outstanding,
    )
    service_id = worker.plugin.service_id
    log.info("worker %d serving %r on %s:%d (metrics :%d)",
             os.getpid(), service_id, settings.host, worker.port, metrics_port)
    write_ready_file(settings.ready_file, {"pid": os.getpid(), "port": worker.port,
                                           "metrics_port": metrics_port,
                                           "service_id": service_id})
    stopped = threading.Event()
    threading.Thread(target=_exit_when_stuck,
                     args=(worker.longest_running_s, settings.stuck_after_s, stopped),
                     name="stuck-watchdog", daemon=True).start()
    recycler = Recycler(settings)
    watch = asyncio.create_task(_until_recycled(recycler, worker)) if recycler.enabled else None
    waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
    if watch is not None:
        waits.add(watch)
    recycled = False
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        recycled = watch in done
    finally:
        for task in waits:
            task.cancel()
        stopped.set()
        serving = False
        await worker.drain(settings.grace_s, NOTICE_S if recycled else 0.0)
        await probe.cleanup()
        worker.close()
        log.info("worker %d stopped%s", os.getpid(), " to be recycled" if recycled else "")
    return recycled


async def _until_recycled(recycler: Recycler, worker: Worker) -> None:
    """Return once the worker is over a limit and may go (one sibling at a time)."""
    while True:
        await asyncio.sleep(0.1)
        reason = recycler.over_limit(worker.servicer.served)
        if reason is not None and recycler.claim():
            log.info("worker %d %s: draining to be replaced", os.getpid(), reason)
            return


def _exit_when_stuck(longest_running_s: Callable[[], float], stuck_after_s: float,
                     stopped: threading.Event) -> None:
    """A thread, not a task: a hung call may be holding the event loop itself (a call run
    inline, or an async wrapper that blocks). A hung call's thread cannot be killed, and a
    normal exit would wait for it (and hang in wrapperFini too), so the process ends here."""
    while not stopped.wait(min(1.0, stuck_after_s / 4)):
        if longest_running_s() > stuck_after_s:
            log.error("a wrapper call has run for over %.0f s: the wrapper is hung; exiting "
                      "so the worker is restarted", stuck_after_s)
            logging.shutdown()
            os._exit(EXIT_STUCK)


def run(settings: LoaderSettings) -> None:
    settings = in_wrapper_folder(settings)

    async def main() -> bool:
        return await serve(settings, stop_event())

    if asyncio.run(main()):
        raise SystemExit(EXIT_RECYCLE)


def in_wrapper_folder(settings: LoaderSettings) -> LoaderSettings:
    """Make the wrapper's folder this process's working directory, as AIGES does: wrappers
    open files relative to it (`open("test_data/x.png")`, `ImageBodyField(path="x.png")` at
    import). Paths in the settings are made absolute first. A `module:attr` wrapper keeps
    the directory it was started in."""
    location, colon, attr = settings.wrapper.partition(":")
    path = Path(location)
    if not (path.suffix == ".py" or path.is_file()):
        return settings
    path = path.resolve()
    ready_file = settings.ready_file.resolve() if settings.ready_file else None
    os.chdir(path.parent)
    return dataclasses.replace(settings, wrapper=f"{path}{colon}{attr}", ready_file=ready_file)

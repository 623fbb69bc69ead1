"""Gateway process: the aiohttp app and the public gRPC edge over one worker set."""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client.registry import Collector

from gateway.admin import start_admin
from gateway.auth import AUTH, Authenticator, auth_middleware
from gateway.connections import connection_limits, http_runner
from gateway.drain import DRAIN, Drain, drain_middleware
from gateway.edge import start_edge
from gateway.metrics import GatewayMetrics
from gateway.processes import aggregated_registry, multiprocess_dir, process_responses
from gateway.routes import METRICS, SETTINGS, UPSTREAMS, add_routes, error_middleware
from gateway.settings import GatewaySettings
from gateway.upstream import Upstreams
from loader.config import ConfigError
from loader.process import write_ready_file

__all__ = ["make_app", "run_gateway"]

log = logging.getLogger(__name__)


def make_app(settings: GatewaySettings, metrics: GatewayMetrics, upstreams: Upstreams
             ) -> web.Application:
    # one byte over the limit and aiohttp stops reading: we answer 413 without buffering it all
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[error_middleware],
                          # gateway/body.py decodes gzip and deflate within max_body_mb
                          handler_args={"auto_decompress": False})
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[UPSTREAMS] = upstreams
    # inside error_middleware, so a refusal is measured and sent as an AIGES error body
    app.middlewares.append(auth_middleware)
    app[AUTH] = Authenticator(settings, metrics)
    app.middlewares.append(drain_middleware)  # /readyz 503 while draining (gateway/drain.py)
    app[DRAIN] = Drain()
    add_routes(app)
    app.on_response_prepare.append(_plain_server_header)
    return app


async def _plain_server_header(_: web.Request, response: web.StreamResponse) -> None:
    """`Server: athena`, not aiohttp's default naming the Python and aiohttp versions."""
    response.headers["Server"] = "athena"


def _join_group(app: web.Application, metrics: GatewayMetrics, index: int) -> None:
    """Member `index` of a gateway group (`--processes N`): its /metrics shows the whole
    group's, read from the shared metrics folder, and it counts the responses it sends."""
    folder = multiprocess_dir()
    if folder is not None:
        metrics.registry = aggregated_registry(folder)
    responses = process_responses().labels(str(index))

    async def count(_: web.Request, __: web.StreamResponse) -> None:
        responses.inc()

    app.on_response_prepare.append(count)


async def run_gateway(settings: GatewaySettings, stop: asyncio.Event,
                      extra_ready_info: Mapping[str, Any] | None = None, *,
                      collectors: Iterable[Collector] = (),
                      group_index: int | None = None) -> None:
    """`collectors` join the gateway's /metrics (the supervisor's restart counts, say);
    `group_index` makes this process member of a group sharing its ports (SO_REUSEPORT)."""
    metrics = GatewayMetrics()
    for collector in collectors:
        metrics.registry.register(collector)
    upstreams = Upstreams(settings, metrics)
    await upstreams.start()
    if upstreams.conflicts:  # at start, refuse; later, refused workers are only left out
        await upstreams.close()
        raise ConfigError("refusing to start: " + " | ".join(upstreams.conflicts))
    app = make_app(settings, metrics, upstreams)
    if group_index is not None:
        _join_group(app, metrics, group_index)
    limits = connection_limits(settings)
    runner = http_runner(app, settings, metrics, limits)
    await runner.setup()
    # grpc.aio binds with SO_REUSEPORT already (grpc.so_reuseport defaults to on); aiohttp
    # only when asked, so a lone gateway still fails on a port another server holds
    site = web.TCPSite(runner, settings.host, settings.port,
                       reuse_port=group_index is not None, backlog=limits.backlog)
    await site.start()
    http_port = int(runner.addresses[0][1])  # the port really bound (0 asks for any)
    edge, grpc_port, health = await start_edge(upstreams, settings, metrics, app[AUTH],
                                               max_connections=limits.grpc)
    admin: web.AppRunner | None = None
    ports = {"http_port": http_port, "grpc_port": grpc_port}
    if settings.admin_port is not None:  # /metrics and /readyz's details: gateway/admin.py
        admin, ports["admin_port"] = await start_admin(
            app, settings.admin_host, settings.admin_port, reuse_port=group_index is not None)
        log.info("admin routes on %s:%d", settings.admin_host, ports["admin_port"])
    for ability in upstreams.abilities():
        log.info("ability %r at http://%s:%d%s", ability.service_id, settings.host, http_port,
                 ability.route)
    log.info("gateway serving HTTP on %s:%d and gRPC on %s:%d (at most %d and %d connections)",
             settings.host, http_port, settings.host, grpc_port, limits.http, limits.grpc)
    write_ready_file(settings.ready_file,
                     {**ports, "pid": os.getpid(), **(extra_ready_info or {})})
    try:
        await stop.wait()
        await health.enter_graceful_shutdown()  # NOT_SERVING while draining
        await app[DRAIN].delay(settings.drain_delay_s)
    finally:
        # sessions end now, each with its error frame / event / status (10503): waiting for
        # them could take up to [ws] sessionTimeout
        upstreams.lifetimes.end_all()
        await health.enter_graceful_shutdown()
        await edge.stop(5.0)
        if admin is not None:
            await admin.cleanup()
        await runner.cleanup()
        await upstreams.close()

"""Worker HTTP side door: /metrics for Prometheus, /healthz and /readyz for probes."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["start_probe"]


async def start_probe(
    registry: CollectorRegistry, host: str, port: int, ready: Callable[[], bool],
    outstanding: Callable[[], Mapping[str, int]] | None = None,
) -> tuple[web.AppRunner, int]:
    """`outstanding`, when given, is shown in /readyz: the work running now."""
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        work = dict(outstanding()) if outstanding is not None else {}
        if ready():
            return web.json_response({"status": "ready", **work})
        return web.json_response({"status": "not ready", **work}, status=503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])  # the port really bound (0 asks for any)

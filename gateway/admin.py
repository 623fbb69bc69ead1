"""Admin listener: /metrics and /readyz with every detail, on [gateway] admin_host:admin_port.

With it, the public port keeps /healthz and a /readyz (and /readyz/<serviceId>) saying only
ready or not, and /metrics is not served there: what the workers are, where they run and how
busy they are is for operators, on an address clients cannot reach (127.0.0.1 by default, or
a pod port no Service exposes). Credentials apply here as on the public port: required only
with [gateway] auth_admin_routes = true.
"""
from __future__ import annotations

from aiohttp import web

from gateway.auth import AUTH, auth_middleware
from gateway.drain import DRAIN, drain_middleware
from gateway.routes import (
    METRICS,
    READYZ,
    SETTINGS,
    UPSTREAMS,
    ability_readyz,
    error_middleware,
    healthz,
    metrics,
    readyz,
)

__all__ = ["make_admin_app", "start_admin"]


def make_admin_app(public: web.Application) -> web.Application:
    """The admin routes over the public app's settings, metrics, worker set and credentials."""
    # /readyz 503 while draining here too (gateway/drain.py)
    app = web.Application(middlewares=[error_middleware, auth_middleware, drain_middleware])
    app[DRAIN] = public[DRAIN]
    app[SETTINGS] = public[SETTINGS]
    app[METRICS] = public[METRICS]
    app[UPSTREAMS] = public[UPSTREAMS]
    app[AUTH] = public[AUTH]
    app[READYZ] = "admin"
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/readyz/{service_id}", ability_readyz)
    app.router.add_get("/metrics", metrics)
    app.on_response_prepare.append(_plain_server_header)
    return app


async def _plain_server_header(_: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = "athena"


async def start_admin(public: web.Application, host: str, port: int, *,
                      reuse_port: bool = False) -> tuple[web.AppRunner, int]:
    """The admin listener serving on host:port, and the port it bound (0: any free one)."""
    runner = web.AppRunner(make_admin_app(public), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
    await site.start()
    return runner, int(runner.addresses[0][1])

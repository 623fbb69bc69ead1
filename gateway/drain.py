"""Drain: the gateway's last seconds before its listeners close, told to load balancers.

On SIGTERM a Kubernetes pod is taken out of its Service's endpoints at the same moment, not
before: for a few seconds kube-proxy, ingresses and gRPC clients still send it new
connections. For [gateway] drain_delay_s the gateway keeps serving every call while /readyz
answers 503 ("draining") and gRPC health NOT_SERVING, so balancers stop sending first; then
its listeners close as before. A second SIGTERM or SIGINT ends the delay at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["DRAIN", "Drain", "drain_middleware"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Drain:
    """Whether this gateway process is draining (set once, never cleared)."""

    def __init__(self) -> None:
        self.draining = False

    async def delay(self, seconds: float) -> None:
        """Draining for `seconds`, or until the next SIGTERM or SIGINT."""
        self.draining = True
        if seconds <= 0:
            return
        log.info("draining for %g s: /readyz 503, calls still served (signal again to stop "
                 "now)", seconds)
        loop = asyncio.get_running_loop()
        again = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, again.set)
        # left installed after: a signal during the rest of the shutdown changes nothing,
        # as before (the stop event it set then was set already)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(again.wait(), seconds)


DRAIN = web.AppKey("drain", Drain)


@web.middleware
async def drain_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """While draining, /readyz and /readyz/<serviceId> are 503 ("draining"); the rest serves."""
    drain = request.app.get(DRAIN)
    if drain is not None and drain.draining and (
            request.path == "/readyz" or request.path.startswith("/readyz/")):
        return web.json_response({"status": "draining"}, status=503)
    return await handler(request)

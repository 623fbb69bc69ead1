"""HTTP connections: each one's deadline for a request head, and how many may be open at once.

aiohttp has no deadline for a request line and headers (its keep-alive timer only runs while a
connection is idle), nor any cap on connections: a client holding many connections open, or
trickling headers a byte at a time, would hold this process's descriptors until it ran out of
them ("Too many open files", and then nobody is served). Here every connection gets
[gateway] header_timeout_s for each request head (counted from the connection's start, then
from the first byte of each next request), and past [gateway] max_connections a new connection
is answered 503 (10503, `Connection: close`) and closed at once, before its request is read.

The public gRPC listener has limits of its own (grpc core enforces them, gateway/edge.py sets
them): [gateway] grpc_max_connections, over which a new connection is closed at once (the
client's channel sees UNAVAILABLE and reconnects with backoff), and header_timeout_s for a
client's HTTP/2 handshake. Both listeners' caps come out of one descriptor budget here.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
from typing import Any, NamedTuple

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from loader.v1.codes import Code

__all__ = ["ConnectionRunner", "Connections", "Limits", "connection_limits", "http_runner"]

log = logging.getLogger(__name__)

# descriptors kept for what is not a client connection and not open yet: the listeners,
# worker channels and health probes, refusals being sent
OTHERS = 64
_LINGERING = 16  # refusals that may wait for their request to be read (the rest close at once)
_LINGER_S = 1.0


def _descriptor_limit(wanted: int) -> int:
    """RLIMIT_NOFILE's soft limit, raised first towards `wanted` as far as the hard one lets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if raised > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    return wanted if soft == resource.RLIM_INFINITY else soft


def _in_use() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # no procfs: what a gateway with a few workers holds
        return 64


class Limits(NamedTuple):
    """How many connections this process may hold open on each listener, and the HTTP
    listen backlog (also how many sockets one wake-up of the event loop accepts before any
    is refused, so it is kept aside too)."""
    http: int
    grpc: int
    backlog: int


def connection_limits(settings: GatewaySettings) -> Limits:
    """[gateway] max_connections and grpc_max_connections, or fewer when RLIMIT_NOFILE leaves
    no room for them beside the descriptors open already, the backlog and OTHERS: then the
    room left is shared in the ratio of the two settings."""
    http, grpc = settings.max_connections, settings.grpc_max_connections
    in_use = _in_use()
    limit = _descriptor_limit(http + grpc + in_use + 128 + OTHERS)
    backlog = max(8, min(128, limit // 8))
    room = limit - in_use - backlog - OTHERS
    if http + grpc <= room:
        return Limits(http, grpc, backlog)
    http_share = max(1, room * http // (http + grpc))
    limits = Limits(http_share, max(1, room - http_share), backlog)
    log.warning("[gateway] max_connections %d and grpc_max_connections %d need more "
                "descriptors than RLIMIT_NOFILE leaves room for: at most %d HTTP connections "
                "and %d gRPC connections", http, grpc, limits.http, limits.grpc)
    return limits


def _aiges_body(code: int, message: str) -> bytes:
    return json.dumps({"header": {"code": int(code), "message": message, "sid": ""}}).encode()


def _response(status: str, code: int, message: str) -> bytes:
    body = _aiges_body(code, message)
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nServer: athena\r\n\r\n")
    return head.encode() + body


class Connections:
    """The open HTTP connections of one listener: how many, the cap, the head deadline."""

    def __init__(self, cap: int, header_timeout_s: float, metrics: GatewayMetrics) -> None:
        self.cap = cap
        self.header_timeout_s = header_timeout_s
        self.open = 0
        self.lingering = 0
        self._metrics = metrics
        self.refusal = _response("503 Service Unavailable", Code.NO_WORKER,
                                 f"this gateway process holds {cap} connections, its limit "
                                 "([gateway] max_connections); retry on a new connection")
        self.timeout = _response("408 Request Timeout", Code.BODY_TIMEOUT,
                                 f"request line and headers not received within "
                                 f"{header_timeout_s:g} s ([gateway] header_timeout_s)")

    def opened(self) -> None:
        self.open += 1
        self._metrics.http_connections.inc()

    def closed(self) -> None:
        self.open -= 1
        self._metrics.http_connections.dec()

    def refused(self) -> None:
        self._metrics.http_connections_refused.inc()

    def timed_out(self) -> None:
        self._metrics.http_header_timeouts.inc()


class _Refusal(asyncio.Protocol):
    """A connection over the cap: 503 at once, then its request is read and dropped for up to
    a second before closing, so the close does not reset the connection before the client has
    read the answer (closing with unread bytes sends RST, which can discard it)."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        connections = self._connections
        connections.refused()
        transport.write(connections.refusal)
        if connections.lingering >= _LINGERING:
            transport.close()
            return
        connections.lingering += 1
        self._timer = asyncio.get_running_loop().call_later(_LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" in data:  # its head is read: nothing unread is left to reset with
            self._transport.close()

    def eof_received(self) -> bool:
        return False  # close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._connections.lingering -= 1


class _Connection(RequestHandler):
    """aiohttp's handler of one connection, with a deadline on each request head."""

    def __init__(self, connections: Connections, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._connections = connections
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_started = False  # a byte of the head being waited for has arrived

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # counted open already, as it was made
        self._arm()

    def _arm(self) -> None:
        self._head_timer = self._loop.call_later(self._connections.header_timeout_s,
                                                 self._head_late)

    def data_received(self, data: bytes) -> None:
        # aiohttp's own private state (3.9 to 3.14): a request head is whole when the parser
        # counted one more request; start() waits in _waiter only between requests
        heads = self._request_count
        super().data_received(data)
        if self._request_count > heads or self._upgraded:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            self._head_started = False
        elif data and self._head_timer is not None:
            self._head_started = True
        elif data and self._waiter is not None and not self._waiter.done():
            self._head_started = True  # the first byte of the next request
            self._arm()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None
                     ) -> web.StreamResponse:
        """aiohttp's answer when its HTTP parser refuses a request (a bad header token, a
        duplicate Content-Type, a URL with a control character) or a handler escaped every
        middleware: AIGES JSON with the connection closed, not aiohttp's text/plain. A
        refusal is the client's doing, so it is logged in one line at debug level (at ERROR
        with a traceback, as aiohttp does, any client could fill the log)."""
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
            code, text = Code.GATEWAY_FAULT, "internal gateway error (logged)"
        else:
            reason = str(getattr(exc, "message", "") or exc or message or "malformed request")
            log.debug("HTTP request from %s refused by the parser: %s", request.remote, reason)
            code, text = Code.BAD_HTTP, f"malformed HTTP request: {reason[:200]}"
        if request.writer.output_size > 0:  # an answer is on its way already: cut it short
            raise ConnectionError("the response was sent already; closing the connection")
        response = web.Response(status=status, body=_aiges_body(code, text),
                                content_type="application/json",
                                headers={"Server": "athena"})
        response.force_close()
        return response

    def _head_late(self) -> None:
        self._head_timer = None
        if self._force_close or self.transport is None:
            return
        self._connections.timed_out()
        if self._head_started:  # a client that sent nothing gets no answer
            self.transport.write(self._connections.timeout)
        self.force_close()  # the transport sends what was written, then closes

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._manager is not None:  # aiohttp calls this once; count it once too
            self._connections.closed()
        super().connection_lost(exc)


class _Server(web.Server):
    """aiohttp's Server, making a _Connection per connection, or a _Refusal over the cap."""

    def __init__(self, connections: Connections, made: web.Server) -> None:
        # the same handler, request factory and handler arguments as the app's own Server
        super().__init__(made.request_handler, request_factory=made.request_factory,
                         handler_cancellation=made.handler_cancellation,
                         loop=asyncio.get_running_loop(), **made._kwargs)
        self._limits = connections

    def __call__(self) -> Any:  # a Protocol: _Connection or _Refusal
        if self._limits.open >= self._limits.cap:
            return _Refusal(self._limits)
        # counted now, not in connection_made: one wake-up of the loop accepts a batch of
        # sockets and makes all their protocols before any is connected, and each must see
        # the ones before it or the batch goes past the cap
        self._limits.opened()
        return _Connection(self._limits, self, loop=self._loop, **self._kwargs)


class ConnectionRunner(web.AppRunner):
    """web.AppRunner whose sites serve through `connections`."""

    def __init__(self, app: web.Application, connections: Connections, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.connections = connections

    async def _make_server(self) -> web.Server:
        return _Server(self.connections, await super()._make_server())


def http_runner(app: web.Application, settings: GatewaySettings, metrics: GatewayMetrics,
                limits: Limits) -> ConnectionRunner:
    """The runner serving `app` with at most `limits.http` connections, header_timeout_s and
    keepalive_timeout_s (bind its site with `limits.backlog`)."""
    return ConnectionRunner(app, Connections(limits.http, settings.header_timeout_s, metrics),
                            access_log=None, keepalive_timeout=settings.keepalive_timeout_s)

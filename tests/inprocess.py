"""In-process hops for tests: real loader servicers behind real grpc.aio servers on port 0, and
the real gateway app served by aiohttp on port 0 in front of them, all on the test's loop."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import grpc
from aiohttp import web

from gateway.app import make_app
from gateway.connections import connection_limits, http_runner
from gateway.edge import start_edge
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from gateway.upstream import Upstreams
from loader import server
from loader.engine import OnceEngine
from loader.metrics import LoaderMetrics
from loader.plugin import Plugin
from loader.sessions import SessionEngine
from loader.settings import LoaderSettings
from loader.v1 import loader_pb2
from loader.v1.wire import CALL_METHOD, DESCRIBE_METHOD, SESSION_METHOD, message_options

__all__ = [
    "Gateway", "Worker", "closed_port", "eventually", "running_gateway", "running_worker",
    "text_request", "wrapper_calls",
]


class Worker:
    """A worker served in this process: its address, stubs on its own channel, its metrics."""

    def __init__(self, address: str, server: grpc.aio.Server, channel: grpc.aio.Channel,
                 engine: OnceEngine | None, metrics: LoaderMetrics,
                 sessions: SessionEngine | None = None, plugin: Plugin | None = None) -> None:
        self.address = address
        self._server = server
        self.engine = engine
        self.sessions = sessions
        self.plugin = plugin
        self.metrics = metrics
        self.call = channel.unary_unary(
            CALL_METHOD,
            request_serializer=loader_pb2.CallRequest.SerializeToString,
            response_deserializer=loader_pb2.CallResponse.FromString,
        )
        self.call_raw = channel.unary_unary(CALL_METHOD)
        self.session = channel.stream_stream(
            SESSION_METHOD,
            request_serializer=loader_pb2.CallRequest.SerializeToString,
            response_deserializer=loader_pb2.CallResponse.FromString,
        )
        self.describe = channel.unary_unary(
            DESCRIBE_METHOD,
            request_serializer=loader_pb2.DescribeRequest.SerializeToString,
            response_deserializer=loader_pb2.Ability.FromString,
        )

    async def stop(self) -> None:
        """Stop serving now, as a worker that went away would (its block still cleans up)."""
        await self._server.stop(None)


@asynccontextmanager
async def running_worker(wrapper: str, **overrides: Any) -> AsyncIterator[Worker]:
    """The worker `athena loader` runs, minus the process: serving (health SERVING) until the
    block ends, then stopped with its wrapper's threads and wrapperFini."""
    settings = LoaderSettings(wrapper=wrapper, **overrides)
    parts = server.assemble(settings)
    await parts.start()
    address = f"127.0.0.1:{parts.port}"
    options = message_options(settings.max_message_bytes)
    try:
        async with grpc.aio.insecure_channel(address, options=options) as channel:
            yield Worker(address, parts.server, channel, parts.engine, parts.metrics,
                         parts.sessions, parts.plugin)
    finally:
        await parts.drain(None)
        parts.close()


@dataclass
class Gateway:
    """The gateway app serving HTTP on `base`, in front of `upstreams`; `client` is an aiohttp
    session whose relative URLs go to it."""

    base: str
    settings: GatewaySettings
    metrics: GatewayMetrics
    upstreams: Upstreams
    app: web.Application
    client: aiohttp.ClientSession


@asynccontextmanager
async def running_gateway(
    workers: Sequence[str],
    configure: Callable[[web.Application], None] | None = None,
    **overrides: Any,
) -> AsyncIterator[Gateway]:
    """make_app over an Upstreams of `workers` (addresses), on 127.0.0.1 port 0. `configure`
    may add routes before the app starts; `overrides` are GatewaySettings fields."""
    settings = GatewaySettings(workers=tuple(workers), port=0, grpc_port=0, **overrides)
    metrics = GatewayMetrics()
    upstreams = Upstreams(settings, metrics)
    await upstreams.start()
    runner: web.AppRunner | None = None
    try:
        app = make_app(settings, metrics, upstreams)
        if configure is not None:
            configure(app)
        # the production runner: its connection limits and its answers to broken HTTP
        limits = connection_limits(settings)
        runner = http_runner(app, settings, metrics, limits)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=limits.backlog)
        await site.start()
        base = f"http://127.0.0.1:{site.port}"
        async with aiohttp.ClientSession(base) as client:
            yield Gateway(base, settings, metrics, upstreams, app, client)
    finally:
        if runner is not None:
            await runner.cleanup()
        await upstreams.close()


@asynccontextmanager
async def running_edge(gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    """The public gRPC edge of `gateway` (gateway/edge.py) on port 0, and a channel to it."""
    server, port, _ = await start_edge(gateway.upstreams, gateway.settings, gateway.metrics)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


@contextmanager
def closed_port() -> Iterator[str]:
    """An address nothing listens on: bound (so no one else takes it) but never listening, so
    a connection to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def text_request(text: str, **params: str) -> loader_pb2.CallRequest:
    return loader_pb2.CallRequest(
        sid="s1", params=params,
        inputs=[loader_pb2.Data(key="text", type=0, status=3, data=text.encode())],
    )


def wrapper_calls(worker: Worker, code: str = "0") -> int:
    """How many wrapper calls the worker has finished with `code`, as its /metrics says."""
    value = worker.metrics.registry.get_sample_value(
        "athena_loader_wrapper_calls_total", {"op": "once", "code": code})
    return int(value or 0)


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> bool:
    """Whether `condition` holds within `within` seconds (polled; the loop keeps running)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True

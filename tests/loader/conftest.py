"""In-process loader workers: the real servicer behind a real grpc.aio server on port 0."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from loader.engine import OnceEngine
from loader.metrics import LoaderMetrics
from loader.plugin import Plugin
from loader.server import build_server
from loader.servicer import LoaderServicer
from loader.settings import LoaderSettings
from loader.threads import WrapperThreads
from loader.v1 import loader_pb2
from loader.v1.wire import CALL_METHOD, DESCRIBE_METHOD, message_options


class Worker:
    def __init__(self, channel: grpc.aio.Channel, engine: OnceEngine | None,
                 metrics: LoaderMetrics) -> None:
        self.engine = engine
        self.metrics = metrics
        self.call = channel.unary_unary(
            CALL_METHOD,
            request_serializer=loader_pb2.CallRequest.SerializeToString,
            response_deserializer=loader_pb2.CallResponse.FromString,
        )
        self.call_raw = channel.unary_unary(CALL_METHOD)
        self.describe = channel.unary_unary(
            DESCRIBE_METHOD,
            request_serializer=loader_pb2.DescribeRequest.SerializeToString,
            response_deserializer=loader_pb2.Ability.FromString,
        )


@asynccontextmanager
async def running_worker(wrapper: str, **overrides: Any) -> AsyncIterator[Worker]:
    settings = LoaderSettings(wrapper=wrapper, **overrides)
    plugin = Plugin.load(wrapper)
    plugin.init(dict(settings.wrapper_config))
    metrics = LoaderMetrics()
    threads = WrapperThreads(settings.licence)
    engine = None if plugin.once is None else OnceEngine(
        plugin, settings.licence, settings.inline_under_ms, metrics, threads)
    servicer = LoaderServicer(plugin, settings, metrics, engine)
    server, _, port = build_server(settings, servicer)
    await server.start()
    options = message_options(settings.max_message_bytes)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            yield Worker(channel, engine, metrics)
    finally:
        await server.stop(None)
        threads.shutdown()
        plugin.fini()


@pytest.fixture
def worker() -> Callable[..., Any]:
    return running_worker


def text_request(text: str, **params: str) -> loader_pb2.CallRequest:
    return loader_pb2.CallRequest(
        sid="s1", params=params,
        inputs=[loader_pb2.Data(key="text", type=0, status=3, data=text.encode())],
    )

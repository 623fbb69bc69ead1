"""In-process loader workers: the real servicer behind a real grpc.aio server on port 0."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from loader.metrics import LoaderMetrics
from loader.plugin import Plugin
from loader.server import build_server
from loader.servicer import LoaderServicer
from loader.settings import LoaderSettings, message_options
from loader.threads import WrapperThreads
from loader.v1 import loader_pb2


class Worker:
    def __init__(self, channel: grpc.aio.Channel, servicer: LoaderServicer,
                 metrics: LoaderMetrics) -> None:
        self.servicer = servicer
        self.metrics = metrics
        self.call = channel.unary_unary(
            "/loader.v1.Loader/Call",
            request_serializer=loader_pb2.CallRequest.SerializeToString,
            response_deserializer=loader_pb2.CallResponse.FromString,
        )
        self.call_raw = channel.unary_unary("/loader.v1.Loader/Call")
        self.describe = channel.unary_unary(
            "/loader.v1.Loader/Describe",
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
    servicer = LoaderServicer(plugin, settings, metrics, threads)
    server, _, port = build_server(settings, servicer)
    await server.start()
    options = message_options(settings.max_message_bytes)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            yield Worker(channel, servicer, metrics)
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

"""Gateway errors (gateway/errors.py): a worker's status to the HTTP error, each class's status
and code, and a fault in the gateway itself reported as 10500 at both edges."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from aiohttp import web

from gateway.edge import start_edge
from gateway.errors import (
    AbilityFailed,
    AllBusy,
    BadRequest,
    BodyTimeout,
    DeadlineExceeded,
    Forbidden,
    GatewayError,
    GatewayFault,
    MethodNotAllowed,
    NotFound,
    NoWorker,
    TooLarge,
    Unauthenticated,
    UnsupportedEncoding,
    WorkerLost,
    from_worker,
)
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from gateway.upstream import Upstreams
from loader.v1.codes import Code
from loader.v1.status import aiges_code_from, to_rpc_status
from loader.v1.wire import ABILITY_METADATA, CALL_METHOD, message_options
from tests.inprocess import Gateway, closed_port, running_worker, text_request
from tests.support import ABILITIES, aiges_body, text_item

FAULTY = str(ABILITIES / "faulty" / "wrapper.py")
RETRY_AFTER_S = 7


async def failure(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def http_view(error: GatewayError) -> tuple[type[GatewayError], int, int]:
    return type(error), error.http_status, error.code


@pytest.mark.parametrize(
    ("mode", "kind", "code", "message_part"),
    [
        ("error_code", AbilityFailed, 4711, "the model refused this input"),
        ("raise", AbilityFailed, 10909, "KeyError"),
        ("none", AbilityFailed, 10106, "not a Response"),
        ("bad_data", AbilityFailed, 10106, "cannot be sent"),
    ],
)
async def test_a_failing_wrapper_is_500_with_the_workers_code_and_message(
    mode: str, kind: type[GatewayError], code: int, message_part: str
) -> None:
    async with running_worker(FAULTY) as worker:
        error = from_worker(await failure(worker.call(text_request("x", mode=mode))),
                            RETRY_AFTER_S)
    assert http_view(error) == (kind, 500, code)
    assert message_part in error.message
    assert error.headers == {}


async def test_a_wrapper_error_code_reaches_the_http_client_as_500_with_code_and_text(
    gateway: Gateway,
) -> None:
    body = aiges_body("faulty", {"text": text_item("x")}, {"mode": "error_code"})
    async with gateway.client.post("/v1/private/faulty", json=body) as response:
        status, header = response.status, (await response.json())["header"]
    assert status == 500
    assert header["code"] == 4711
    assert header["message"] == "the model refused this input: try a shorter text"
    assert header["sid"].startswith("atn")


async def test_request_bytes_the_worker_cannot_parse_are_400_with_10001() -> None:
    async with running_worker(FAULTY) as worker:
        error = from_worker(await failure(worker.call_raw(b"\x1a\xff\xff\xff\x0f")),
                            RETRY_AFTER_S)
    assert http_view(error) == (BadRequest, 400, 10001)
    assert "CallRequest" in error.message


async def test_a_worker_at_its_licence_is_429_with_10110_and_retry_after() -> None:
    async with running_worker(FAULTY, licence=1) as worker:
        held = asyncio.ensure_future(worker.call(text_request("x", mode="sleep", seconds="1")))
        while worker.engine is not None and worker.engine.in_use == 0:
            await asyncio.sleep(0.01)
        error = from_worker(await failure(worker.call(text_request("x"))), RETRY_AFTER_S)
        await held
    assert http_view(error) == (AllBusy, 429, 10110)
    assert error.headers == {"Retry-After": "7"}


async def test_a_call_past_its_deadline_is_504_with_10102() -> None:
    async with running_worker(FAULTY) as worker:
        error = from_worker(
            await failure(worker.call(text_request("x", mode="sleep", seconds="0.5"),
                                      timeout=0.05)),
            RETRY_AFTER_S)
    assert http_view(error) == (DeadlineExceeded, 504, 10102)
    # the client's deadline or the worker's own (it reads the time remaining): both say so
    assert "deadline" in error.message


async def test_a_message_over_the_workers_size_limit_is_413_with_10413() -> None:
    async with running_worker(FAULTY, max_message_mb=1) as worker:
        # a channel that sends what the worker will refuse: the worker's limit is the point
        async with grpc.aio.insecure_channel(
                worker.address, options=message_options(16 * 1024 * 1024)) as channel:
            call = channel.unary_unary(CALL_METHOD)
            big = text_request("x" * (2 * 1024 * 1024)).SerializeToString()
            error = from_worker(await failure(call(big, timeout=10)), RETRY_AFTER_S)
    assert http_view(error) == (TooLarge, 413, 10413)
    assert "max_message_mb" in error.message


async def test_an_unreachable_worker_is_503_with_10503_and_retry_after() -> None:
    with closed_port() as address:
        async with grpc.aio.insecure_channel(address) as channel:
            call = channel.unary_unary(CALL_METHOD)
            error = from_worker(await failure(call(b"", timeout=10)), RETRY_AFTER_S)
    assert http_view(error) == (NoWorker, 503, 10503)
    assert error.headers == {"Retry-After": "7"}


@pytest.mark.parametrize(
    ("status", "sent_code", "kind", "http_status", "code"),
    [
        (grpc.StatusCode.NOT_FOUND, Code.ROUTE_NOT_FOUND, NotFound, 404, 10404),
        (grpc.StatusCode.CANCELLED, None, NoWorker, 503, 10503),
        (grpc.StatusCode.INVALID_ARGUMENT, Code.BAD_PARAMETER, BadRequest, 400, 10107),
        (grpc.StatusCode.INVALID_ARGUMENT, None, BadRequest, 400, 10001),
        (grpc.StatusCode.DEADLINE_EXCEEDED, Code.ONCE_TIMEOUT, DeadlineExceeded, 504, 10102),
        (grpc.StatusCode.UNKNOWN, None, AbilityFailed, 500, 10909),
    ],
)
def test_other_worker_statuses_map_by_their_status_and_code(
    status: grpc.StatusCode, sent_code: int | None, kind: type[GatewayError],
    http_status: int, code: int,
) -> None:
    trailing = () if sent_code is None else to_rpc_status(status, sent_code, "m").trailing_metadata
    error = grpc.aio.AioRpcError(status, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing),
                                 details="from the worker")
    assert http_view(from_worker(error, RETRY_AFTER_S)) == (kind, http_status, code)


_TABLE = {  # the table in gateway/errors.py's docstring
    BadRequest: (400, grpc.StatusCode.INVALID_ARGUMENT, 10163),
    Unauthenticated: (401, grpc.StatusCode.UNAUTHENTICATED, 10401),
    Forbidden: (403, grpc.StatusCode.PERMISSION_DENIED, 10403),
    NotFound: (404, grpc.StatusCode.NOT_FOUND, 10404),
    MethodNotAllowed: (405, grpc.StatusCode.UNIMPLEMENTED, 10163),
    BodyTimeout: (408, grpc.StatusCode.DEADLINE_EXCEEDED, 10408),
    TooLarge: (413, grpc.StatusCode.RESOURCE_EXHAUSTED, 10413),
    UnsupportedEncoding: (415, grpc.StatusCode.INVALID_ARGUMENT, 10415),
    AllBusy: (429, grpc.StatusCode.RESOURCE_EXHAUSTED, 10110),
    AbilityFailed: (500, grpc.StatusCode.INTERNAL, 10909),
    GatewayFault: (500, grpc.StatusCode.INTERNAL, 10500),
    WorkerLost: (502, grpc.StatusCode.UNAVAILABLE, 10109),
    NoWorker: (503, grpc.StatusCode.UNAVAILABLE, 10503),
    DeadlineExceeded: (504, grpc.StatusCode.DEADLINE_EXCEEDED, 10102),
}


def test_the_table_names_every_gateway_error() -> None:
    assert set(GatewayError.__subclasses__()) == set(_TABLE)


@pytest.mark.parametrize("kind", list(_TABLE), ids=lambda kind: kind.__name__)
def test_each_errors_rpc_status_carries_its_code_in_the_details(
    kind: type[GatewayError],
) -> None:
    http_status, grpc_status, code = _TABLE[kind]
    error = kind("what went wrong")
    status = error.rpc_status()
    assert (error.http_status, error.grpc_status, error.code) == (http_status, grpc_status, code)
    assert status.code is grpc_status
    assert status.details == "what went wrong"
    assert aiges_code_from(status.trailing_metadata) == code


def test_a_code_given_to_an_error_is_the_one_its_status_carries() -> None:
    status = BadRequest("payload 'text': not base64", Code.REQUEST_CONVERSION).rpc_status()
    assert aiges_code_from(status.trailing_metadata) == 10001


def _add_faulty_route(app: web.Application) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise ZeroDivisionError("a gateway bug")

    app.router.add_get("/broken", broken)


async def test_an_unexpected_exception_in_a_route_is_500_with_10500_never_10909(
    start_gateway: Callable[..., Any],
) -> None:
    async with start_gateway([], configure=_add_faulty_route) as running:
        async with running.client.get("/broken") as response:
            status, body = response.status, await response.json()
        counted = running.metrics.registry.get_sample_value(
            "athena_gateway_http_requests_total",
            {"route": "unmatched", "method": "GET", "code": "500"})
    assert status == 500
    assert body["header"]["code"] == Code.GATEWAY_FAULT == 10500
    assert body["header"]["message"] == "internal gateway error; see the gateway log"
    assert "ZeroDivisionError" not in str(body)  # the traceback is for the log, not the client
    assert counted == 1


async def test_an_unexpected_exception_at_the_grpc_edge_is_internal_with_10500() -> None:
    async with running_worker(FAULTY) as worker:
        settings = GatewaySettings(workers=(worker.address,), grpc_port=0)
        metrics = GatewayMetrics()
        upstreams = Upstreams(settings, metrics)
        await upstreams.start()  # learns the ability ...
        await upstreams.close()  # ... then loses its channels: forwarding fails unexpectedly
        edge, port, _ = await start_edge(upstreams, settings, metrics)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary(CALL_METHOD)
                error = await failure(call(text_request("x").SerializeToString(), timeout=10,
                                           metadata=[(ABILITY_METADATA, "faulty")]))
        finally:
            await edge.stop(None)
    assert error.code() is grpc.StatusCode.INTERNAL
    assert aiges_code_from(error.trailing_metadata()) == 10500
    assert error.details() == "internal gateway error; see the gateway log"
    assert metrics.registry.get_sample_value(
        "athena_gateway_grpc_requests_total", {"method": "Call", "grpc_code": "INTERNAL"}) == 1


async def test_no_reachable_worker_at_the_grpc_edge_is_unavailable_with_10503() -> None:
    async with running_worker(FAULTY) as worker:
        settings = GatewaySettings(workers=(worker.address,), grpc_port=0,
                                   health_interval_s=3600)
        metrics = GatewayMetrics()
        upstreams = Upstreams(settings, metrics)
        await upstreams.start()
        edge, port, _ = await start_edge(upstreams, settings, metrics)
        try:
            await worker.stop()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary(CALL_METHOD)
                error = await failure(call(text_request("x").SerializeToString(), timeout=10))
        finally:
            await edge.stop(None)
            await upstreams.close()
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert aiges_code_from(error.trailing_metadata()) == 10503
    assert "no worker of 'faulty' is reachable" in (error.details() or "")

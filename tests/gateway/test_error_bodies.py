"""What error bodies tell clients (gateway/errors.py worker_message and relayed): a wrapper's
exception as its type, method and sid, its text only with [gateway] expose_wrapper_errors; no
worker address on any transport; hostile gRPC bytes at the edge are INVALID_ARGUMENT, 10001."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import grpc
import pytest
from google.rpc import status_pb2

from loader.v1 import loader_pb2
from loader.v1.status import DETAILS_KEY, aiges_code_from, error_info_from
from loader.v1.wire import ABILITY_METADATA, CALL_METHOD, DESCRIBE_METHOD, SESSION_METHOD
from tests.inprocess import (
    Gateway,
    closed_port,
    eventually,
    running_edge,
    running_gateway,
    running_worker,
)
from tests.support import ABILITIES, aiges_body, echo_frame, text_item

FAULTY = str(ABILITIES / "faulty" / "wrapper.py")
STREAM_ECHO = str(ABILITIES / "stream_echo" / "wrapper.py")
SECRET = "secret internal detail"  # what the faulty wrapper's KeyError says


@dataclass
class Edge:
    gateway: Gateway
    channel: grpc.aio.Channel

    async def call(self, request: bytes, ability: str = "faulty") -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await self.channel.unary_unary(CALL_METHOD)(
                request, metadata=[(ABILITY_METADATA, ability)], timeout=10)
        return caught.value


@asynccontextmanager
async def serving(*wrappers: str, **settings: Any) -> AsyncIterator[Edge]:
    """The gateway (HTTP and its public gRPC edge, both port 0) over a worker of each."""
    async with running_worker(wrappers[0]) as first:
        addresses = [first.address]
        if len(wrappers) > 1:
            async with running_worker(wrappers[1]) as second:
                addresses.append(second.address)
                async with _edge(addresses, **settings) as edge:
                    yield edge
            return
        async with _edge(addresses, **settings) as edge:
            yield edge


@asynccontextmanager
async def _edge(addresses: list[str], **settings: Any) -> AsyncIterator[Edge]:
    async with running_gateway(addresses, **settings) as gateway, \
            running_edge(gateway) as channel:
        yield Edge(gateway, channel)


def raising(text: str = "x") -> bytes:
    return loader_pb2.CallRequest(params={"mode": "raise"}, inputs=[
        loader_pb2.Data(key="text", type=0, status=3, data=text.encode())]).SerializeToString()


def trailer_message(error: grpc.aio.AioRpcError) -> str:
    """The message of the google.rpc.Status in the trailers (stock tooling shows this one)."""
    value = dict(error.trailing_metadata() or ())[DETAILS_KEY]
    assert isinstance(value, bytes)
    return str(status_pb2.Status.FromString(value).message)


async def post(gateway: Gateway, mode: str) -> tuple[int, dict[str, Any]]:
    body = aiges_body("faulty", {"text": text_item("x")}, {"mode": mode, "seconds": "2"})
    async with gateway.client.post("/v1/private/faulty", json=body) as response:
        return response.status, (await response.json())["header"]


async def test_a_wrapper_exception_reaches_an_http_client_as_its_type_and_sid_not_its_text(
) -> None:
    async with serving(FAULTY) as edge:
        status, header = await post(edge.gateway, "raise")
    assert (status, header["code"]) == (500, 10909)
    assert SECRET not in header["message"]
    assert header["message"] == (f"wrapperOnceExec raised KeyError; its message is in the "
                                 f"worker's log (sid {header['sid']})")


async def test_with_expose_wrapper_errors_the_http_client_gets_the_exception_text() -> None:
    async with serving(FAULTY, expose_wrapper_errors=True) as edge:
        status, header = await post(edge.gateway, "raise")
    assert (status, header["code"]) == (500, 10909)
    assert header["message"] == f"wrapperOnceExec raised KeyError: '{SECRET}'"


async def test_a_wrapper_returned_code_keeps_its_code_and_wrapper_error_text() -> None:
    """A code the wrapper returned is its deliberate answer: code and wrapperError text stay."""
    async with serving(FAULTY) as edge:
        status, header = await post(edge.gateway, "error_code")
    assert (status, header["code"]) == (500, 4711)
    assert header["message"] == "the model refused this input: try a shorter text"


async def test_a_wrapper_exception_reaches_a_grpc_call_as_type_and_sid_in_both_messages(
) -> None:
    async with serving(FAULTY) as edge:
        error = await edge.call(raising())
    assert error.code() is grpc.StatusCode.INTERNAL
    assert aiges_code_from(error.trailing_metadata()) == 10909
    info = error_info_from(error.trailing_metadata())
    assert (info["exception"], info["method"]) == ("KeyError", "wrapperOnceExec")
    assert info["sid"]  # the worker made one: the client sent none
    for message in (error.details() or "", trailer_message(error)):
        assert SECRET not in message
        assert "KeyError" in message and info["sid"] in message


async def test_with_expose_wrapper_errors_a_grpc_call_gets_the_exception_text() -> None:
    async with serving(FAULTY, expose_wrapper_errors=True) as edge:
        error = await edge.call(raising())
    assert SECRET in (error.details() or "") and SECRET in trailer_message(error)
    assert aiges_code_from(error.trailing_metadata()) == 10909


async def test_a_wrapper_exception_in_a_websocket_session_is_an_error_frame_without_text(
) -> None:
    async with serving(STREAM_ECHO) as edge:
        async with edge.gateway.client.ws_connect("/v1/private/stream_echo") as ws:
            await ws.send_json(echo_frame("a", 0, first=True, fail_write="b"))
            await ws.send_json(echo_frame("b", 1))
            frames = [json.loads(m.data) async for m in ws if m.type is aiohttp.WSMsgType.TEXT]
    header = frames[-1]["header"]
    assert header["code"] == 10907
    assert "refused" not in header["message"]
    assert header["message"] == (f"wrapperWrite raised KeyError; its message is in the "
                                 f"worker's log (sid {header['sid']})")


async def test_a_wrapper_exception_in_an_event_stream_is_an_error_without_text() -> None:
    body = {"header": {"app_id": "test"},
            "parameter": {"stream_echo": {"fail_write": "b", "result": {"encoding": "utf8"}}},
            "payload": {"text": {"encoding": "utf8", "status": 3, "text": "Yg=="}}}
    async with serving(STREAM_ECHO) as edge:
        async with edge.gateway.client.post(
                "/v1/private/stream_echo", json=body,
                headers={"Accept": "text/event-stream"}) as response:
            status, header = response.status, (await response.json())["header"]
    assert (status, header["code"]) == (500, 10907)
    assert "refused" not in header["message"] and "KeyError" in header["message"]


async def test_a_wrapper_exception_in_a_grpc_session_is_a_status_without_text() -> None:
    first = loader_pb2.CallRequest(
        params={"fail_write": "b"},
        accepts=[loader_pb2.Accept(key="result", attrs={"encoding": "utf8"})],
        inputs=[loader_pb2.Data(key="text", type=0, status=0, data=b"a")])
    second = loader_pb2.CallRequest(inputs=[loader_pb2.Data(key="text", type=0, status=1,
                                                            data=b"b")])
    async with serving(STREAM_ECHO) as edge:
        call = edge.channel.stream_stream(SESSION_METHOD)(
            metadata=[(ABILITY_METADATA, "stream_echo")], timeout=10)
        await call.write(first.SerializeToString())
        await call.write(second.SerializeToString())
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
    error = caught.value
    assert aiges_code_from(error.trailing_metadata()) == 10907
    for message in (error.details() or "", trailer_message(error)):
        assert "refused" not in message and "wrapperWrite raised KeyError" in message


async def test_a_worker_that_dies_holding_a_call_is_502_naming_its_ability_not_address(
) -> None:
    async with running_worker(FAULTY) as worker, \
            running_gateway([worker.address]) as gateway:
        address = worker.address
        held = asyncio.ensure_future(post(gateway, "sleep"))
        assert await eventually(lambda: worker.engine is not None and worker.engine.in_use > 0)
        await worker.stop()  # its server goes away mid-call, as a crashed worker's would
        status, header = await held
    assert (status, header["code"]) == (502, 10109)
    assert "'faulty'" in header["message"]
    assert address not in header["message"] and "127.0.0.1" not in header["message"]


async def test_no_reachable_worker_is_503_without_the_address_on_http_and_grpc() -> None:
    """The worker went before a health probe noticed: the calls fail to connect, and grpc's
    text for that names the address; the client hears the ability and grpc's status name."""
    async with running_worker(FAULTY) as worker, \
            _edge([worker.address], health_interval_s=60.0) as edge:
        port = worker.address.rsplit(":", 1)[1]
        await worker.stop()
        status, header = await post(edge.gateway, "ok")
        error = await edge.call(raising())
    assert (status, header["code"]) == (503, 10503)
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    for message in (header["message"], error.details() or ""):
        assert "'faulty'" in message
        assert port not in message and "127.0.0.1" not in message


async def test_the_public_readyz_names_workers_by_index_never_by_address() -> None:
    with closed_port() as dead:
        async with serving(FAULTY) as edge:
            live = edge.gateway.upstreams.endpoints[0].address
            async with running_gateway([dead, live]) as gateway:
                async with gateway.client.get("/readyz") as response:
                    text = await response.text()
    ready = json.loads(text)
    assert [(w["worker"], w["healthy"]) for w in ready["workers"]] == [(0, False), (1, True)]
    for address in (dead, live):
        assert address.rsplit(":", 1)[1] not in text
    assert "127.0.0.1" not in text


async def test_a_garbage_describe_at_the_edge_is_invalid_argument_with_10001() -> None:
    async with serving(FAULTY) as edge:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await edge.channel.unary_unary(DESCRIBE_METHOD)(
                b"\xff\xff\xff", metadata=[(ABILITY_METADATA, "faulty")], timeout=10)
        sane = await edge.channel.unary_unary(
            DESCRIBE_METHOD, response_deserializer=loader_pb2.Ability.FromString)(
            b"", metadata=[(ABILITY_METADATA, "faulty")], timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert aiges_code_from(caught.value.trailing_metadata()) == 10001
    assert sane.service_id == "faulty"  # the edge still answers a good one
    assert sane.wrapper == ""  # where the worker loaded it from is not the client's business


async def test_garbage_call_bytes_at_the_edge_are_invalid_argument_with_10001() -> None:
    async with serving(FAULTY) as edge:
        error = await edge.call(b"\x1a\xff\xff\xff\x0f")
        ok = loader_pb2.CallRequest(inputs=[loader_pb2.Data(key="text", type=0, status=3,
                                                            data=b"x")])
        good = await edge.channel.unary_unary(CALL_METHOD)(
            ok.SerializeToString(), metadata=[(ABILITY_METADATA, "faulty")], timeout=10)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert aiges_code_from(error.trailing_metadata()) == 10001
    assert loader_pb2.CallResponse.FromString(good).outputs[0].data == b"ok"


@pytest.mark.parametrize("later", [False, True], ids=["first_frame", "later_frame"])
async def test_garbage_session_bytes_at_the_edge_are_invalid_argument_with_10001(
        later: bool) -> None:
    opening = loader_pb2.CallRequest(
        accepts=[loader_pb2.Accept(key="result", attrs={"encoding": "utf8"})],
        inputs=[loader_pb2.Data(key="text", type=0, status=0, data=b"a")]).SerializeToString()
    async with serving(STREAM_ECHO) as edge:
        call = edge.channel.stream_stream(SESSION_METHOD)(
            metadata=[(ABILITY_METADATA, "stream_echo")], timeout=10)
        if later:
            await call.write(opening)
        await call.write(b"\x1a\xff\xff\xff\x0f")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert aiges_code_from(caught.value.trailing_metadata()) == 10001

"""The gateway's public gRPC port: raw loader.v1 calls and Session streams forwarded to
workers, errors intact."""
from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from loader.v1 import loader_pb2
from loader.v1.status import aiges_code_from
from loader.v1.wire import SESSION_METHOD
from tests.inprocess import (
    Gateway,
    Worker,
    eventually,
    running_edge,
    running_gateway,
    running_worker,
)
from tests.support import ABILITIES, ATHENA, ROOT, Stack, serve, stop, wait_for_file


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    wrappers = [ROOT / "wrappers/echo/wrapper.py", ABILITIES / "faulty" / "wrapper.py"]
    with serve(tmp_path_factory.mktemp("edge"), wrappers, "--workers", "1") as running:
        yield running


@pytest.fixture
def channel(stack: Stack) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(stack.grpc) as channel:
        yield channel


def _call(channel: grpc.Channel):  # type: ignore[no-untyped-def]
    return channel.unary_unary(
        "/loader.v1.Loader/Call",
        request_serializer=loader_pb2.CallRequest.SerializeToString,
        response_deserializer=loader_pb2.CallResponse.FromString,
    )


def _request(text: str, **params: str) -> loader_pb2.CallRequest:
    return loader_pb2.CallRequest(params=params, inputs=[
        loader_pb2.Data(key="text", type=0, status=3, data=text.encode())])


def test_call_through_the_gateway_reaches_the_named_ability(channel: grpc.Channel) -> None:
    reply = _call(channel)(_request("over grpc"), metadata=[("athena-ability", "echo")],
                           timeout=10)
    assert reply.outputs[0].data == b"over grpc"
    assert reply.sid  # the worker assigns one when the client sent none


def test_wrapper_error_code_arrives_in_the_status_details(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _call(channel)(_request("x", mode="error_code"),
                       metadata=[("athena-ability", "faulty")], timeout=10)
    error = caught.value
    assert error.code() is grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
    assert aiges_code_from(error.trailing_metadata()) == 4711  # type: ignore[attr-defined]
    assert "refused" in error.details()  # type: ignore[attr-defined]


def test_unnamed_ability_with_several_served_is_not_found(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _call(channel)(_request("x"), timeout=10)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert aiges_code_from(caught.value.trailing_metadata()) == 10404  # type: ignore[attr-defined]
    assert "echo" in caught.value.details()  # type: ignore[attr-defined]


def test_describe_and_health_on_the_public_port(channel: grpc.Channel) -> None:
    describe = channel.unary_unary(
        "/loader.v1.Loader/Describe",
        request_serializer=loader_pb2.DescribeRequest.SerializeToString,
        response_deserializer=loader_pb2.Ability.FromString,
    )
    ability = describe(loader_pb2.DescribeRequest(), metadata=[("athena-ability", "echo")])
    assert ability.route == "/v1/private/echo"
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING


# -- the Session stream, through an in-process gateway edge in front of in-process workers --

ECHO_STREAM = str(ABILITIES / "stream_echo" / "wrapper.py")
ECHO_ONCE = str(ROOT / "wrappers/echo/wrapper.py")


@dataclass
class Edge:
    """The gateway's public gRPC edge (port 0) over the workers `gateway` routes to."""

    gateway: Gateway
    channel: grpc.aio.Channel

    def session(self, ability: str = "stream_echo",
                timeout: float = 10) -> grpc.aio.StreamStreamCall:
        open_session = self.channel.stream_stream(
            SESSION_METHOD,
            request_serializer=loader_pb2.CallRequest.SerializeToString,
            response_deserializer=loader_pb2.CallResponse.FromString,
        )
        return open_session(metadata=[("athena-ability", ability)], timeout=timeout)

    def sample(self, name: str, labels: dict[str, str]) -> float:
        return self.gateway.metrics.registry.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def serving_edge(*workers: str, **overrides: Any) -> AsyncIterator[Edge]:
    async with running_gateway(workers, **overrides) as gateway, \
            running_edge(gateway) as channel:
        yield Edge(gateway, channel)


@pytest.fixture
async def stream_worker() -> AsyncIterator[Worker]:
    async with running_worker(ECHO_STREAM) as worker:
        yield worker


def opening(text: str, status: int = 0, **params: str) -> loader_pb2.CallRequest:
    return loader_pb2.CallRequest(
        params=params, accepts=[loader_pb2.Accept(key="result", attrs={"encoding": "utf8"})],
        inputs=[loader_pb2.Data(key="text", type=0, status=status, data=text.encode())])  # type: ignore[arg-type]


def frame(text: str, status: int) -> loader_pb2.CallRequest:
    return loader_pb2.CallRequest(
        inputs=[loader_pb2.Data(key="text", type=0, status=status, data=text.encode())])  # type: ignore[arg-type]


def sessions_active(worker: Worker) -> float:
    return worker.metrics.registry.get_sample_value("athena_loader_sessions_active") or 0.0


async def test_session_frames_0_1_2_come_back_in_order_ending_with_status_2(
        stream_worker: Worker) -> None:
    async with serving_edge(stream_worker.address) as edge:
        call = edge.session()
        for request in (opening("a", sid="client-sid"), frame("b", 1), frame("c", 2)):
            await call.write(request)
        await call.done_writing()
        replies = [reply async for reply in call]
        assert await call.code() is grpc.StatusCode.OK
        assert [(r.outputs[0].data, r.outputs[0].status) for r in replies] == [
            (b"A", 0), (b"B", 1), (b"C", 2)]
        assert {r.sid for r in replies} == {"client-sid"}  # the client's sid, untouched
        assert await eventually(lambda: sessions_active(stream_worker) == 0)
        grpc_labels = {"ability": "stream_echo", "transport": "grpc"}
        assert edge.sample("athena_gateway_session_ends_total",
                           {**grpc_labels, "reason": "completed"}) == 1
        assert edge.sample("athena_gateway_sessions", grpc_labels) == 0
        for direction in ("in", "out"):
            assert edge.sample("athena_gateway_session_frames_total",
                               {"ability": "stream_echo", "direction": direction}) == 3
        assert edge.sample("athena_gateway_grpc_requests_total",
                           {"method": "Session", "grpc_code": "OK"}) == 1
        assert edge.sample("athena_gateway_grpc_duration_seconds_count",
                           {"method": "Session"}) == 1


async def test_session_results_come_while_the_client_is_still_sending(
        stream_worker: Worker) -> None:
    async with serving_edge(stream_worker.address) as edge:
        call = edge.session()
        await call.write(opening("a"))
        first = await asyncio.wait_for(call.read(), 5)
        assert first.outputs[0].data == b"A" and first.sid  # the worker made a sid
        await call.write(frame("z", 2))
        last = await asyncio.wait_for(call.read(), 5)
        assert last.outputs[0].data == b"Z" and last.sid == first.sid
        # the worker ended the stream after the final result: no half-close needed
        assert await asyncio.wait_for(call.read(), 5) is grpc.aio.EOF
        assert await call.code() is grpc.StatusCode.OK


async def test_session_wrapper_error_reaches_the_client_with_its_code(
        stream_worker: Worker) -> None:
    async with serving_edge(stream_worker.address) as edge:
        call = edge.session()
        await call.write(opening("a", fail_write="b"))
        await call.write(frame("b", 1))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
        assert caught.value.code() is grpc.StatusCode.INTERNAL
        assert aiges_code_from(caught.value.trailing_metadata()) == 10907
        assert await eventually(lambda: sessions_active(stream_worker) == 0)
        assert edge.sample("athena_gateway_session_ends_total", {
            "ability": "stream_echo", "transport": "grpc", "reason": "error"}) == 1
        # counted once the handler has returned, which may be just after the client heard
        assert await eventually(lambda: edge.sample(
            "athena_gateway_grpc_requests_total",
            {"method": "Session", "grpc_code": "INTERNAL"}) == 1)


async def test_session_cancelled_by_the_client_is_destroyed_on_the_worker(
        stream_worker: Worker) -> None:
    async with serving_edge(stream_worker.address) as edge:
        call = edge.session()
        await call.write(opening("a"))
        assert (await asyncio.wait_for(call.read(), 5)).outputs[0].data == b"A"
        assert sessions_active(stream_worker) == 1
        call.cancel()
        assert await eventually(lambda: sessions_active(stream_worker) == 0)
        assert await eventually(lambda: edge.gateway.upstreams.endpoints[0].outstanding == 0)
        assert await eventually(lambda: edge.sample("athena_gateway_session_ends_total", {
            "ability": "stream_echo", "transport": "grpc", "reason": "client_gone"}) == 1)
        assert edge.sample("athena_gateway_sessions",
                           {"ability": "stream_echo", "transport": "grpc"}) == 0


async def test_session_past_the_session_timeout_is_deadline_exceeded_with_10114(
        stream_worker: Worker) -> None:
    async with serving_edge(stream_worker.address, ws_session_timeout_s=0.3) as edge:
        call = edge.session()
        await call.write(opening("a"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
        assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert aiges_code_from(caught.value.trailing_metadata()) == 10114
        assert "sessionTimeout" in (caught.value.details() or "")
        assert await eventually(lambda: sessions_active(stream_worker) == 0)
        assert edge.sample("athena_gateway_session_ends_total", {
            "ability": "stream_echo", "transport": "grpc", "reason": "timeout"}) == 1


async def test_session_for_an_unknown_ability_is_not_found(stream_worker: Worker) -> None:
    async with serving_edge(stream_worker.address) as edge:
        call = edge.session("nope")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.write(opening("a"))  # raises when the edge refused before it went out
            await call.read()
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        assert aiges_code_from(caught.value.trailing_metadata()) == 10404
        assert "stream_echo" in (caught.value.details() or "")


async def test_session_on_a_once_only_ability_is_invalid_argument_naming_call(
        stream_worker: Worker) -> None:
    async with running_worker(ECHO_ONCE) as once, \
            serving_edge(stream_worker.address, once.address) as edge:
        call = edge.session("echo")
        await call.write(opening("a"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "use Call" in (caught.value.details() or "")
        assert aiges_code_from(caught.value.trailing_metadata()) is not None


async def test_session_whose_worker_dies_is_unavailable_with_10109(tmp_path: Path) -> None:
    ready, log = tmp_path / "worker.json", tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen([ATHENA, "loader", ECHO_STREAM, "--ready-file", str(ready)],
                                  cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        port = (await asyncio.to_thread(wait_for_file, ready, worker, log))["port"]
        async with serving_edge(f"127.0.0.1:{port}") as edge:
            call = edge.session(timeout=30)
            await call.write(opening("a"))
            assert (await asyncio.wait_for(call.read(), 10)).outputs[0].data == b"A"
            worker.kill()
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await asyncio.wait_for(call.read(), 10)  # promptly, not at the deadline
            assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
            assert aiges_code_from(caught.value.trailing_metadata()) == 10109
            assert edge.sample("athena_gateway_session_ends_total", {
                "ability": "stream_echo", "transport": "grpc", "reason": "worker_lost"}) == 1
    finally:
        stop(worker)

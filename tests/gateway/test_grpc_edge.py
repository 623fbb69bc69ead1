"""The gateway's public gRPC port: raw loader.v1 calls forwarded to workers, errors intact."""
from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from loader.v1 import loader_pb2
from loader.v1.status import aiges_code_from
from tests.support import ABILITIES, ROOT, Stack, serve


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

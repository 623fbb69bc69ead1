"""The worker's gRPC servicer, through a real grpc.aio server, with real wrapper files."""
from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from loader.v1 import loader_pb2
from loader.v1.status import aiges_code_from
from tests.loader.conftest import text_request
from tests.support import ABILITIES, ROOT

FAULTY = str(ABILITIES / "faulty" / "wrapper.py")
VARIANTS = ABILITIES / "variants"


async def _error_of(call: object) -> tuple[grpc.StatusCode, int | None, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    error = caught.value
    return error.code(), aiges_code_from(error.trailing_metadata()), error.details() or ""


async def test_wrapper_sees_a_view_into_the_bytes_grpcio_delivered(worker) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    request = loader_pb2.CallRequest(
        inputs=[loader_pb2.Data(key="blob", type=1, status=3, data=payload)])
    async with worker(str(ABILITIES / "zerocopy" / "wrapper.py")) as w:
        reply = await w.call(request)
    report = json.loads(reply.outputs[0].data)
    assert report["owner_type"] == "bytes"
    assert report["owner_len"] == request.ByteSize()  # the whole message grpcio handed over
    assert report["inside_owner"] and report["shares_memory"]
    assert report["offset"] == request.SerializeToString().index(payload)
    assert report["writeable"] is False
    assert report["sum"] == sum(payload)


async def test_a_64_mib_payload_goes_through_and_back(worker) -> None:
    payload = bytes(range(256)) * (256 * 1024)  # 64 MiB
    request = loader_pb2.CallRequest(
        inputs=[loader_pb2.Data(key="blob", type=1, status=3, data=payload)])
    async with worker(str(ROOT / "wrappers" / "echo" / "wrapper.py")) as w:
        reply = await w.call(request)
    assert reply.outputs[0].data == payload


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("two_args_functions.py", "two-args:hi"),
        ("tag_only.py", "tag=tag-7"),
        ("pers_only.py", "pers=42"),
        ("v1_dicts.py", "v1:tag-7:hi"),
        ("async_wrapper.py", "async:hi"),
    ],
)
async def test_every_signature_variant_is_adapted(worker, module: str, expected: str) -> None:
    request = text_request("hi")
    request.usr_tag = "tag-7"
    request.pers_id = 42
    async with worker(str(VARIANTS / module)) as w:
        reply = await w.call(request)
    assert reply.outputs[0].data.decode() == expected
    assert reply.outputs[0].status == 3  # once-call outputs carry DataOnce


async def test_v1_error_code_comes_back_with_wrapper_error_text(worker) -> None:
    async with worker(str(VARIANTS / "v1_dicts.py")) as w:
        status, code, message = await _error_of(w.call(text_request("fail")))
    assert (status, code, message) == (grpc.StatusCode.INTERNAL, 77, "v1 error 77")


@pytest.mark.parametrize(
    ("mode", "grpc_code", "aiges_code", "message_part"),
    [
        ("error_code", grpc.StatusCode.INTERNAL, 4711, "the model refused this input"),
        ("raise", grpc.StatusCode.INTERNAL, 10909, "KeyError"),
        ("empty", grpc.StatusCode.INTERNAL, 10106, "nil"),
        ("none", grpc.StatusCode.INTERNAL, 10106, "not a Response"),
    ],
)
async def test_wrapper_failures_become_statuses_with_aiges_codes(
    worker, mode: str, grpc_code: grpc.StatusCode, aiges_code: int, message_part: str
) -> None:
    async with worker(FAULTY) as w:
        status, code, message = await _error_of(w.call(text_request("x", mode=mode)))
        assert (status, code) == (grpc_code, aiges_code)
        assert message_part in message
        assert "Traceback" not in message
        assert (await w.call(text_request("x"))).outputs[0].data == b"ok"  # still serving


async def test_output_the_request_did_not_ask_for_is_10106(worker) -> None:
    request = text_request("x", mode="undeclared")
    request.accepts.add(key="result", attrs={"encoding": "utf8"})
    async with worker(FAULTY) as w:
        status, code, message = await _error_of(w.call(request))
    assert code == 10106 and "'surprise'" in message


async def test_one_output_key_twice_is_10106_naming_it(worker) -> None:
    async with worker(FAULTY) as w:
        status, code, message = await _error_of(w.call(text_request("x", mode="twice")))
    assert (status, code) == (grpc.StatusCode.INTERNAL, 10106)
    assert "'result' more than once" in message


async def test_corrupt_request_bytes_are_invalid_argument_10001(worker) -> None:
    async with worker(FAULTY) as w:
        status, code, message = await _error_of(w.call_raw(b"\x1a\xff\xff\xff\x0f"))
    assert (status, code) == (grpc.StatusCode.INVALID_ARGUMENT, 10001)
    assert "CallRequest" in message


async def test_call_over_the_licence_is_refused_at_once_with_10110(worker) -> None:
    async with worker(FAULTY, licence=1) as w:
        slow = asyncio.ensure_future(w.call(text_request("x", mode="sleep", seconds="1")))
        while w.engine.in_use == 0:
            await asyncio.sleep(0.01)
        status, code, _ = await _error_of(w.call(text_request("x")))
        assert (status, code) == (grpc.StatusCode.RESOURCE_EXHAUSTED, 10110)
        assert (await slow).outputs[0].data == b"ok"
        assert (await w.call(text_request("x"))).outputs[0].data == b"ok"


async def test_deadline_exceeded_while_the_wrapper_runs(worker) -> None:
    async with worker(FAULTY) as w:
        status, _, _ = await _error_of(
            w.call(text_request("x", mode="sleep", seconds="1"), timeout=0.2))
    assert status is grpc.StatusCode.DEADLINE_EXCEEDED


async def test_describe_names_ability_route_and_licence(worker) -> None:
    async with worker(FAULTY, licence=3) as w:
        ability = await w.describe(loader_pb2.DescribeRequest())
    assert (ability.service_id, ability.route, ability.licence) == (
        "faulty", "/v1/private/faulty", 3)
    assert list(ability.operations) == ["once"]


async def test_wrapper_calls_are_counted_by_code(worker) -> None:
    async with worker(FAULTY) as w:
        await w.call(text_request("x"))
        await _error_of(w.call(text_request("x", mode="error_code")))
        registry = w.metrics.registry
    assert registry.get_sample_value(
        "athena_loader_wrapper_calls_total", {"op": "once", "code": "0"}) == 1
    assert registry.get_sample_value(
        "athena_loader_wrapper_calls_total", {"op": "once", "code": "4711"}) == 1
    assert registry.get_sample_value(
        "athena_loader_grpc_requests_total", {"method": "Call", "grpc_code": "INTERNAL"}) == 1

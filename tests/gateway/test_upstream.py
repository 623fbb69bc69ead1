"""The worker set (gateway/upstream.py) over real in-process workers: choice, retries, health."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest

from gateway.edge import start_edge
from gateway.errors import AllBusy, NoWorker
from loader.v1 import loader_pb2
from loader.v1.wire import ABILITY_METADATA, SESSION_METHOD
from tests.inprocess import (
    Gateway,
    Worker,
    closed_port,
    eventually,
    running_gateway,
    running_worker,
    text_request,
    wrapper_calls,
)
from tests.support import ABILITIES, ROOT, aiges_body, text_item

FAULTY = str(ABILITIES / "faulty" / "wrapper.py")
ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")
# asyncio.sleep(seconds) in the wrapper: a call that holds a licence until it is cancelled
ASYNC = str(ABILITIES / "variants" / "async_wrapper.py")
HOLD = text_request("x", seconds="600").SerializeToString()
QUICK = text_request("x", seconds="0").SerializeToString()


@asynccontextmanager
async def two_workers(wrapper: str, **overrides: object
                      ) -> AsyncIterator[tuple[Worker, Worker, Gateway]]:
    async with running_worker(wrapper, **overrides) as a, \
            running_worker(wrapper, **overrides) as b, \
            running_gateway([a.address, b.address]) as gateway:
        yield a, b, gateway


@asynccontextmanager
async def holding(*workers: Worker) -> AsyncIterator[None]:
    """Each worker's only licensed instance busy (licence=1) until the block ends."""
    calls = [asyncio.ensure_future(w.call_raw(HOLD)) for w in workers]
    try:
        while any(w.engine is None or w.engine.in_use == 0 for w in workers):
            await asyncio.sleep(0.01)
        yield
    finally:
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)


def refused_at_licence(gateway: Gateway, worker: Worker) -> float:
    return gateway.metrics.registry.get_sample_value(
        "athena_gateway_upstream_requests_total",
        {"ability": "variants", "endpoint": worker.address, "grpc_code": "RESOURCE_EXHAUSTED"},
    ) or 0.0


async def post_text(gateway: Gateway, service_id: str, text: str = "x") -> tuple[int, dict, dict]:
    body = aiges_body(service_id, {"text": text_item(text)}, {"seconds": "0"})
    async with gateway.client.post(f"/v1/private/{service_id}", json=body) as response:
        return response.status, dict(response.headers), await response.json()


async def test_concurrent_calls_are_spread_evenly_over_two_workers() -> None:
    async with two_workers(ASYNC, licence=8) as (a, b, gateway):
        replies = await asyncio.gather(
            *(gateway.upstreams.call("variants", QUICK, 10) for _ in range(8)))
        assert len(replies) == 8
        # least outstanding of two: each call goes to the worker holding fewer of them
        assert (wrapper_calls(a), wrapper_calls(b)) == (4, 4)


async def test_a_call_goes_to_the_worker_with_fewer_outstanding_calls() -> None:
    async with two_workers(ASYNC) as (a, b, gateway):
        held = asyncio.ensure_future(gateway.upstreams.call("variants", HOLD, 600))
        try:
            while sum(e.outstanding for e in gateway.upstreams.endpoints) == 0:
                await asyncio.sleep(0)
            busy = next(e for e in gateway.upstreams.endpoints if e.outstanding)
            idle = b if busy.address == a.address else a
            for _ in range(5):
                await gateway.upstreams.call("variants", QUICK, 10)
            assert wrapper_calls(idle) == 5
        finally:
            held.cancel()
            await asyncio.gather(held, return_exceptions=True)


async def test_a_call_refused_at_a_workers_licence_is_served_by_another() -> None:
    async with two_workers(ASYNC, licence=1) as (a, b, gateway), holding(a):
        for _ in range(30):  # each picks `a` first half the time: it will be refused there
            status, _, body = await post_text(gateway, "variants", "retried")
            assert status == 200, body
            assert body["payload"]["result"]["text"] == "async:retried"
        assert wrapper_calls(b) == 30
        assert refused_at_licence(gateway, a) >= 1


async def test_every_worker_at_its_licence_is_429_with_10110_and_retry_after() -> None:
    async with two_workers(ASYNC, licence=1) as (a, b, gateway), holding(a, b):
        status, headers, body = await post_text(gateway, "variants")
        with pytest.raises(AllBusy) as refused:
            await gateway.upstreams.call("variants", QUICK, 10)
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert body["header"]["code"] == 10110
    assert "every worker of 'variants' is at its licence (2 tried)" in body["header"]["message"]
    assert (refused.value.http_status, refused.value.code) == (429, 10110)


async def test_an_address_nothing_listens_on_is_unhealthy_and_calls_go_to_a_healthy_one(
) -> None:
    with closed_port() as dead:
        async with running_worker(FAULTY) as live, running_gateway([dead, live.address]) as gw:
            health = {e.address: e.healthy for e in gw.upstreams.endpoints}
            addresses = [e.address for e in gw.upstreams.endpoints]
            for _ in range(10):
                status, _, body = await post_text(gw, "faulty")
                assert status == 200, body
            async with gw.client.get("/readyz") as response:
                ready = await response.json()
    assert health == {dead: False, live.address: True}
    assert wrapper_calls(live) == 10
    # /readyz names workers by index, never by address
    assert {addresses[w["worker"]]: w["healthy"] for w in ready["workers"]} == health


async def test_a_worker_gone_since_its_last_health_probe_is_passed_over_for_another() -> None:
    async with running_worker(FAULTY) as gone, running_worker(FAULTY) as live, \
            running_gateway([gone.address, live.address], health_interval_s=3600) as gw:
        endpoint = next(e for e in gw.upstreams.endpoints if e.address == gone.address)
        assert endpoint.healthy
        await gone.stop()
        for _ in range(30):  # each tries `gone` first half the time: refused, it moves on
            status, _, body = await post_text(gw, "faulty")
            assert status == 200, body
        assert gw.upstreams.balancer.ejected(endpoint)  # until a probe finds it again
        assert wrapper_calls(live) == 30


async def test_no_reachable_worker_is_503_with_10503_and_retry_after() -> None:
    async with running_worker(FAULTY) as worker, \
            running_gateway([worker.address], health_interval_s=3600) as gw:
        await worker.stop()
        status, headers, body = await post_text(gw, "faulty")
        with pytest.raises(NoWorker) as refused:
            await gw.upstreams.call("faulty", QUICK, 10)
        async with gw.client.get("/readyz") as response:
            ready_status = response.status
    assert (status, body["header"]["code"], headers["Retry-After"]) == (503, 10503, "1")
    assert "no worker of 'faulty' is reachable" in body["header"]["message"]
    assert (refused.value.http_status, refused.value.code) == (503, 10503)
    assert ready_status == 503


async def test_abilities_are_learned_from_each_workers_describe() -> None:
    async with running_worker(FAULTY, licence=3) as faulty, running_worker(ECHO) as echo, \
            running_gateway([faulty.address, echo.address]) as gw:
        upstreams = gw.upstreams
        learned = {a.service_id: (a.route, a.licence) for a in upstreams.abilities()}
        by_route = upstreams.by_route("/v1/private/echo")
        by_service = upstreams.by_service("faulty")
        unknown = (upstreams.by_route("/v1/private/nothing"), upstreams.by_service("nothing"))
        async with gw.client.get("/v1/abilities") as response:
            listed = {a["service_id"]: a["route"] for a in (await response.json())["abilities"]}
    assert learned == {"faulty": ("/v1/private/faulty", 3), "echo": ("/v1/private/echo", 4)}
    assert by_route is not None and by_route.service_id == "echo"
    assert by_service is not None and list(by_service.operations) == ["once"]
    assert unknown == (None, None)
    assert listed == {"faulty": "/v1/private/faulty", "echo": "/v1/private/echo"}


async def test_not_ready_without_any_ability_learned() -> None:
    with closed_port() as dead:
        async with running_gateway([dead]) as gw:
            ready = gw.upstreams.ready()
            async with gw.client.get("/readyz") as response:
                status, body = response.status, await response.json()
    assert not ready
    assert (status, body["status"]) == (503, "not ready")


@pytest.mark.parametrize("required", [(), ("echo", "faulty")])
async def test_a_broken_ability_never_takes_the_healthy_ones_down_unless_required(
        required: tuple[str, ...]) -> None:
    async with running_worker(FAULTY) as faulty, running_worker(ECHO) as echo, \
            running_gateway([faulty.address, echo.address], health_interval_s=0.05,
                            ready_abilities=required) as gw:
        ready_with_both = gw.upstreams.ready(required)
        await echo.stop()
        while gw.upstreams.ability_ready("echo"):  # until the health loop sees echo gone
            await asyncio.sleep(0.05)
        answers = {}
        for path in ("/readyz", "/readyz/echo", "/readyz/faulty", "/readyz/never"):
            async with gw.client.get(path) as response:
                answers[path] = response.status, await response.json()
                server = response.headers["Server"]
    assert ready_with_both
    assert answers["/readyz"][0] == (503 if required else 200)
    assert answers["/readyz"][1]["abilities"] == {"faulty": {"ready": True},
                                                  "echo": {"ready": False}}
    assert answers["/readyz/echo"][0] == 503 and answers["/readyz/faulty"][0] == 200
    assert answers["/readyz/never"][0] == 404
    assert answers["/readyz/never"][1]["header"]["code"] == 10404
    assert server == "athena"  # no Python or aiohttp versions


async def test_with_a_wait_queue_a_call_to_a_full_pool_waits_then_succeeds() -> None:
    async with running_worker(ASYNC, licence=1) as a, \
            running_gateway([a.address], queue_size=4, queue_wait_s=10) as gateway:
        async with holding(a):
            waiting = asyncio.ensure_future(post_text(gateway, "variants", "waited"))
            assert await eventually(lambda: gateway.upstreams.admission.waiting("variants") == 1)
            assert not waiting.done()
        status, _, body = await waiting  # the held call ended: its worker is free again
        waited = gateway.metrics.registry.get_sample_value(
            "athena_gateway_queue_wait_seconds_count", {"ability": "variants"})
    assert (status, body["payload"]["result"]["text"]) == (200, "async:waited")
    assert waited == 1


async def test_a_full_pool_is_counted_as_a_rejection() -> None:
    async with two_workers(ASYNC, licence=1) as (a, b, gateway), holding(a, b):
        status, _, _ = await post_text(gateway, "variants")
        rejected = gateway.metrics.registry.get_sample_value(
            "athena_gateway_rejections_total", {"ability": "variants", "reason": "pool_full"})
    assert (status, rejected) == (429, 1)


ECHO_STREAM = str(ABILITIES / "stream_echo" / "wrapper.py")


def _data(text: str, status: int) -> loader_pb2.Data:
    return loader_pb2.Data(key="text", type=0, status=status,  # type: ignore[arg-type]
                           data=text.encode())


def _ws_frame(text: str, status: int, first: bool = False) -> dict[str, object]:
    body: dict[str, object] = {"payload": {"text": text_item(text) | {"status": status}}}
    if first:
        body["header"] = {"app_id": "test"}
        body["parameter"] = {"stream_echo": {"result": {"encoding": "utf8"}}}
    return body


async def test_a_session_refused_at_a_workers_licence_is_opened_on_another() -> None:
    async with two_workers(ECHO_STREAM, licence=1) as (a, b, gateway):
        held = a.session()  # a's one licence slot, taken behind the gateway's back
        await held.write(loader_pb2.CallRequest(sid="held", inputs=[_data("x", 0)]))
        assert await eventually(lambda: a.sessions is not None and a.sessions.in_use == 1)
        texts = []
        for _ in range(12):  # each picks `a` first about half the time: refused, then `b`
            async with gateway.client.ws_connect("/v1/private/stream_echo") as ws:
                for frame in (_ws_frame("a", 0, first=True), _ws_frame("b", 1),
                              _ws_frame("c", 2)):
                    await ws.send_json(frame)  # all at once: replayed in order on `b`
                received = [json.loads(m.data) async for m in ws]
                texts.append([r["payload"]["result"]["text"] if "payload" in r else r
                              for r in received])
        held.cancel()
        moved = gateway.metrics.registry.get_sample_value(
            "athena_gateway_retries_total", {"ability": "stream_echo", "reason": "worker_full"})
        outstanding = [e.outstanding for e in gateway.upstreams.endpoints]
    assert texts == [["A", "B", "C"]] * 12, texts
    assert moved is not None and moved >= 1
    assert outstanding == [0, 0]


async def test_a_session_refused_by_every_worker_is_10110() -> None:
    async with running_worker(ECHO_STREAM, licence=1) as a, running_gateway([a.address]) as gw:
        held = a.session()
        await held.write(loader_pb2.CallRequest(sid="held", inputs=[_data("x", 0)]))
        assert await eventually(lambda: a.sessions is not None and a.sessions.in_use == 1)
        async with gw.client.ws_connect("/v1/private/stream_echo") as ws:
            await ws.send_json(_ws_frame("a", 2, first=True))
            received = [json.loads(m.data) async for m in ws]
        held.cancel()
    assert [r["header"]["code"] for r in received] == [10110]


async def test_a_grpc_session_refused_at_a_workers_licence_is_opened_on_another() -> None:
    async with two_workers(ECHO_STREAM, licence=1) as (a, b, gateway):
        server, port, _ = await start_edge(gateway.upstreams, gateway.settings, gateway.metrics)
        held = a.session()
        await held.write(loader_pb2.CallRequest(sid="held", inputs=[_data("x", 0)]))
        assert await eventually(lambda: a.sessions is not None and a.sessions.in_use == 1)
        results = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                open_session = channel.stream_stream(
                    SESSION_METHOD,
                    request_serializer=loader_pb2.CallRequest.SerializeToString,
                    response_deserializer=loader_pb2.CallResponse.FromString)
                for _ in range(12):
                    call = open_session(metadata=[(ABILITY_METADATA, "stream_echo")],
                                        timeout=10)
                    await call.write(loader_pb2.CallRequest(
                        accepts=[loader_pb2.Accept(key="result", attrs={"encoding": "utf8"})],
                        inputs=[_data("a", 0)]))
                    await call.write(loader_pb2.CallRequest(inputs=[_data("b", 1)]))
                    await call.write(loader_pb2.CallRequest(inputs=[_data("c", 2)]))
                    await call.done_writing()
                    replies = [r.outputs[0].data async for r in call]
                    results.append((await call.code(), replies))
        finally:
            held.cancel()
            await server.stop(None)
        moved = gateway.metrics.registry.get_sample_value(
            "athena_gateway_retries_total", {"ability": "stream_echo", "reason": "worker_full"})
    assert results == [(grpc.StatusCode.OK, [b"A", b"B", b"C"])] * 12
    assert moved is not None and moved >= 1

"""WebSocket sessions through the real gateway in front of a real in-process worker of the
stream_echo test ability, with aiohttp's WebSocket client."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import WSMsgType

from tests.inprocess import Gateway, Worker, eventually, running_gateway, running_worker
from tests.support import ABILITIES
from tests.support import echo_frame as frame

ECHO_STREAM = str(ABILITIES / "stream_echo" / "wrapper.py")


@asynccontextmanager
async def echo_gateway(**overrides: Any) -> AsyncIterator[tuple[Worker, Gateway, str]]:
    async with running_worker(ECHO_STREAM) as worker, \
            running_gateway([worker.address], **overrides) as gateway:
        ability = gateway.upstreams.by_service("stream_echo")
        assert ability is not None
        yield worker, gateway, ability.route


async def messages(ws: aiohttp.ClientWebSocketResponse) -> list[Any]:
    """Every text frame until the server closes, parsed."""
    received = []
    async for message in ws:
        assert message.type is WSMsgType.TEXT
        received.append(json.loads(message.data))
    return received


def sessions_active(worker: Worker) -> float:
    value = worker.metrics.registry.get_sample_value("athena_loader_sessions_active")
    return value or 0.0


def ended(gateway: Gateway, reason: str, transport: str = "websocket") -> float:
    value = gateway.metrics.registry.get_sample_value("athena_gateway_session_ends_total", {
        "ability": "stream_echo", "transport": transport, "reason": reason})
    return value or 0.0


async def test_frames_0_1_2_come_back_in_order_the_last_with_status_2_then_a_clean_close(
        ) -> None:
    async with echo_gateway() as (worker, gateway, route):
        async with gateway.client.ws_connect(route) as ws:
            await ws.send_json(frame("a", 0, first=True))
            await ws.send_json(frame("b", 1))
            await ws.send_json(frame("c", 2))
            results = await messages(ws)
            assert ws.close_code == aiohttp.WSCloseCode.OK
        assert [r["header"]["status"] for r in results] == [0, 1, 2]
        assert [(r["payload"]["result"]["text"], r["payload"]["result"]["status"])
                for r in results] == [("A", "0"), ("B", "1"), ("C", "2")]
        assert {r["header"]["code"] for r in results} == {0}
        sids = {r["header"]["sid"] for r in results}
        assert len(sids) == 1 and sids.pop().startswith("atn")
        assert await eventually(lambda: sessions_active(worker) == 0)
        # the gateway's handler finishes just after the client sees the close
        assert await eventually(lambda: gateway.metrics.registry.get_sample_value(
            "athena_gateway_sessions", {"ability": "stream_echo", "transport": "websocket"}) == 0)
        assert all(e.outstanding == 0 for e in gateway.upstreams.endpoints)
        assert ended(gateway, "completed") == 1
        assert gateway.metrics.registry.get_sample_value("athena_gateway_session_frames_total", {
            "ability": "stream_echo", "direction": "out"}) == 3


async def test_malformed_json_gets_10160_and_a_close_and_the_next_session_works() -> None:
    async with echo_gateway() as (_, gateway, route):
        async with gateway.client.ws_connect(route) as ws:
            await ws.send_json(frame("a", 0, first=True))
            await ws.send_str("{not json")
            received = await messages(ws)
            assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
        assert received[-1]["header"]["code"] == 10160
        assert "payload" not in received[-1]
        async with gateway.client.ws_connect(route) as ws:
            await ws.send_json(frame("x", 0, first=True))
            await ws.send_json(frame("y", 2))
            results = await messages(ws)
        assert [r["payload"]["result"]["text"] for r in results] == ["X", "Y"]


async def test_a_wrapper_write_that_raises_gets_one_10907_error_frame_then_a_close() -> None:
    async with echo_gateway() as (worker, gateway, route):
        async with gateway.client.ws_connect(route) as ws:
            await ws.send_json(frame("a", 0, first=True, fail_write="b"))
            await ws.send_json(frame("b", 1))
            received = await messages(ws)
            assert ws.close_code == aiohttp.WSCloseCode.INTERNAL_ERROR
        error = received[-1]
        assert error["header"]["code"] == 10907
        assert error["header"]["sid"].startswith("atn")
        assert await eventually(lambda: sessions_active(worker) == 0)


async def test_a_client_that_vanishes_mid_session_ends_the_session_on_the_worker() -> None:
    async with echo_gateway() as (worker, gateway, route):
        ws = await gateway.client.ws_connect(route)
        await ws.send_json(frame("a", 0, first=True))
        first = await ws.receive_json(timeout=5)
        assert first["payload"]["result"]["text"] == "A"
        assert sessions_active(worker) == 1
        assert gateway.upstreams.endpoints[0].outstanding == 1
        ws._response.connection.transport.abort()  # gone without a close frame
        assert await eventually(lambda: sessions_active(worker) == 0)
        assert await eventually(lambda: gateway.upstreams.endpoints[0].outstanding == 0)
        assert await eventually(lambda: gateway.metrics.registry.get_sample_value(
            "athena_gateway_sessions", {"ability": "stream_echo", "transport": "websocket"}) == 0)
        assert ended(gateway, "client_gone") == 1


async def test_a_client_silent_past_the_read_timeout_gets_10114() -> None:
    async with echo_gateway(ws_read_timeout_s=0.3) as (worker, gateway, route):
        async with gateway.client.ws_connect(route) as ws:
            await ws.send_json(frame("a", 0, first=True))
            received = await messages(ws)
        assert received[0]["payload"]["result"]["text"] == "A"
        assert received[-1]["header"]["code"] == 10114
        assert await eventually(lambda: sessions_active(worker) == 0)
        assert await eventually(lambda: ended(gateway, "timeout") == 1)


async def test_a_session_past_the_session_timeout_gets_10114() -> None:
    async with echo_gateway(ws_session_timeout_s=0.3) as (_, gateway, route):
        async with gateway.client.ws_connect(route) as ws:
            await ws.send_json(frame("a", 0, first=True))
            received = await messages(ws)
        assert received[-1]["header"]["code"] == 10114
        assert "sessionTimeout" in received[-1]["header"]["message"]
        assert await eventually(lambda: ended(gateway, "timeout") == 1)


async def test_a_get_without_upgrade_is_still_405() -> None:
    async with echo_gateway() as (_, gateway, route):
        async with gateway.client.get(route) as response:
            assert response.status == 405
            assert (await response.json())["header"]["code"] == 10163


async def test_a_frame_nested_past_any_json_parser_is_10160_not_a_gateway_fault() -> None:
    async with echo_gateway() as (_, gateway, route):
        async with gateway.client.ws_connect(route) as ws:
            await ws.send_str("[" * 100_000)
            received = await messages(ws)
            assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
        assert received[-1]["header"]["code"] == 10160
        assert "nested too deeply" in received[-1]["header"]["message"]

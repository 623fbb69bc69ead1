"""Stream sessions through real processes: `athena serve` (a gateway and its worker processes)
driven by a real WebSocket client, with every bad input and failure the session contract
names. The wrapper (tests/abilities/stream_echo) journals create/write/destroy to a file, so
the test can see what ran in the worker's process."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from tests.support import ABILITIES, Stack, aiges_body, serve, text_item
from tests.support import echo_frame as frame

ECHO_STREAM = ABILITIES / "stream_echo" / "wrapper.py"
ONCE_ASYNC = ABILITIES / "once_async" / "wrapper.py"
ROUTE = "/v1/private/stream_echo"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One `athena serve` for the tests that leave it serving (module scope: a start costs
    about a second); tests that kill or stop it start their own."""
    with serve(tmp_path_factory.mktemp("sessions"), [ECHO_STREAM, ONCE_ASYNC]) as running:
        yield running


def journal(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def until(condition: Any, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


async def session(base: str, *frames: dict[str, Any] | str, wait: float = 10.0
                  ) -> tuple[list[dict[str, Any]], int | None]:
    """Send the frames (a str goes as it is), then read until the server closes."""
    async with aiohttp.ClientSession() as client, client.ws_connect(base + ROUTE) as ws:
        for item in frames:
            await (ws.send_str(item) if isinstance(item, str) else ws.send_json(item))
        received = []
        async with asyncio.timeout(wait):
            async for message in ws:
                assert message.type is WSMsgType.TEXT
                received.append(json.loads(message.data))
        return received, ws.close_code


def texts(received: list[dict[str, Any]]) -> list[str]:
    return [r["payload"]["result"]["text"] for r in received if "payload" in r]


async def metric(base: str, name: str) -> float:
    """A gateway sample by its full exposition name and labels (e.g. 'x_total{a="b"}')."""
    async with aiohttp.ClientSession() as client, client.get(base + "/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def worker_sessions_active(stack: Stack) -> float:
    address = next(w["metrics_address"] for w in stack.workers if w["ability"] == "stream_echo")
    async with aiohttp.ClientSession() as client, \
            client.get(f"http://{address}/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith("athena_loader_sessions_active "):
                return float(line.split()[1])
    raise AssertionError("the worker's /metrics has no athena_loader_sessions_active")


async def assert_a_new_session_works(base: str) -> None:
    received, close = await session(base, frame("ok", 0, first=True), frame("again", 2))
    assert texts(received) == ["OK", "AGAIN"] and close == aiohttp.WSCloseCode.OK


async def test_a_session_streams_results_in_order_and_closes_cleanly(stack: Stack,
                                                                     tmp_path: Path) -> None:
    log = tmp_path / "journal"
    received, close = await session(stack.base, frame("a", 0, first=True, journal=str(log)),
                                    frame("b", 1), frame("c", 2))
    assert texts(received) == ["A", "B", "C"]
    assert [r["header"]["status"] for r in received] == [0, 1, 2]
    assert close == aiohttp.WSCloseCode.OK
    assert until(lambda: any(line.startswith("destroy") for line in journal(log)))
    assert [line.split()[0] for line in journal(log)] == [
        "create", "write", "write", "write", "destroy"]


async def test_malformed_frame_json_is_10160(stack: Stack) -> None:
    received, close = await session(stack.base, frame("a", 0, first=True), "{oops")
    assert received[-1]["header"]["code"] == 10160
    assert close == aiohttp.WSCloseCode.POLICY_VIOLATION
    await assert_a_new_session_works(stack.base)


async def test_a_data_frame_before_the_session_opened_is_refused(stack: Stack,
                                                                  tmp_path: Path) -> None:
    log = tmp_path / "journal"
    opening = frame("late", 1, first=True, journal=str(log))  # status 1: "continue" of nothing
    received, close = await session(stack.base, opening)
    error = received[-1]["header"]
    assert error["code"] == 10163 and "first frame" in error["message"]
    assert close == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert journal(log) == []  # the wrapper never saw it
    await assert_a_new_session_works(stack.base)


async def test_frames_after_the_final_one_never_reach_the_wrapper(stack: Stack,
                                                                  tmp_path: Path) -> None:
    log = tmp_path / "journal"
    received, close = await session(stack.base, frame("a", 0, first=True, journal=str(log)),
                                    frame("b", 2), frame("extra", 1), frame("more", 2))
    assert texts(received) == ["A", "B"] and close == aiohttp.WSCloseCode.OK
    assert until(lambda: any(line.startswith("destroy") for line in journal(log)))
    assert [line.split()[0] for line in journal(log)].count("write") == 2


async def test_a_wrapper_whose_create_fails_gets_its_code_and_nothing_more_runs(
        stack: Stack, tmp_path: Path) -> None:
    log = tmp_path / "journal"
    received, close = await session(
        stack.base, frame("a", 0, first=True, fail_create="1", journal=str(log)))
    assert received[-1]["header"]["code"] == 4242
    assert "create refused" in received[-1]["header"]["message"]
    assert close == aiohttp.WSCloseCode.INTERNAL_ERROR
    assert journal(log) == []
    await assert_a_new_session_works(stack.base)


@pytest.mark.parametrize(("params", "code"), [({"fail_write": "b"}, 10907),
                                              ({"fail_read": "1"}, 10908)])
async def test_a_wrapper_raising_in_write_or_read_ends_with_its_code_and_destroy_runs_once(
        stack: Stack, tmp_path: Path, params: dict[str, str], code: int) -> None:
    log = tmp_path / "journal"
    received, close = await session(stack.base,
                                    frame("a", 0, first=True, journal=str(log), **params),
                                    frame("b", 1), frame("c", 2))
    assert received[-1]["header"]["code"] == code
    assert close == aiohttp.WSCloseCode.INTERNAL_ERROR
    assert until(lambda: any(line.startswith("destroy") for line in journal(log)))
    time.sleep(0.2)
    assert [line.split()[0] for line in journal(log)].count("destroy") == 1
    await assert_a_new_session_works(stack.base)


async def test_a_client_that_vanishes_gets_its_session_destroyed_once(stack: Stack,
                                                                      tmp_path: Path) -> None:
    log = tmp_path / "journal"
    async with aiohttp.ClientSession() as client:
        ws = await client.ws_connect(stack.base + ROUTE)
        await ws.send_json(frame("a", 0, first=True, journal=str(log)))
        assert (await ws.receive_json(timeout=5))["payload"]["result"]["text"] == "A"
        assert await worker_sessions_active(stack) == 1
        ws._response.connection.transport.abort()  # gone without a close frame
    assert until(lambda: any(line.startswith("destroy") for line in journal(log)))
    for _ in range(100):
        if await worker_sessions_active(stack) == 0:
            break
        await asyncio.sleep(0.05)
    assert await worker_sessions_active(stack) == 0
    assert [line.split()[0] for line in journal(log)].count("destroy") == 1
    labels = 'ability="stream_echo",reason="client_gone",transport="websocket"'
    assert await metric(stack.base, f"athena_gateway_session_ends_total{{{labels}}}") >= 1
    await assert_a_new_session_works(stack.base)


async def test_a_once_async_wrapper_answers_a_post_through_callback_in_a_real_worker(
        stack: Stack) -> None:
    body = aiges_body("once_async", {"text": text_item("hi")}, {"delay": "0.05"})
    async with aiohttp.ClientSession() as client, \
            client.post(stack.base + "/v1/private/once_async", json=body) as response:
        answer = await response.json()
    assert response.status == 200, answer
    assert answer["payload"]["result"]["text"] == "async:hi"  # text outputs come as text


async def test_a_session_past_its_timeout_gets_10114(tmp_path: Path) -> None:
    with serve(tmp_path, [ECHO_STREAM], env={"ATHENA_GATEWAY_WS_SESSION_TIMEOUT_S": "0.5"}
               ) as stack:
        received, close = await session(stack.base, frame("a", 0, first=True))
        assert received[-1]["header"]["code"] == 10114
        assert close == aiohttp.WSCloseCode.INTERNAL_ERROR
        await assert_a_new_session_works(stack.base)


async def test_a_worker_killed_mid_session_gets_10109_within_a_second(tmp_path: Path) -> None:
    with serve(tmp_path, [ECHO_STREAM]) as stack:
        async with aiohttp.ClientSession() as client:
            ws = await client.ws_connect(stack.base + ROUTE)
            await ws.send_json(frame("a", 0, first=True))
            assert (await ws.receive_json(timeout=5))["payload"]["result"]["text"] == "A"
            os.kill(int(stack.workers[0]["pid"]), signal.SIGKILL)
            killed = time.monotonic()
            error = await ws.receive_json(timeout=5)
            took = time.monotonic() - killed
            assert error["header"]["code"] == 10109, error
            assert took < 1.0, f"the error frame took {took:.2f} s"
            assert (await ws.receive()).type is WSMsgType.CLOSE
            await ws.close()
        # the supervisor restarts the worker; sessions work again once it is back
        deadline = time.monotonic() + 30
        while True:
            try:
                await assert_a_new_session_works(stack.base)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def test_sigterm_with_sessions_open_ends_them_with_a_code_and_destroys_them(
        tmp_path: Path) -> None:
    log = tmp_path / "journal"
    with serve(tmp_path, [ECHO_STREAM]) as stack:
        async with aiohttp.ClientSession() as client:
            sockets = []
            for _ in range(2):
                ws = await client.ws_connect(stack.base + ROUTE)
                await ws.send_json(frame("a", 0, first=True, journal=str(log)))
                assert (await ws.receive_json(timeout=5))["payload"]["result"]["text"] == "A"
                sockets.append(ws)
            stack.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            for ws in sockets:
                header = json.loads((await ws.receive(timeout=5)).data)["header"]
                assert header["code"] == 10503 and "shutting down" in header["message"], header
                assert (await ws.receive(timeout=5)).type is WSMsgType.CLOSE
                assert ws.close_code == aiohttp.WSCloseCode.GOING_AWAY
            took = time.monotonic() - signalled
            assert took < 2.0, f"the sessions took {took:.2f} s to end"
        assert stack.process.wait(30) == 0
    assert [line.split()[0] for line in journal(log)].count("destroy") == 2


async def test_a_text_frame_that_is_not_utf8_gets_10160_then_1007(tmp_path: Path) -> None:
    with serve(tmp_path, [ECHO_STREAM]) as stack:
        async with aiohttp.ClientSession() as client, client.ws_connect(stack.base + ROUTE) as ws:
            await ws.send_json(frame("a", 0, first=True))
            assert (await ws.receive_json(timeout=5))["payload"]["result"]["text"] == "A"
            await ws.send_frame(b'{"header": "\xff\xfe"}', WSMsgType.TEXT)
            error = (await ws.receive_json(timeout=5))["header"]
            assert error["code"] == 10160 and "not UTF-8" in error["message"], error
            assert (await ws.receive(timeout=5)).type is WSMsgType.CLOSE
            assert ws.close_code == aiohttp.WSCloseCode.INVALID_TEXT
        await assert_a_new_session_works(stack.base)


async def test_an_oversized_frame_gets_10413_naming_the_limit_then_1009(tmp_path: Path) -> None:
    with serve(tmp_path, [ECHO_STREAM], env={"ATHENA_GATEWAY_MAX_BODY_MB": "1"}) as stack:
        async with aiohttp.ClientSession() as client, client.ws_connect(stack.base + ROUTE) as ws:
            await ws.send_json(frame("a", 0, first=True))
            assert (await ws.receive_json(timeout=5))["payload"]["result"]["text"] == "A"
            await ws.send_json(frame("x" * (1 << 20), 1))
            error = (await ws.receive_json(timeout=5))["header"]
            assert error["code"] == 10413 and "1048576-byte limit" in error["message"], error
            assert (await ws.receive(timeout=5)).type is WSMsgType.CLOSE
            assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        await assert_a_new_session_works(stack.base)

"""Connection limits through the real gateway (run_gateway, its HTTP listener on port 0) in
front of a real worker, with raw sockets: a request head's deadline, the keep-alive idle
timeout, and the connection cap with its 503 refusal."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.app import run_gateway
from gateway.edge import _connection_options
from gateway.settings import GatewaySettings
from tests.inprocess import running_worker
from tests.support import ROOT, aiges_body, text_item

ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """`async with gateway(**GatewaySettings fields) as port`: run_gateway serving HTTP on
    127.0.0.1:port in front of one in-process echo worker."""
    async with running_worker(ECHO) as worker:

        @asynccontextmanager
        async def start(**overrides: Any) -> AsyncIterator[int]:
            ready = tmp_path / "ready.json"
            ready.unlink(missing_ok=True)
            settings = GatewaySettings(workers=(worker.address,), port=0, grpc_port=0,
                                       ready_file=ready, **overrides)
            stop = asyncio.Event()
            task = asyncio.create_task(run_gateway(settings, stop))
            try:
                while not ready.exists():
                    assert not task.done(), task.result()
                    await asyncio.sleep(0.02)
                yield int(json.loads(ready.read_text())["http_port"])
            finally:
                stop.set()
                await task

        yield start


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length: status, headers (lower-cased), body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    headers = {name.lower(): value for name, value in headers.items()}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


async def closed(reader: asyncio.StreamReader, within: float = 5.0) -> bytes:
    """Everything the gateway still sends before it closes the connection (fails if it does
    not close within `within` seconds)."""
    return await asyncio.wait_for(reader.read(), within)


async def scrape(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """The gateway's /metrics over this connection."""
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: gateway\r\n\r\n")
    return (await read_response(reader))[2].decode()


def echo_request(text: str = "hello") -> bytes:
    body = json.dumps(aiges_body("echo", {"text": text_item(text)})).encode()
    return (b"POST /v1/private/echo HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json"
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def test_connection_that_sends_nothing_is_closed_after_header_timeout(
        gateway: Callable[..., Any]) -> None:
    async with gateway(header_timeout_s=0.3) as port:
        reader, writer = await connect(port)
        assert await closed(reader) == b""  # nothing sent, nothing answered
        writer.close()


async def test_partial_request_head_is_408_with_10408_then_closed(
        gateway: Callable[..., Any]) -> None:
    async with gateway(header_timeout_s=0.3) as port:
        reader, writer = await connect(port)
        writer.write(b"POST /v1/private/echo HTTP/1.1\r\nHost: gateway\r\n")
        status, headers, body = await read_response(reader)
        assert status == 408
        assert headers["connection"] == "close"
        assert json.loads(body)["header"]["code"] == 10408
        assert "header_timeout_s" in json.loads(body)["header"]["message"]
        assert await closed(reader) == b""
        writer.close()
        reader, writer = await connect(port)
        assert "athena_gateway_http_header_timeouts_total 1.0" in await scrape(reader, writer)
        writer.close()


async def test_head_trickled_a_byte_at_a_time_is_cut_at_the_deadline(
        gateway: Callable[..., Any]) -> None:
    async with gateway(header_timeout_s=0.5) as port:
        reader, writer = await connect(port)

        async def trickle() -> None:
            for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 1000:
                writer.write(bytes([byte]))
                await asyncio.sleep(0.02)

        sending = asyncio.create_task(trickle())
        status, _, body = await read_response(reader)
        sending.cancel()
        assert (status, json.loads(body)["header"]["code"]) == (408, 10408)
        writer.close()


async def test_slow_body_after_a_prompt_head_is_served(gateway: Callable[..., Any]) -> None:
    """The head deadline ends with the head: a body is [gateway] body_timeout_s's business."""
    async with gateway(header_timeout_s=0.3) as port:
        reader, writer = await connect(port)
        request = echo_request("slow body")
        head, body = request.split(b"\r\n\r\n", 1)
        writer.write(head + b"\r\n\r\n")
        for start in range(0, len(body), len(body) // 4 + 1):
            await asyncio.sleep(0.2)  # 0.8 s in all, past header_timeout_s
            writer.write(body[start:start + len(body) // 4 + 1])
        status, _, reply = await read_response(reader)
        assert status == 200, reply
        assert json.loads(reply)["payload"]["text"]["text"] == "slow body"
        writer.close()


async def test_next_request_on_a_kept_alive_connection_has_its_own_head_deadline(
        gateway: Callable[..., Any]) -> None:
    async with gateway(header_timeout_s=0.4, keepalive_timeout_s=30) as port:
        reader, writer = await connect(port)
        for _ in range(3):  # a connection in use longer than header_timeout_s is not cut
            writer.write(HEALTHZ)
            assert (await read_response(reader))[0] == 200
            await asyncio.sleep(0.2)
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        status, _, body = await read_response(reader)
        assert (status, json.loads(body)["header"]["code"]) == (408, 10408)
        writer.close()


async def test_idle_kept_alive_connection_is_closed_after_keepalive_timeout(
        gateway: Callable[..., Any]) -> None:
    async with gateway(header_timeout_s=30, keepalive_timeout_s=0.4) as port:
        reader, writer = await connect(port)
        writer.write(HEALTHZ)
        status, headers, _ = await read_response(reader)
        assert status == 200
        assert headers.get("connection", "keep-alive").lower() != "close"
        assert await closed(reader) == b""
        writer.close()


async def test_connections_over_max_connections_get_503_with_10503_and_existing_are_served(
        gateway: Callable[..., Any]) -> None:
    async with gateway(max_connections=3, header_timeout_s=30) as port:
        held = [await connect(port) for _ in range(3)]
        await asyncio.sleep(0.1)  # accepted by the gateway
        reader, writer = await connect(port)
        writer.write(echo_request())
        status, headers, body = await read_response(reader)
        assert status == 503
        assert headers["connection"] == "close"
        assert json.loads(body)["header"]["code"] == 10503
        assert "max_connections" in json.loads(body)["header"]["message"]
        assert await closed(reader) == b""
        writer.close()
        for held_reader, held_writer in held:  # the connections it holds are served
            held_writer.write(echo_request("still served"))
            status, _, reply = await read_response(held_reader)
            assert status == 200, reply
        held[0][1].close()
        await closed(held[0][0])
        await asyncio.sleep(0.1)  # its slot is free again: a new connection is served
        reader, writer = await connect(port)
        writer.write(HEALTHZ)
        assert (await read_response(reader))[0] == 200
        metrics = await scrape(*held[1])
        assert "athena_gateway_http_connections_refused_total 1.0" in metrics
        assert "athena_gateway_http_connections 3.0" in metrics  # held[1], held[2], reader
        writer.close()
        for _, held_writer in held[1:]:
            held_writer.close()


def test_public_grpc_edge_caps_connections_and_closes_unfinished_idle_and_aged_ones() -> None:
    options = dict(_connection_options(GatewaySettings(keepalive_timeout_s=20,
                                                       grpc_max_connection_age_s=600,
                                                       header_timeout_s=4), 300))
    assert options["grpc.max_allowed_incoming_connections"] == 300
    assert options["grpc.server_handshake_timeout_ms"] == 4_000
    assert options["grpc.max_connection_idle_ms"] == 20_000
    assert options["grpc.max_connection_age_ms"] == 600_000
    # a session may last [ws] sessionTimeout: one begun just before its connection's age ends
    assert options["grpc.max_connection_age_grace_ms"] == 180_000


@pytest.mark.parametrize("head", [
    b"POST /v1/private/echo HTTP/1.1\r\nHost: g\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n",
    b"GET /v1/private/e\x01cho HTTP/1.1\r\nHost: g\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nBad Header: x\r\n\r\n",
    b"FOO\x00 / HTTP/1.1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
], ids=["duplicate-content-type", "control-char-in-path", "bad-header-token", "bad-method",
        "header-too-long"])
async def test_a_request_the_http_parser_refuses_is_400_10400_in_aiges_json_logged_quietly(
        gateway: Callable[..., Any], head: bytes, caplog: pytest.LogCaptureFixture) -> None:
    async with gateway() as port:
        reader, writer = await connect(port)
        writer.write(head)
        status, headers, body = await read_response(reader)
        assert status == 400
        assert headers["server"] == "athena"
        reply = json.loads(body)
        assert reply["header"]["code"] == 10400
        assert reply["header"]["message"].startswith("malformed HTTP request: ")
        assert await closed(reader) == b""
        writer.close()
        # the service goes on, and a client's refusal is no ERROR with a traceback
        reader, writer = await connect(port)
        writer.write(echo_request())
        assert (await read_response(reader))[0] == 200
        writer.close()
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text

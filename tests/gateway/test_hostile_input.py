"""Hostile HTTP input through the real gateway and a real worker: bodies in every encoding
JSON allows, lone surrogates, compressed bodies and bombs, bodies that never end, and bodies
that promise more than they send. None of it may get a 500."""
from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.routes import BODIES
from tests.inprocess import Gateway, running_gateway, running_worker
from tests.support import ATHENA, ROOT, aiges_body, stop, text_item

ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")
ROUTE = "/v1/private/echo"
MIB = 1024 * 1024


@pytest.fixture
async def echo() -> AsyncIterator[Callable[..., Any]]:
    """`async with echo(**GatewaySettings fields) as gateway`: the gateway in front of one
    in-process echo worker."""
    async with running_worker(ECHO) as worker:
        yield lambda **settings: running_gateway([worker.address], **settings)


def good_body(text: str = "hello") -> dict[str, Any]:
    return aiges_body("echo", {"text": text_item(text)})


async def post(gateway: Gateway, body: bytes, **headers: str) -> tuple[int, dict[str, Any]]:
    async with gateway.client.post(ROUTE, data=body, headers=headers) as response:
        return response.status, json.loads(await response.read())


async def assert_error(gateway: Gateway, body: bytes, status: int, code: int,
                       **headers: str) -> str:
    got, reply = await post(gateway, body, **headers)
    assert (got, reply["header"]["code"]) == (status, code), reply
    return str(reply["header"]["message"])


async def assert_serves(gateway: Gateway, text: str = "again") -> None:
    status, reply = await post(gateway, json.dumps(good_body(text)).encode())
    assert status == 200, reply
    assert reply["payload"]["text"]["text"] == text


NESTED = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "utf-32-le", "utf-32-be"])
async def test_deeply_nested_utf16_or_utf32_body_is_400_with_10000(
        echo: Callable[..., Any], encoding: str) -> None:
    async with echo() as gateway:
        message = await assert_error(gateway, NESTED.encode(encoding), 400, 10000)
        assert "Nesting deeper than 512" in message
        await assert_serves(gateway)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32-be"])
async def test_utf16_or_utf32_body_is_served_as_utf8_would_be(
        echo: Callable[..., Any], encoding: str) -> None:
    async with echo() as gateway:
        status, reply = await post(gateway, json.dumps(good_body("héllo")).encode(encoding))
        assert status == 200, reply
        assert reply["payload"]["text"]["text"] == "héllo"


async def test_utf16_body_that_is_not_utf16_is_400_with_10000(echo: Callable[..., Any]
                                                               ) -> None:
    async with echo() as gateway:
        await assert_error(gateway, b"\xff\xfe\x00\xd8", 400, 10000)  # a lone high surrogate
        await assert_error(gateway, b"[\x00[\x00", 400, 10000)


LONE = "\ud800"
SURROGATES = {
    "parameter key": (aiges_body("echo", {"text": text_item("x")}, {LONE: "v"}),
                      "parameter key '\\ud800'"),
    "parameter value": (aiges_body("echo", {"text": text_item("x")}, {"mode": LONE}),
                        "parameter 'mode'"),
    "accept key": (aiges_body("echo", {"text": text_item("x")}, {LONE: {"encoding": "utf8"}}),
                   "parameter key '\\ud800'"),
    "accept attribute": (aiges_body("echo", {"text": text_item("x")},
                                    {"text": {"format": LONE}}),
                         "parameter 'text': attribute 'format'"),
    "payload key": (aiges_body("echo", {LONE: text_item("x")}), "payload key '\\ud800'"),
    "desc key": (aiges_body("echo", {"text": {**text_item("x"), LONE: "a"}}),
                 "payload 'text': attribute key '\\ud800'"),
    "desc value": (aiges_body("echo", {"text": {**text_item("x"), "encoding": LONE}}),
                   "payload 'text': attribute 'encoding'"),
    "header value": (aiges_body("echo", {"text": text_item("x")}, header={"app_id": LONE}),
                     "header field 'app_id'"),
}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("field", list(SURROGATES))
async def test_lone_surrogate_in_a_forwarded_string_is_400_with_10001_naming_it(
        echo: Callable[..., Any], field: str, encoding: str) -> None:
    body, named = SURROGATES[field]
    # json.dumps writes the surrogate as the escape \ud800 (UTF-8); UTF-16 carries it raw
    raw = json.dumps(body, ensure_ascii=encoding == "utf-8").encode(encoding, "surrogatepass")
    async with echo() as gateway:
        message = await assert_error(gateway, raw, 400, 10001)
        assert named in message and "lone surrogate" in message
        await assert_serves(gateway)


@pytest.mark.parametrize(("encoding", "compress"), [
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("deflate", zlib.compress),  # RFC 9110's deflate: zlib-wrapped
    ("deflate", lambda data: zlib.compress(data, wbits=-15)),  # raw, as some clients send it
    ("gzip, identity", gzip.compress),
])
async def test_compressed_body_is_decoded_and_served(
        echo: Callable[..., Any], encoding: str, compress: Callable[[bytes], bytes]) -> None:
    text = "compressed " * 1000
    async with echo() as gateway:
        status, reply = await post(gateway, compress(json.dumps(good_body(text)).encode()),
                                   **{"Content-Encoding": encoding})
        assert status == 200, reply
        assert reply["payload"]["text"]["text"] == text


async def test_several_gzip_members_are_one_body(echo: Callable[..., Any]) -> None:
    raw = json.dumps(good_body("two members")).encode()
    async with echo() as gateway:
        status, reply = await post(gateway, gzip.compress(raw[:20]) + gzip.compress(raw[20:]),
                                   **{"Content-Encoding": "gzip"})
        assert status == 200, reply
        assert reply["payload"]["text"]["text"] == "two members"


async def test_decompression_bomb_is_413_with_10413_without_its_decoded_size_in_memory(
        echo: Callable[..., Any]) -> None:
    bomb = gzip.compress(bytes(10 * MIB))  # ~10 KiB that decode to 10 MiB of zeros
    async with echo(max_body_mb=1) as gateway:
        tracemalloc.start()
        try:
            message = await assert_error(gateway, bomb, 413, 10413,
                                         **{"Content-Encoding": "gzip"})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert "decodes to more than" in message
        assert peak < 3 * MIB, f"{peak} bytes allocated at the peak"  # the limit, not 10 MiB
        await assert_serves(gateway)


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, gzip", "gzip, br"])
async def test_encoding_not_decoded_is_415_with_10415(echo: Callable[..., Any],
                                                      encoding: str) -> None:
    async with echo() as gateway:
        message = await assert_error(gateway, b"\x1f\x8b whatever", 415, 10415,
                                     **{"Content-Encoding": encoding})
        assert "gzip, deflate" in message
        await assert_serves(gateway)


@pytest.mark.parametrize("body", [
    b"not gzip at all",
    gzip.compress(json.dumps(good_body()).encode())[:-12],  # cut short
    gzip.compress(json.dumps(good_body()).encode()) + b"junk",
])
async def test_broken_gzip_body_is_400_with_10000(echo: Callable[..., Any], body: bytes
                                                  ) -> None:
    async with echo() as gateway:
        await assert_error(gateway, body, 400, 10000, **{"Content-Encoding": "gzip"})
        await assert_serves(gateway)


async def _open(base: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = base.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


def _head(length: int | None) -> bytes:
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (f"POST {ROUTE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"{framing}\r\n\r\n").encode()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], dict[str, Any]]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:] if line)
    body = await reader.readexactly(int(headers["Content-Length"]))
    return int(head[0].split()[1]), headers, json.loads(body)


@pytest.mark.parametrize("sent", [
    _head(1000) + b'{"header": {',  # Content-Length longer than what arrives
    _head(None) + b'5\r\n{"hea\r\n',  # chunked without its terminating chunk
])
async def test_body_that_stops_half_way_is_408_with_10408_and_the_connection_closed(
        echo: Callable[..., Any], sent: bytes) -> None:
    async with echo(body_timeout_s=0.5) as gateway:
        reader, writer = await _open(gateway.base)
        try:
            writer.write(sent)
            await writer.drain()
            async with asyncio.timeout(3):  # aiohttp's lingering close would take 10 s
                status, headers, reply = await _answer(reader)
                assert (status, reply["header"]["code"]) == (408, 10408), reply
                assert "body_timeout_s" in reply["header"]["message"]
                assert headers.get("Connection", "").lower() == "close"
                assert await reader.read() == b""  # closed by the gateway
        finally:
            writer.close()
        await assert_serves(gateway)


async def test_body_over_the_in_flight_budget_is_503_before_it_is_read(
        echo: Callable[..., Any]) -> None:
    declared = 3 * MIB // 2
    async with echo(max_body_mb=2, max_bodies_in_flight_mb=4) as gateway:
        stalled = [await _open(gateway.base) for _ in range(2)]  # 3 of the 4 MiB promised
        try:
            for _, writer in stalled:
                writer.write(_head(declared) + b"{" * 1024)
                await writer.drain()
            budget = gateway.app[BODIES]
            assert await _eventually(lambda: budget.taken == 2 * declared)
            reader, writer = await _open(gateway.base)
            writer.write(_head(declared))
            await writer.drain()
            async with asyncio.timeout(3):
                status, headers, reply = await _answer(reader)
                assert (status, reply["header"]["code"]) == (503, 10503), reply
                assert headers["Retry-After"] == "1"
                assert "max_bodies_in_flight_mb" in reply["header"]["message"]
                assert await reader.read() == b""
            writer.close()
            await assert_serves(gateway)  # a small body still fits
        finally:
            for _, writer in stalled:
                writer.close()
        assert await _eventually(lambda: budget.taken == 0)


async def _eventually(condition: Callable[[], bool], within: float = 5.0) -> bool:
    for _ in range(int(within / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def _send(gateway: Gateway, raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    reader, writer = await _open(gateway.base)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(5):
            return await _answer(reader)
    finally:
        writer.close()


def _chunked(body: bytes, piece: int = 64 * 1024) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + piece]), body[i:i + piece])
             for i in range(0, len(body), piece)]
    return _head(None) + b"".join(parts) + b"0\r\n\r\n"


async def test_chunked_body_is_served_and_over_max_body_is_413(echo: Callable[..., Any]
                                                               ) -> None:
    async with echo(max_body_mb=1) as gateway:
        status, _, reply = await _send(gateway, _chunked(json.dumps(good_body("chunks")).encode()))
        assert status == 200 and reply["payload"]["text"]["text"] == "chunks", reply
        status, _, reply = await _send(gateway, _chunked(b" " * (MIB + 1)))
        assert (status, reply["header"]["code"]) == (413, 10413), reply
        await assert_serves(gateway)


async def test_chunked_body_whose_framing_breaks_mid_way_is_cut_with_408(
        echo: Callable[..., Any]) -> None:
    """aiohttp stops feeding a body whose framing broke without telling its reader: the body
    timeout ends the wait."""
    async with echo(body_timeout_s=0.5) as gateway:
        reader, writer = await _open(gateway.base)
        try:
            writer.write(_head(None) + b"5\r\nhello\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)  # the handler is reading the body when the framing breaks
            writer.write(b"zz\r\nhello\r\n0\r\n\r\n")
            async with asyncio.timeout(5):
                status, _, reply = await _answer(reader)
            assert (status, reply["header"]["code"]) == (408, 10408), reply
        finally:
            writer.close()
        await assert_serves(gateway)


async def test_chunked_bodies_count_against_the_in_flight_budget_as_they_arrive(
        echo: Callable[..., Any]) -> None:
    async with echo(max_body_mb=2, max_bodies_in_flight_mb=2) as gateway:
        budget = gateway.app[BODIES]
        reader, writer = await _open(gateway.base)
        try:
            writer.write(_head(None) + b"%x\r\n%s\r\n" % (MIB, b" " * MIB))
            await writer.drain()
            assert await _eventually(lambda: budget.taken == MIB)
            # a second body that would go over the 2 MiB
            status, headers, reply = await _send(gateway, _head(MIB + 1))
            assert (status, reply["header"]["code"]) == (503, 10503), reply
        finally:
            writer.close()
        assert await _eventually(lambda: budget.taken == 0)
        await assert_serves(gateway)


def _rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _ready(path: Path, process: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    """The ready file's contents, waited for without blocking the loop the worker serves on."""
    for _ in range(3000):
        if path.exists():
            return dict(json.loads(path.read_text()))
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{log.read_text()}")
        await asyncio.sleep(0.02)
    raise RuntimeError(f"gateway not ready:\n{log.read_text()}")


async def test_stalled_uploads_that_promise_50_mib_each_leave_the_gateway_process_small(
        tmp_path: Path) -> None:
    """20 connections each declare 50 MiB and send 64 KiB: a real `athena gateway` process
    holds about what arrived, not the 1,000 MiB promised, and still serves a normal call."""
    ready, log = tmp_path / "ready.json", tmp_path / "gateway.log"
    env = {**os.environ, "ATHENA_GATEWAY_MAX_BODIES_IN_FLIGHT_MB": "2000",
           "ATHENA_GATEWAY_BODY_TIMEOUT_S": "60"}
    async with running_worker(ECHO) as worker:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [ATHENA, "gateway", "--worker", worker.address, "--port", "0", "--grpc-port",
                 "0", "--max-body-mb", "64", "--ready-file", str(ready)],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        connections: list[asyncio.StreamWriter] = []
        try:
            base = f"http://127.0.0.1:{(await _ready(ready, process, log))['http_port']}"
            async with aiohttp.ClientSession(base) as client:
                async with client.post(ROUTE, json=good_body("warm")) as response:
                    assert response.status == 200  # warmed up: the baseline includes a call
                before = _rss_bytes(process.pid)
                for _ in range(20):
                    _, writer = await _open(base)
                    writer.write(_head(50 * MIB) + b" " * (64 * 1024))
                    await writer.drain()
                    connections.append(writer)
                metrics_text = ""
                for _ in range(250):  # until the gateway is reading all 20 bodies
                    async with client.get("/metrics") as response:
                        metrics_text = await response.text()
                    if f'athena_gateway_http_requests_in_flight{{route="{ROUTE}"}} 20.0' \
                            in metrics_text:
                        break
                    await asyncio.sleep(0.02)
                else:
                    pytest.fail("the gateway never had the 20 uploads in flight")
                grown = _rss_bytes(process.pid) - before
                assert grown < 64 * MIB, f"RSS grew {grown / MIB:.0f} MiB for 1.25 MiB received"
                async with client.post(ROUTE, json=good_body("still")) as response:
                    assert response.status == 200
                    assert (await response.json())["payload"]["text"]["text"] == "still"
        finally:
            for writer in connections:
                writer.close()
            await asyncio.to_thread(stop, process)  # the worker it calls serves on this loop


async def test_client_gone_mid_body_is_no_gateway_fault(echo: Callable[..., Any],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    async with echo() as gateway:
        budget = gateway.app[BODIES]
        _, writer = await _open(gateway.base)
        writer.write(_head(1000) + b'{"header": {')
        await writer.drain()
        assert await _eventually(lambda: budget.taken == 1000)
        writer.close()
        assert await _eventually(lambda: budget.taken == 0)
        await assert_serves(gateway)
        samples = [s for metric in gateway.metrics.registry.collect() for s in metric.samples
                   if s.name == "athena_gateway_http_requests_total"]
        assert samples and all(s.labels["code"] != "500" for s in samples), samples
        assert "unexpected gateway failure" not in caplog.text

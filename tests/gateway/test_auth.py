"""Authentication at the edge through the real gateway in front of real in-process workers:
API keys (header, bearer, query, file rotation) and the iFlytek open platform signature,
computed here from iFlytek's documented formula, over HTTP, WebSocket and gRPC."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from wsgiref.handlers import format_date_time

import aiohttp
import grpc
import pytest

from gateway.auth import AUTH
from gateway.edge import start_edge
from loader.v1 import loader_pb2
from loader.v1.status import aiges_code_from
from tests.inprocess import Gateway, running_gateway, running_worker
from tests.support import ABILITIES, ROOT, aiges_body, text_item

ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")
STREAM_ECHO = str(ABILITIES / "stream_echo" / "wrapper.py")
ROUTE = "/v1/private/echo"
BODY = aiges_body("echo", {"text": text_item("secret sauce")})
APP_KEY, APP_SECRET = "4d93903f9f27810a446161efe68a153e", "Njg5NjhiMDRmMGJmNWM2MDNlMmJl"
HOST = "api.example.com"


@asynccontextmanager
async def gateway_with(**overrides: Any) -> AsyncIterator[Gateway]:
    async with running_worker(ECHO) as echo, running_worker(STREAM_ECHO) as stream, \
            running_gateway([echo.address, stream.address], **overrides) as gateway:
        yield gateway


def iflytek_query(method: str, path: str, *, key: str = APP_KEY, secret: str = APP_SECRET,
                  date: str | None = None) -> dict[str, str]:
    """The client side, as iFlytek's WebAPI demos sign a request URL."""
    date = date or format_date_time(time.time())
    origin = f"host: {HOST}\ndate: {date}\n{method} {path} HTTP/1.1"
    signature = base64.b64encode(
        hmac.new(secret.encode(), origin.encode(), hashlib.sha256).digest()).decode()
    authorization_origin = (f'api_key="{key}", algorithm="hmac-sha256", '
                            f'headers="host date request-line", signature="{signature}"')
    authorization = base64.b64encode(authorization_origin.encode()).decode()
    return {"authorization": authorization, "date": date, "host": HOST}


async def post(gateway: Gateway, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with gateway.client.post(ROUTE, json=BODY, **kwargs) as response:
        return response.status, await response.json()


def failures(gateway: Gateway, transport: str, reason: str) -> float:
    value = gateway.metrics.registry.get_sample_value(
        "athena_gateway_auth_failures_total", {"transport": transport, "reason": reason})
    return value or 0.0


def assert_echoed(status: int, body: dict[str, Any]) -> None:
    assert status == 200, body
    assert body["payload"]["text"]["text"] == "secret sauce"  # utf8: sent raw


@pytest.fixture
def iflytek_keys(tmp_path: Path) -> Path:
    path = tmp_path / "iflytek_keys"
    path.write_text(f"# APIKey APISecret\n{APP_KEY} {APP_SECRET}\n")
    return path


async def test_an_api_key_is_accepted_in_x_api_key_bearer_or_the_query() -> None:
    async with gateway_with(api_keys=("k-one", "k-two")) as gateway:
        assert_echoed(*await post(gateway, headers={"X-Api-Key": "k-one"}))
        assert_echoed(*await post(gateway, headers={"Authorization": "Bearer k-two"}))
        assert_echoed(*await post(gateway, params={"api_key": "k-one"}))


async def test_a_call_without_credentials_is_401_with_code_10401_saying_what_to_send() -> None:
    async with gateway_with(api_keys=("k-one",)) as gateway:
        status, body = await post(gateway)
        assert status == 401
        assert body["header"]["code"] == 10401
        assert "X-Api-Key" in body["header"]["message"]
        assert failures(gateway, "http", "missing") == 1


@pytest.mark.parametrize("header", [b"X-Api-Key: \xed\xa0\x80", b"X-Api-Key: \xff\xfe",
                                    b"Authorization: Bearer \xc3\x28"])
async def test_a_key_whose_bytes_are_not_utf8_is_refused_not_a_fault(header: bytes) -> None:
    """aiohttp reads such header bytes as surrogate escapes, which had no UTF-8 form to
    compare with: a gateway 500 (found by tests/fuzz/test_auth_fuzz.py)."""
    async with gateway_with(api_keys=("k-one",)) as gateway:
        host, port = gateway.base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        body = json.dumps(BODY).encode()
        writer.write(b"POST " + ROUTE.encode() + b" HTTP/1.1\r\nHost: g\r\n" + header +
                     b"\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        status = int(answer.split(b" ", 2)[1])
        reply = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert (status, reply["header"]["code"]) == (403, 10403), answer


async def test_a_wrong_key_is_403_with_code_10403_and_counted() -> None:
    async with gateway_with(api_keys=("k-one",)) as gateway:
        status, body = await post(gateway, headers={"X-Api-Key": "k-on"})
        assert (status, body["header"]["code"]) == (403, 10403)
        assert "k-one" not in body["header"]["message"]
        assert failures(gateway, "http", "unknown_key") == 1


async def test_without_keys_configured_the_gateway_takes_calls_from_anyone() -> None:
    async with gateway_with() as gateway:
        assert_echoed(*await post(gateway))


async def test_healthz_is_always_open_and_admin_routes_only_guarded_when_switched_on() -> None:
    async with gateway_with(api_keys=("k-one",)) as gateway:
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            async with gateway.client.get(path) as response:
                assert response.status == 200, path
    async with gateway_with(api_keys=("k-one",), auth_admin_routes=True) as gateway:
        async with gateway.client.get("/healthz") as response:
            assert response.status == 200
        for path in ("/readyz", "/metrics", "/openapi.json", "/v1/abilities"):
            async with gateway.client.get(path) as response:
                assert response.status == 401, path
        async with gateway.client.get("/metrics", headers={"X-Api-Key": "k-one"}) as response:
            assert response.status == 200


async def test_a_key_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# one key per line\nold-key\n\n")
    async with gateway_with(api_keys_file=keys) as gateway:
        assert_echoed(*await post(gateway, headers={"X-Api-Key": "old-key"}))
        keys.write_text("new-key-longer\n  # rotated\n")
        await asyncio.sleep(1.1)  # the file is looked at no more than once a second
        assert (await post(gateway, headers={"X-Api-Key": "old-key"}))[0] == 403
        assert_echoed(*await post(gateway, headers={"X-Api-Key": "new-key-longer"}))


async def test_an_iflytek_signed_request_is_accepted_over_http(iflytek_keys: Path) -> None:
    async with gateway_with(iflytek_keys_file=iflytek_keys) as gateway:
        assert_echoed(*await post(gateway, params=iflytek_query("POST", ROUTE)))


async def test_an_iflytek_signed_websocket_session_is_served(iflytek_keys: Path) -> None:
    async with gateway_with(iflytek_keys_file=iflytek_keys) as gateway:
        ability = gateway.upstreams.by_service("stream_echo")
        assert ability is not None
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await gateway.client.ws_connect(ability.route)
        assert refused.value.status == 401
        query = iflytek_query("GET", ability.route)
        async with gateway.client.ws_connect(ability.route, params=query) as ws:
            await ws.send_json({
                "header": {"app_id": "test"},
                "parameter": {"stream_echo": {"result": {"encoding": "utf8"}}},
                "payload": {"text": {"encoding": "utf8", "status": 2,
                                     "text": base64.b64encode(b"hi").decode()}}})
            reply = await ws.receive_json(timeout=10)
        assert reply["payload"]["result"]["text"] == "HI"


async def test_an_old_or_future_date_is_403_with_the_same_message_as_a_bad_signature(
        iflytek_keys: Path) -> None:
    async with gateway_with(iflytek_keys_file=iflytek_keys, signature_skew_s=300) as gateway:
        status, wrong = await post(gateway, params=iflytek_query("POST", ROUTE, secret="nope"))
        assert (status, wrong["header"]["code"]) == (403, 10403)
        for offset in (-600, 600):
            date = format_date_time(time.time() + offset)
            status, body = await post(gateway, params=iflytek_query("POST", ROUTE, date=date))
            assert (status, body["header"]["code"]) == (403, 10403)
            assert body["header"]["message"] == wrong["header"]["message"]  # no hint
        assert failures(gateway, "http", "expired") == 2
        assert failures(gateway, "http", "bad_signature") == 1


async def test_a_signature_used_twice_is_refused_as_a_replay(iflytek_keys: Path) -> None:
    async with gateway_with(iflytek_keys_file=iflytek_keys) as gateway:
        query = iflytek_query("POST", ROUTE)
        assert_echoed(*await post(gateway, params=query))
        status, body = await post(gateway, params=query)
        assert (status, body["header"]["code"]) == (403, 10403)
        assert failures(gateway, "http", "replay") == 1


async def test_a_signature_for_another_path_or_method_is_refused(iflytek_keys: Path) -> None:
    async with gateway_with(iflytek_keys_file=iflytek_keys) as gateway:
        assert (await post(gateway, params=iflytek_query("GET", ROUTE)))[0] == 403
        assert (await post(gateway, params=iflytek_query("POST", "/v1/other")))[0] == 403


async def test_a_malformed_authorization_is_401(iflytek_keys: Path) -> None:
    async with gateway_with(iflytek_keys_file=iflytek_keys) as gateway:
        query = {**iflytek_query("POST", ROUTE), "authorization": "bm90IGEgc2lnbmF0dXJl"}
        status, body = await post(gateway, params=query)
        assert (status, body["header"]["code"]) == (401, 10401)
        assert failures(gateway, "http", "malformed") == 1


def _call(channel: grpc.aio.Channel) -> Any:
    return channel.unary_unary(
        "/loader.v1.Loader/Call",
        request_serializer=loader_pb2.CallRequest.SerializeToString,
        response_deserializer=loader_pb2.CallResponse.FromString)


@asynccontextmanager
async def edge_with(**overrides: Any) -> AsyncIterator[tuple[Gateway, grpc.aio.Channel]]:
    async with gateway_with(**overrides) as gateway:
        server, port, _ = await start_edge(gateway.upstreams, gateway.settings,
                                           gateway.metrics, gateway.app[AUTH])
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                yield gateway, channel
        finally:
            await server.stop(None)


REQUEST = loader_pb2.CallRequest(inputs=[
    loader_pb2.Data(key="text", type=0, status=3, data=b"over grpc")])
ABILITY = ("athena-ability", "echo")


async def test_grpc_with_a_key_in_metadata_is_served_and_without_one_unauthenticated() -> None:
    async with edge_with(api_keys=("k-one",)) as (gateway, channel):
        for metadata in ([("x-api-key", "k-one")], [("authorization", "Bearer k-one")]):
            reply = await _call(channel)(REQUEST, metadata=[ABILITY, *metadata], timeout=10)
            assert reply.outputs[0].data == b"over grpc"
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await _call(channel)(REQUEST, metadata=[ABILITY], timeout=10)
        assert missing.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert aiges_code_from(missing.value.trailing_metadata()) == 10401
        with pytest.raises(grpc.aio.AioRpcError) as wrong:
            await _call(channel)(REQUEST, metadata=[ABILITY, ("x-api-key", "no")], timeout=10)
        assert wrong.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert aiges_code_from(wrong.value.trailing_metadata()) == 10403
        assert failures(gateway, "grpc", "missing") == 1


async def test_grpc_with_an_iflytek_signature_in_metadata_is_served(iflytek_keys: Path) -> None:
    async with edge_with(iflytek_keys_file=iflytek_keys) as (_, channel):
        date = format_date_time(time.time())
        origin = f"host: {HOST}\ndate: {date}\nPOST /loader.v1.Loader/Call HTTP/2"
        signature = base64.b64encode(
            hmac.new(APP_SECRET.encode(), origin.encode(), hashlib.sha256).digest()).decode()
        authorization = base64.b64encode(
            (f'api_key="{APP_KEY}", algorithm="hmac-sha256", headers="host date request-line"'
             f', signature="{signature}"').encode()).decode()
        metadata = [ABILITY, ("authorization", authorization), ("host", HOST), ("date", date)]
        reply = await _call(channel)(REQUEST, metadata=metadata, timeout=10)
        assert reply.outputs[0].data == b"over grpc"

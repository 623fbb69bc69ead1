"""Server-sent events through the real gateway in front of real in-process workers, read with
httpx-sse: the token stream below (a session ability that also serves once calls), the
stream_echo test ability, and the echo example (once calls only)."""
from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiges_embed import Response, ResponseData, SessionCreateResponse
from httpx_sse import EventSource, ServerSentEvent, aconnect_sse

from tests.inprocess import Gateway, Worker, eventually, running_gateway, running_worker
from tests.support import ABILITIES, ROOT

TOKENS = f"{__name__}:Tokens"
STREAM_ECHO = str(ABILITIES / "stream_echo" / "wrapper.py")
ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")


class Tokens:
    """A pull stream wrapper answering each frame word by word, one word per wrapperRead
    (status 1, the last 2), as a token-streaming model does; its once call answers whole.
    Params: error_after=<n> answers error 4343 after n words; hold=1 sends the first word
    only, then nothing until destroyed. Every session call is recorded in `seen`."""

    serviceId = "tokens"

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []
        self.pending: dict[str, list[Response]] = {}
        self.params: dict[str, dict[str, str]] = {}
        self.count = 0

    def wrapperInit(self, config: dict[str, str]) -> int:
        return 0

    def wrapperOnceExec(self, params: dict[str, str], reqData: Any) -> Response:
        out = ResponseData(key="result", status=3)
        out.setData(bytes(reqData.list[0].data).upper())
        return Response([out])

    def wrapperCreate(self, params: dict[str, str], sid: str) -> SessionCreateResponse:
        self.count += 1
        created = SessionCreateResponse()
        created.handle = f"t{self.count}"
        self.pending[created.handle] = []
        self.params[created.handle] = dict(params)
        self.seen.append(("create", created.handle))
        return created

    def wrapperWrite(self, handle: str, reqData: Any) -> int:
        frame = reqData.list[0]
        self.seen.append(("write", handle, frame.status))
        words = bytes(frame.data).decode().split()
        params = self.params[handle]
        answers: list[Response] = []
        for index, word in enumerate(words):
            if str(index) == params.get("error_after"):
                failed = Response()
                failed.error_code = 4343
                answers.append(failed)
                break
            out = ResponseData(key="result", status=2 if index == len(words) - 1 else 1)
            out.setData(word.upper().encode())
            answers.append(Response([out]))
            if params.get("hold"):
                break
        self.pending[handle] = answers
        return 0

    def wrapperRead(self, handle: str) -> Response | None:
        queue = self.pending[handle]
        return queue.pop(0) if queue else None

    def wrapperDestroy(self, handle: str) -> int:
        self.seen.append(("destroy", handle))
        del self.pending[handle]
        return 0

    def wrapperError(self, code: int) -> str:
        return {4343: "word refused"}.get(code, "")


def request(service_id: str, text: str, status: int | None = 3, *, output: str = "result",
            **params: str) -> dict[str, Any]:
    item: dict[str, Any] = {"encoding": "utf8", "text": base64.b64encode(text.encode()).decode()}
    if status is not None:
        item["status"] = status
    return {"header": {"app_id": "test"},
            "parameter": {service_id: {**params, output: {"encoding": "utf8"}}},
            "payload": {"text": item}}


@asynccontextmanager
async def serving(wrapper: str, **overrides: Any
                  ) -> AsyncIterator[tuple[Worker, Gateway, httpx.AsyncClient]]:
    """A worker of `wrapper`, the gateway in front of it, and an httpx client of the gateway."""
    licence = overrides.pop("licence", 4)
    async with running_worker(wrapper, licence=licence) as worker, \
            running_gateway([worker.address], **overrides) as gateway, \
            httpx.AsyncClient(base_url=gateway.base, timeout=10) as client:
        yield worker, gateway, client


def route(gateway: Gateway, service_id: str) -> str:
    ability = gateway.upstreams.by_service(service_id)
    assert ability is not None
    return ability.route


async def events(client: httpx.AsyncClient, url: str, body: dict[str, Any]
                 ) -> tuple[httpx.Response, list[ServerSentEvent]]:
    async with aconnect_sse(client, "POST", url, json=body) as source:
        received = [event async for event in source.aiter_sse()]
    return source.response, received


def results(received: list[ServerSentEvent]) -> list[tuple[str, int, str]]:
    """(event, header.status, the result's text) of each event."""
    frames = [(event.event, json.loads(event.data)) for event in received]
    return [(kind, frame["header"]["status"], frame["payload"]["result"]["text"])
            for kind, frame in frames]


def sample(gateway: Gateway, name: str, **labels: str) -> float:
    return gateway.metrics.registry.get_sample_value(name, labels) or 0.0


def sessions_active(worker: Worker) -> float:
    return worker.metrics.registry.get_sample_value("athena_loader_sessions_active") or 0.0


def seen(worker: Worker, op: str) -> list[tuple[Any, ...]]:
    assert worker.plugin is not None
    return [call for call in worker.plugin.target.seen if call[0] == op]


async def test_a_session_ability_sends_each_result_as_an_event_the_last_with_status_2() -> None:
    async with serving(TOKENS) as (worker, gateway, client):
        response, received = await events(client, route(gateway, "tokens"),
                                          request("tokens", "one two three"))
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert results(received) == [("result", 1, "ONE"), ("result", 1, "TWO"),
                                     ("result", 2, "THREE")]
        assert [event.id for event in received] == ["1", "2", "3"]
        sids = {json.loads(event.data)["header"]["sid"] for event in received}
        assert len(sids) == 1 and sids.pop().startswith("atn")
        # the body went as the session's one frame, its status 3 as 2 (last)
        assert [call[2] for call in seen(worker, "write")] == [2]
        assert len(seen(worker, "destroy")) == 1
        assert await eventually(lambda: sessions_active(worker) == 0)
        labels = {"ability": "tokens", "transport": "sse"}
        assert await eventually(lambda: sample(
            gateway, "athena_gateway_session_ends_total", reason="completed", **labels) == 1)
        assert sample(gateway, "athena_gateway_sessions", **labels) == 0
        assert sample(gateway, "athena_gateway_session_duration_seconds_count", **labels) == 1
        assert sample(gateway, "athena_gateway_session_frames_total", ability="tokens",
                      direction="out") == 3


@pytest.mark.parametrize("status", [3, 2, None])
async def test_stream_echo_gets_the_body_as_one_frame_with_status_2(status: int | None) -> None:
    async with serving(STREAM_ECHO) as (_, gateway, client):
        _, received = await events(client, route(gateway, "stream_echo"),
                                   request("stream_echo", "hello", status))
        # stream_echo answers each frame with the frame's own status
        assert results(received) == [("result", 2, "HELLO")]
        assert json.loads(received[0].data)["payload"]["result"]["status"] == "2"


async def test_an_ability_serving_both_streams_events_from_its_session() -> None:
    async with serving(TOKENS) as (worker, gateway, client):
        url = route(gateway, "tokens")
        plain = await client.post(url, json=request("tokens", "a b"))
        assert plain.json()["payload"]["result"]["text"] == "A B"  # its once call
        _, received = await events(client, url, request("tokens", "a b"))
        assert results(received) == [("result", 1, "A"), ("result", 2, "B")]


async def test_a_once_only_ability_answers_one_event_with_its_json_answer() -> None:
    async with serving(ECHO) as (_, gateway, client):
        url = route(gateway, "echo")
        body = request("echo", "hi", output="text")  # echo answers under the input's name
        plain = (await client.post(url, json=body)).json()
        response, received = await events(client, url, body)
        assert response.status_code == 200
        assert [(event.event, event.id) for event in received] == [("result", "1")]
        answer = json.loads(received[0].data)
        assert answer["header"]["status"] == 3
        assert answer["header"]["sid"] != plain["header"]["sid"]
        answer["header"]["sid"] = plain["header"]["sid"]
        assert answer == plain
        # a one-shot call, not a session
        assert sample(gateway, "athena_gateway_session_duration_seconds_count",
                      ability="echo", transport="sse") == 0


async def test_a_wrapper_error_after_the_first_result_is_one_error_event_with_its_code(
        ) -> None:
    async with serving(TOKENS) as (worker, gateway, client):
        response, received = await events(client, route(gateway, "tokens"),
                                          request("tokens", "one two", error_after="1"))
        assert response.status_code == 200
        assert [event.event for event in received] == ["result", "error"]
        assert [event.id for event in received] == ["1", "2"]
        error = json.loads(received[1].data)
        assert error["header"]["code"] == 4343
        assert "word refused" in error["header"]["message"]
        assert error["header"]["sid"] == json.loads(received[0].data)["header"]["sid"]
        assert "payload" not in error
        assert await eventually(lambda: sessions_active(worker) == 0)
        assert await eventually(lambda: sample(
            gateway, "athena_gateway_session_ends_total", ability="tokens", transport="sse",
            reason="error") == 1)


async def test_a_wrapper_failing_before_any_result_is_an_ordinary_http_error() -> None:
    async with serving(STREAM_ECHO) as (worker, gateway, client):
        async with aconnect_sse(client, "POST", route(gateway, "stream_echo"),
                                json=request("stream_echo", "b", fail_write="b")) as source:
            assert source.response.status_code == 500
            assert source.response.headers["content-type"].startswith("application/json")
            assert json.loads(await source.response.aread())["header"]["code"] == 10907
        assert await eventually(lambda: sessions_active(worker) == 0)


async def test_a_client_that_disconnects_mid_stream_ends_the_workers_session() -> None:
    async with serving(TOKENS) as (worker, gateway, client):
        async with aconnect_sse(client, "POST", route(gateway, "tokens"),
                                json=request("tokens", "one two", hold="1")) as source:
            first = await anext(source.aiter_sse())
            assert results([first]) == [("result", 1, "ONE")]
            assert sessions_active(worker) == 1
            assert gateway.upstreams.endpoints[0].outstanding == 1
        # leaving the block mid-stream closes the connection
        assert await eventually(lambda: sessions_active(worker) == 0)
        assert await eventually(lambda: len(seen(worker, "destroy")) == 1)
        assert gateway.upstreams.endpoints[0].outstanding == 0
        assert await eventually(lambda: sample(
            gateway, "athena_gateway_session_ends_total", ability="tokens", transport="sse",
            reason="client_gone") == 1)
        assert sample(gateway, "athena_gateway_sessions", ability="tokens", transport="sse") == 0
        await asyncio.sleep(0.2)
        assert len(seen(worker, "destroy")) == 1  # exactly once


async def test_a_result_later_than_timeout_s_is_an_error_event_10114() -> None:
    async with serving(TOKENS, timeout_s=0.3) as (worker, gateway, client):
        _, received = await events(client, route(gateway, "tokens"),
                                   request("tokens", "one two", hold="1"))
        assert [event.event for event in received] == ["result", "error"]
        error = json.loads(received[1].data)["header"]
        assert error["code"] == 10114 and "timeout_s" in error["message"]
        assert await eventually(lambda: sessions_active(worker) == 0)
        assert await eventually(lambda: sample(
            gateway, "athena_gateway_session_ends_total", ability="tokens", transport="sse",
            reason="timeout") == 1)


async def test_a_session_past_the_session_timeout_is_an_error_event_10114() -> None:
    async with serving(TOKENS, ws_session_timeout_s=0.3) as (worker, gateway, client):
        _, received = await events(client, route(gateway, "tokens"),
                                   request("tokens", "one two", hold="1"))
        assert [event.event for event in received] == ["result", "error"]
        error = json.loads(received[1].data)["header"]
        assert error["code"] == 10114 and "sessionTimeout" in error["message"]
        assert await eventually(lambda: sessions_active(worker) == 0)


async def test_a_worker_lost_mid_stream_is_an_error_event_10109() -> None:
    async with serving(TOKENS) as (worker, gateway, client):
        async with aconnect_sse(client, "POST", route(gateway, "tokens"),
                                json=request("tokens", "one two", hold="1")) as source:
            stream = source.aiter_sse()
            first = await anext(stream)
            await worker.stop()
            rest = [event async for event in stream]
        assert first.event == "result"
        assert [event.event for event in rest] == ["error"]
        assert json.loads(rest[0].data)["header"]["code"] == 10109


async def test_bad_json_is_the_same_400_a_json_post_gets() -> None:
    async with serving(TOKENS) as (_, gateway, client):
        url = route(gateway, "tokens")
        plain = await client.post(url, content=b"{not json")
        async with aconnect_sse(client, "POST", url, content=b"{not json") as source:
            assert source.response.status_code == plain.status_code == 400
            body = json.loads(await source.response.aread())
        assert body["header"]["code"] == plain.json()["header"]["code"] == 10000


@pytest.mark.parametrize("wrapper", [TOKENS, ECHO])
@pytest.mark.parametrize("status", [0, 1])
async def test_statuses_0_and_1_are_refused_with_400_and_10001(wrapper: str, status: int
                                                               ) -> None:
    async with serving(wrapper) as (_, gateway, client):
        service_id = gateway.upstreams.abilities()[0].service_id
        body = request(service_id, "x", status, output="text")
        async with aconnect_sse(client, "POST", route(gateway, service_id), json=body) as source:
            assert source.response.status_code == 400
            header = json.loads(await source.response.aread())["header"]
        assert header["code"] == 10001
        assert f"status {status}" in header["message"] and "WebSocket" in header["message"]


async def test_an_unknown_route_is_the_usual_404() -> None:
    async with serving(ECHO) as (_, _gateway, client):
        async with aconnect_sse(client, "POST", "/v1/private/nobody",
                                json=request("nobody", "x")) as source:
            assert source.response.status_code == 404
            assert json.loads(await source.response.aread())["header"]["code"] == 10404


async def test_a_full_licence_is_the_usual_429_with_retry_after() -> None:
    async with serving(TOKENS, licence=1) as (_, gateway, client):
        url = route(gateway, "tokens")
        async with aconnect_sse(client, "POST", url,
                                json=request("tokens", "one two", hold="1")) as holding:
            assert (await anext(holding.aiter_sse())).event == "result"
            async with aconnect_sse(client, "POST", url, json=request("tokens", "x")) as second:
                assert second.response.status_code == 429
                assert second.response.headers["retry-after"] == "1"
                body = json.loads(await second.response.aread())
        assert body["header"]["code"] == 10110


@pytest.mark.parametrize(("accept", "streamed"), [
    ("text/event-stream", True),
    ("application/json;q=0.9, Text/Event-Stream;q=0.5", True),
    ("text/html, text/event-stream ; q=1.0, */*;q=0.1", True),
    ("text/event-stream;q=0", False),
    ("application/json", False),
    ("*/*", False),
    (None, False),
])
async def test_text_event_stream_anywhere_in_accept_selects_events(
        accept: str | None, streamed: bool) -> None:
    async with serving(ECHO) as (_, gateway, client):
        headers = {"Accept": accept} if accept is not None else {}
        body = request("echo", "hi", output="text")
        async with client.stream("POST", route(gateway, "echo"), json=body,
                                 headers=headers) as response:
            assert response.status_code == 200
            if streamed:
                received = [event async for event in EventSource(response).aiter_sse()]
                text = json.loads(received[0].data)["payload"]["text"]["text"]
            else:
                assert response.headers["content-type"].startswith("application/json")
                text = json.loads(await response.aread())["payload"]["text"]["text"]
        assert text == "hi"

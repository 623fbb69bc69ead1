"""WebSocket sessions on the real gateway in front of a real stream_echo worker, fed
generated frames: mutated AIGES frames, garbage text, text that is not UTF-8, binary frames,
garbage in the middle of a good session. Every session ends (closed by the gateway) with its
last result at status 2 or one AIGES error frame, never a gateway fault, within its timeout."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.checks import TIMEOUT_S, check_error_header, record
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.served import STREAM_ROUTE, Served
from tests.fuzz.strategies import byte_mutations, hostile_text, json_values, mutated_bodies
from tests.support import echo_frame

Frame = tuple[WSMsgType, bytes]

_good = json.dumps(echo_frame("mid", 1)).encode()
_frames: st.SearchStrategy[Frame] = st.one_of(
    mutated_bodies("stream_echo").map(
        lambda body: (WSMsgType.TEXT, json.dumps(body).encode("utf-8", "surrogatepass"))),
    json_values.map(lambda value: (WSMsgType.TEXT, json.dumps(value).encode(
        "utf-8", "surrogatepass"))),
    hostile_text.map(lambda text: (WSMsgType.TEXT, text.encode("utf-8", "surrogatepass"))),
    byte_mutations(_good).map(lambda raw: (WSMsgType.TEXT, raw)),  # may not be UTF-8
    st.binary(max_size=64).map(lambda raw: (WSMsgType.BINARY, raw)),
    st.just((WSMsgType.BINARY, _good)),
    st.just((WSMsgType.TEXT, _good)),
)


@pytest.fixture(scope="module")
def client_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


async def _session(base: str, opening: bool, frames: list[Frame]
                   ) -> tuple[list[Any], int | None]:
    """Every message the gateway sent, parsed, and its close code (None: not closed)."""
    received: list[Any] = []
    async with aiohttp.ClientSession(base) as client, client.ws_connect(STREAM_ROUTE) as ws:
        sent = [(WSMsgType.TEXT, json.dumps(echo_frame("open", 0, first=True)).encode())] \
            if opening else []
        sent += [*frames, (WSMsgType.TEXT, json.dumps(echo_frame("end", 2)).encode())]
        for kind, data in sent:
            if ws.closed:
                break
            try:
                await ws.send_frame(data, kind)
            except ConnectionError:
                break
        async with asyncio.timeout(TIMEOUT_S):
            async for message in ws:
                assert message.type is WSMsgType.TEXT, message
                received.append(json.loads(message.data))
        return received, ws.close_code if ws.closed else None


def _not_utf8(frame: Frame) -> bool:
    kind, data = frame
    try:
        data.decode()
    except UnicodeDecodeError:
        return kind is WSMsgType.TEXT
    return False


@fuzz_settings(300)
@given(opening=st.booleans(), frames=st.lists(_frames, min_size=1, max_size=4))
def test_sessions_fed_hostile_frames_end_with_status_2_or_one_aiges_error_frame(
        stack: Served, client_loop: asyncio.AbstractEventLoop,
        good_call_every: Callable[[int], None], opening: bool, frames: list[Frame]) -> None:
    received, closed = client_loop.run_until_complete(_session(stack.base, opening, frames))
    context = (frames, received, closed)
    assert closed is not None, context
    if closed == aiohttp.WSCloseCode.INVALID_TEXT or (
            closed == aiohttp.WSCloseCode.ABNORMAL_CLOSURE and any(map(_not_utf8, frames))):
        # a text frame that is not UTF-8: aiohttp fails the connection, as RFC 6455 (8.1)
        # requires, with close code 1007, after the gateway's AIGES error frame 10160 (1006
        # and perhaps no frame when the connection went while the client was still sending)
        *results, last = received or [{"header": {"code": 10160}}]
        assert all(r["header"]["code"] == 0 for r in results), context
        if closed == aiohttp.WSCloseCode.INVALID_TEXT:
            assert last["header"]["code"] == 10160, context
        record("websocket session", f"closed {closed} (text not UTF-8)")
        good_call_every(10)
        return
    assert received, context
    *results, last = received
    for result in results:
        assert result["header"]["code"] == 0, context
    header = last["header"]
    if header.get("code") == 0:
        # a result with status 3 (once) ends a session as 2 (last) does, as in AIGES
        assert header["status"] in (2, 3), context
        record("websocket session", f"ended status {header['status']}")
    else:
        code = check_error_header(header, context)
        # not the gateway's nor a lost worker's: the worker is healthy
        assert code not in (10109, 10503, 10102), context
        record("websocket session", f"error {code}")
    good_call_every(10)


@fuzz_settings(60)
@given(frames=st.lists(_frames, min_size=1, max_size=3), stream_after=st.booleans())
def test_a_good_session_still_works_after_a_hostile_one(
        stack: Served, client_loop: asyncio.AbstractEventLoop, frames: list[Frame],
        stream_after: bool) -> None:
    client_loop.run_until_complete(_session(stack.base, True, frames))
    received, closed = client_loop.run_until_complete(_session(stack.base, True, []))
    record("websocket good-after-hostile", "ok")
    assert closed is not None, received
    assert [r["payload"]["result"]["text"] for r in received] == ["OPEN", "END"], received

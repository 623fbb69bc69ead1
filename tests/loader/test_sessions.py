"""Stream sessions through a real grpc.aio worker: the Session method and the session engine
behind it, with pull (wrapperRead) and push (callback) wrappers."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from loader.v1 import loader_pb2
from loader.v1.status import aiges_code_from
from tests.inprocess import text_request
from tests.support import ABILITIES, ROOT

ECHO_STREAM = str(ABILITIES / "stream_echo" / "wrapper.py")
SDK_STREAM = str(ABILITIES / "sdk_stream" / "wrapper.py")
ONCE_ONLY = str(ROOT / "wrappers" / "echo" / "wrapper.py")


def frame(text: str, status: int, **params: str) -> loader_pb2.CallRequest:
    return loader_pb2.CallRequest(
        sid="sess-1" if params or status == 0 else "", params=params,
        inputs=[loader_pb2.Data(key="text", type=0, status=status, data=text.encode())])


async def frames(*requests: loader_pb2.CallRequest) -> AsyncIterator[loader_pb2.CallRequest]:
    for request in requests:
        yield request


def results(replies: list[loader_pb2.CallResponse]) -> list[tuple[str, bytes, int]]:
    return [(out.key, out.data, out.status) for reply in replies for out in reply.outputs]


async def collect(call: Any) -> list[loader_pb2.CallResponse]:
    return [reply async for reply in call]


async def error_of(call: Any) -> tuple[grpc.StatusCode, int | None, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(call)
    error = caught.value
    return error.code(), aiges_code_from(error.trailing_metadata()), error.details() or ""


def gauge(worker: Any, name: str, labels: dict[str, str] | None = None) -> float:
    return worker.metrics.registry.get_sample_value(name, labels or {}) or 0.0


async def test_a_pull_wrapper_answers_each_frame_in_order_and_the_stream_ends_at_status_2(
        worker) -> None:
    async with worker(ECHO_STREAM) as w:
        replies = await collect(w.session(frames(frame("a", 0), frame("b", 1), frame("c", 2))))
        seen = w.plugin.target.seen
        assert gauge(w, "athena_loader_sessions_active") == 0
        assert gauge(w, "athena_loader_session_ends_total", {"reason": "completed"}) == 1
        assert gauge(w, "athena_loader_session_frames_total", {"direction": "in"}) == 3
    assert results(replies) == [("result", b"A", 0), ("result", b"B", 1), ("result", b"C", 2)]
    assert {reply.sid for reply in replies} == {"sess-1"}
    assert seen == [("create", "sess-1"), ("write", "h1", b"a"), ("write", "h1", b"b"),
                    ("write", "h1", b"c"), ("destroy", "h1")]


async def test_a_push_wrapper_answers_through_callback(worker) -> None:
    async with worker(SDK_STREAM) as w:
        replies = await collect(w.session(frames(frame("one", 0), frame("two", 1),
                                                 frame("three", 2))))
    assert results(replies) == [("result", b"ONE", 0), ("result", b"TWO", 1),
                                ("result", b"THREE", 2)]


async def test_a_callback_by_usr_tag_reaches_a_session_even_when_it_has_a_wrapper_read(
        worker) -> None:
    opening = frame("a", 0, push="1")
    opening.usr_tag = "tag-9"
    async with worker(ECHO_STREAM) as w:
        replies = await collect(w.session(frames(opening, frame("b", 1), frame("c", 2))))
    assert sorted(results(replies), key=lambda r: r[2]) == [
        ("result", b"A", 0), ("result", b"B", 1), ("result", b"C", 2)]


@pytest.mark.parametrize("push", ["", "1"])
async def test_a_result_with_an_error_code_ends_the_session_with_that_code(
        worker, push: str) -> None:
    opening = frame("a", 0, error_on="b", push=push)
    opening.usr_tag = "tag-e"
    async with worker(ECHO_STREAM) as w:
        status, code, message = await error_of(w.session(frames(opening, frame("b", 1))))
        await asyncio.sleep(0.05)
        seen = w.plugin.target.seen
    assert (status, code, message) == (grpc.StatusCode.INTERNAL, 4343, "frame refused")
    assert seen.count(("destroy", "h1")) == 1


async def test_a_session_beyond_the_licence_is_refused_with_10110_at_open(worker) -> None:
    async with worker(ECHO_STREAM, licence=1) as w:
        first = w.session()
        await first.write(frame("a", 0))
        assert results([await first.read()]) == [("result", b"A", 0)]
        status, code, _ = await error_of(w.session(frames(frame("x", 0))))
        await first.write(frame("b", 2))
        assert results([await first.read()]) == [("result", b"B", 2)]
        await first.done_writing()
    assert (status, code) == (grpc.StatusCode.RESOURCE_EXHAUSTED, 10110)


async def test_a_failed_create_returns_its_code_and_nothing_else_is_called(worker) -> None:
    async with worker(ECHO_STREAM) as w:
        status, code, message = await error_of(
            w.session(frames(frame("a", 0, fail_create="1"), frame("b", 2))))
        seen = w.plugin.target.seen
        assert w.sessions.in_use == 0
    assert (status, code, message) == (grpc.StatusCode.INTERNAL, 4242, "create refused")
    assert seen == [("create", "sess-1")]


async def test_a_raising_write_ends_with_10907_and_destroy_runs_once(worker) -> None:
    async with worker(ECHO_STREAM) as w:
        call = w.session(frames(frame("a", 0, fail_write="b"), frame("b", 1), frame("c", 2)))
        replies = []
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for reply in call:
                replies.append(reply)
        await asyncio.sleep(0.05)  # the handler's cleanup after the status went out
        seen = w.plugin.target.seen
        assert gauge(w, "athena_loader_session_ends_total", {"reason": "error"}) == 1
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert aiges_code_from(caught.value.trailing_metadata()) == 10907
    assert results(replies) == [("result", b"A", 0)]
    assert [entry for entry in seen if entry[0] != "write"] == [
        ("create", "sess-1"), ("destroy", "h1")]
    assert ("write", "h1", b"c") not in seen


async def test_a_client_cancelling_mid_session_gets_destroy_once_and_the_gauge_back_to_0(
        worker) -> None:
    async with worker(ECHO_STREAM) as w:
        call = w.session()
        await call.write(frame("a", 0))
        assert results([await call.read()]) == [("result", b"A", 0)]
        assert gauge(w, "athena_loader_sessions_active") == 1
        call.cancel()
        for _ in range(100):
            if gauge(w, "athena_loader_sessions_active") == 0:
                break
            await asyncio.sleep(0.01)
        assert gauge(w, "athena_loader_sessions_active") == 0
        assert gauge(w, "athena_loader_session_ends_total", {"reason": "client_gone"}) == 1
        assert w.sessions.in_use == 0
        seen = w.plugin.target.seen
    assert seen.count(("destroy", "h1")) == 1


async def test_worker_shutdown_destroys_open_sessions(worker) -> None:
    async with worker(ECHO_STREAM) as w:
        call = w.session()
        await call.write(frame("a", 0))
        await call.read()
        target = w.plugin.target
    assert target.seen.count(("destroy", "h1")) == 1
    assert gauge(w, "athena_loader_session_ends_total", {"reason": "shutdown"}) == 1
    assert gauge(w, "athena_loader_sessions_active") == 0


async def test_a_once_only_ability_refuses_a_session_naming_call(worker) -> None:
    async with worker(ONCE_ONLY) as w:
        status, code, message = await error_of(w.session(frames(frame("a", 0))))
    assert status == grpc.StatusCode.INVALID_ARGUMENT
    assert code == 10001
    assert "Call" in message


BOTH = '''
from aiges_embed import Response, ResponseData, SessionCreateResponse


class Wrapper:
    serviceId = "both"

    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData, usrTag="", persId=0):
        out = ResponseData(key="result", status=3)
        out.setData(b"once")
        return Response([out])

    def wrapperCreate(self, params, sid):
        return SessionCreateResponse(handle=sid)

    def wrapperWrite(self, handle, reqData):
        return 0

    def wrapperDestroy(self, handle):
        return 0
'''


async def test_calls_and_sessions_share_one_licence(worker, tmp_path) -> None:
    wrapper = tmp_path / "both" / "wrapper.py"
    wrapper.parent.mkdir()
    wrapper.write_text(BOTH)
    async with worker(str(wrapper), licence=1) as w:
        assert (await w.call(text_request("x"))).outputs[0].data == b"once"
        session = w.session()
        await session.write(frame("a", 0))
        while w.sessions.in_use == 0:
            await asyncio.sleep(0.01)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await w.call(text_request("x"))
        assert aiges_code_from(refused.value.trailing_metadata()) == 10110
        session.cancel()
        while w.sessions.in_use:
            await asyncio.sleep(0.01)
        assert (await w.call(text_request("x"))).outputs[0].data == b"once"


GENERATOR = str(ABILITIES / "stream_generator" / "wrapper.py")


def generator_closed(w: Any) -> list[str]:
    return w.plugin.target.wrapperStream.__globals__["closed"]


async def test_an_async_generator_wrapper_answers_each_frame_as_it_comes(worker) -> None:
    async with worker(GENERATOR) as w:
        assert "stream" in (await w.describe(loader_pb2.DescribeRequest())).operations
        replies = await collect(w.session(frames(frame("a", 0), frame("b", 1), frame("c", 2))))
        assert results(replies) == [("result", b"A", 0), ("result", b"B", 1),
                                    ("result", b"C", 2)]
        assert generator_closed(w) == ["sess-1"]
        assert gauge(w, "athena_loader_sessions_active") == 0


async def test_an_async_generator_keeps_frames_valid_after_later_ones_arrive(worker) -> None:
    async with worker(GENERATOR) as w:
        replies = await collect(w.session(frames(frame("a", 0, kept="1"), frame("bb", 1),
                                                 frame("ccc", 2))))
        assert results(replies) == [("result", b"a+bb+ccc", 2)]


async def test_an_async_generator_that_raises_ends_with_10908_and_is_closed(worker) -> None:
    async with worker(GENERATOR) as w:
        _, code, message = await error_of(w.session(frames(
            frame("a", 0, raise_on="b"), frame("b", 1), frame("c", 2))))
        assert code == 10908 and "ValueError" in message
        assert generator_closed(w) == ["sess-1"]


async def test_a_cancelled_async_generator_session_is_closed_and_frees_its_slot(worker) -> None:
    async with worker(GENERATOR, licence=1) as w:
        call = w.session()
        await call.write(frame("a", 0))
        assert results([await call.read()]) == [("result", b"A", 0)]
        call.cancel()
        for _ in range(100):
            if generator_closed(w) and w.sessions.in_use == 0:
                break
            await asyncio.sleep(0.01)
        assert generator_closed(w) == ["sess-1"] and w.sessions.in_use == 0
        replies = await collect(w.session(frames(frame("z", 2))))
        assert results(replies) == [("result", b"Z", 2)]


THREADED = '''
import threading
import time

from aiges_embed import Response, ResponseData, callback


class Wrapper:
    """Echoes each frame upper-cased, noting the thread each write and read ran on; push=1
    answers through callback() from inside wrapperWrite, raise_on=<text> raises there."""
    serviceId = "threaded"

    def __init__(self):
        self.calls = []  # (method, thread name)
        self.pending = {}
        self.params = {}
        self.watched = []  # the watchdog's view from inside each write
        self.watch = None  # set by the test: the session engine's longest_running_s

    def wrapperInit(self, config):
        return 0

    def wrapperCreate(self, params, sid):
        self.pending[sid], self.params[sid] = [], params
        return sid

    def wrapperWrite(self, handle, reqData, sid):
        self.calls.append(("write", threading.current_thread().name))
        frame = reqData.list[0]
        data = bytes(frame.data)
        if self.params[handle].get("raise_on") == data.decode():
            raise KeyError(f"refused {data!r}")
        if self.watch is not None:
            time.sleep(0.001)
            self.watched.append(self.watch())
        out = ResponseData(key="result", status=frame.status)
        out.setData(data.upper())
        if self.params[handle].get("push"):
            callback(Response([out]), sid)
        else:
            self.pending[handle].append(out)
        return 0

    def wrapperRead(self, handle, sid):
        self.calls.append(("read", threading.current_thread().name))
        outputs, self.pending[handle] = self.pending[handle], []
        return Response(outputs) if outputs else None

    def wrapperDestroy(self, handle):
        self.calls.append(("destroy", threading.current_thread().name))
        return 0
'''

MANY = 48  # frames: the first 32 or fewer (64 calls, placement.STREAK) prove the calls short


def threaded(tmp_path: Any) -> str:
    wrapper = tmp_path / "threaded" / "wrapper.py"
    wrapper.parent.mkdir()
    wrapper.write_text(THREADED)
    return str(wrapper)


def many_frames(**params: str) -> list[loader_pb2.CallRequest]:
    texts = [f"f{i}" for i in range(MANY)]
    return [frame(texts[0], 0, **params), *(frame(t, 1) for t in texts[1:-1]),
            frame(texts[-1], 2)]


def on_the_loop(calls: list[tuple[str, str]], method: str) -> list[bool]:
    loop_thread = threading.current_thread().name  # the in-process worker serves on this loop
    return [name == loop_thread for what, name in calls if what == method]


async def test_proven_short_session_writes_and_reads_run_inline_on_the_loop(
        worker, tmp_path) -> None:
    async with worker(threaded(tmp_path), inline_under_ms=1000.0) as w:
        w.plugin.target.watch = w.sessions.longest_running_s
        replies = await collect(w.session(frames(*many_frames())))
        target = w.plugin.target
        assert gauge(w, "athena_loader_session_frames_total", {"direction": "in"}) == MANY
    assert results(replies) == [("result", f"F{i}".encode(), 0 if i == 0 else 2 if i == MANY - 1
                                 else 1) for i in range(MANY)]
    writes, reads = on_the_loop(target.calls, "write"), on_the_loop(target.calls, "read")
    # on threads until 64 short calls in a row (polls' reads count too), inline from then on
    assert not any(writes[:16]) and all(writes[-8:]) and all(reads[-8:])
    assert on_the_loop(target.calls, "destroy") == [False]  # destroy stays on a thread
    assert all(seconds > 0 for seconds in target.watched)  # the watchdog saw inline calls too


async def test_with_inline_under_ms_0_every_session_call_runs_on_a_wrapper_thread(
        worker, tmp_path) -> None:
    async with worker(threaded(tmp_path), inline_under_ms=0.0) as w:
        replies = await collect(w.session(frames(*many_frames())))
        target = w.plugin.target
    assert len(results(replies)) == MANY
    assert not any(on_the_loop(target.calls, "write") + on_the_loop(target.calls, "read"))


async def test_a_write_raising_inline_ends_with_10907_and_destroy_runs_once(
        worker, tmp_path) -> None:
    async with worker(threaded(tmp_path), inline_under_ms=1000.0) as w:
        call = w.session(frames(*many_frames(raise_on=f"f{MANY - 8}")))
        replies = []
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for reply in call:
                replies.append(reply)
        await asyncio.sleep(0.05)  # the handler's cleanup after the status went out
        target = w.plugin.target
        assert gauge(w, "athena_loader_session_ends_total", {"reason": "error"}) == 1
        assert w.sessions.in_use == 0
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert aiges_code_from(caught.value.trailing_metadata()) == 10907
    assert "KeyError" in (caught.value.details() or "")
    assert len(results(replies)) == MANY - 8
    assert on_the_loop(target.calls, "write")[-1]  # the raising write ran inline
    assert [what for what, _ in target.calls].count("destroy") == 1
    assert target.calls[-1][0] == "destroy"


async def test_a_push_wrapper_calling_back_from_an_inline_write_still_answers(
        worker, tmp_path) -> None:
    async with worker(threaded(tmp_path), inline_under_ms=1000.0) as w:
        replies = await collect(w.session(frames(*many_frames(push="1"))))
        target = w.plugin.target
    assert [data for _, data, _ in results(replies)] == [f"F{i}".encode() for i in range(MANY)]
    assert all(on_the_loop(target.calls, "write")[-8:])

"""The worker's limits through a real worker: an output over the message limit, calls whose
client gave up (their licence back at once, the wrapper told, the threads still bounded), and
recycling at [loader] max_calls / max_rss_mb."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import grpc
import pytest

from loader import server
from loader.recycle import rss_bytes
from loader.settings import MIB, LoaderSettings
from loader.v1.status import aiges_code_from
from tests.inprocess import eventually, running_gateway, running_worker, text_request
from tests.support import ABILITIES, aiges_body, text_item

LINGERING = str(ABILITIES / "lingering" / "wrapper.py")
ROUTE = "/v1/private/lingering"


async def test_an_output_over_the_message_limit_is_500_10106_naming_key_size_and_limit(
) -> None:
    async with running_worker(LINGERING, max_message_mb=1) as worker, \
            running_gateway([worker.address]) as gateway:
        body = aiges_body("lingering", {"text": text_item("x")},
                          {"mode": "big", "bytes": str(2 * MIB)})
        async with gateway.client.post(ROUTE, json=body) as response:
            status, header = response.status, (await response.json())["header"]
        with pytest.raises(grpc.aio.AioRpcError) as raw:
            await worker.call(text_request("x", mode="big", bytes=str(2 * MIB)))
        # the worker keeps serving, a large output under the limit included
        small = await worker.call(text_request("x", mode="big", bytes=str(MIB // 2)))
    assert (status, header["code"]) == (500, 10106)
    assert aiges_code_from(raw.value.trailing_metadata()) == 10106
    message = raw.value.details() or ""
    assert "'blob'" in message and str(2 * MIB) in message and "1 MiB" in message
    assert "max_message_mb" in message and "Sent message larger" not in message
    assert len(small.outputs[0].data) == MIB // 2


async def test_a_call_past_its_deadline_frees_its_licence_at_once_and_the_wrapper_sees_it(
        tmp_path: Path) -> None:
    report = tmp_path / "seen"
    async with running_worker(LINGERING, licence=1, max_abandoned=1) as worker:
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await worker.call(text_request("x", mode="wait", report=str(report)), timeout=0.3)
        assert late.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert worker.engine is not None
        # the one slot is free for the next call as soon as the worker sees the deadline
        # pass (the client's own timer may fire a moment before), not when the wrapper returns
        assert await eventually(lambda: worker.engine.in_use == 0, within=0.5)
        assert (await worker.call(text_request("x"))).outputs[0].data == b"ok"
        assert await eventually(lambda: report.exists() and worker.engine.abandoned_running == 0)
        registry = worker.metrics.registry
        abandoned = registry.get_sample_value("athena_loader_abandoned_calls_total",
                                              {"reason": "deadline"})
    assert report.read_text() == "cancelled"
    assert abandoned == 1


async def test_a_cancelled_call_is_abandoned_with_reason_cancelled(tmp_path: Path) -> None:
    report = tmp_path / "seen"
    async with running_worker(LINGERING, licence=1) as worker:
        call = worker.call(text_request("x", mode="wait", report=str(report)))
        assert worker.engine is not None
        assert await eventually(lambda: worker.engine.in_use == 1)
        call.cancel()
        assert await eventually(lambda: report.exists())
        count = worker.metrics.registry.get_sample_value(
            "athena_loader_abandoned_calls_total", {"reason": "cancelled"})
    assert report.read_text() == "cancelled" and count == 1


async def test_abandoned_calls_past_max_abandoned_keep_their_slot_so_threads_stay_bounded(
) -> None:
    """licence 1 + max_abandoned 1: two wrapper threads. The first hung call given up on
    frees its slot; the second keeps it, so a third call is refused, not queued behind them."""
    async with running_worker(LINGERING, licence=1, max_abandoned=1) as worker:
        assert worker.engine is not None
        for _ in range(2):
            with pytest.raises(grpc.aio.AioRpcError):
                await worker.call(text_request("x", mode="wait", seconds="1", deaf="1"),
                                  timeout=0.2)
        assert (worker.engine.in_use, worker.engine.abandoned_running) == (1, 1)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await worker.call(text_request("x"))
        assert aiges_code_from(refused.value.trailing_metadata()) == 10110
        assert await eventually(lambda: worker.engine.in_use == 0, within=5)
        assert (await worker.call(text_request("x"))).outputs[0].data == b"ok"


async def _serving(settings: LoaderSettings) -> tuple[asyncio.Task[bool], dict[str, int]]:
    task = asyncio.create_task(server.serve(settings, asyncio.Event()))
    assert settings.ready_file is not None
    assert await eventually(lambda: settings.ready_file.exists() or task.done(), within=30)
    return task, json.loads(settings.ready_file.read_text())


async def test_a_worker_at_max_calls_drains_and_says_so(tmp_path: Path) -> None:
    settings = LoaderSettings(wrapper=LINGERING, max_calls=5, ready_file=tmp_path / "r.json")
    task, info = await _serving(settings)
    async with aiohttp.ClientSession() as client:
        for _ in range(5):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{info['port']}") as channel:
                reply = await channel.unary_unary("/loader.v1.Loader/Call")(
                    text_request("x").SerializeToString())
                assert reply
        async with client.get(f"http://127.0.0.1:{info['metrics_port']}/readyz") as ready:
            outstanding = await ready.json()
        assert outstanding["served"] == 5 and outstanding["in_use"] == 0
        assert await asyncio.wait_for(task, timeout=30) is True  # serve says: recycle me


async def test_a_leaking_worker_over_max_rss_mb_drains(tmp_path: Path) -> None:
    limit_mb = rss_bytes() // MIB + 40
    settings = LoaderSettings(wrapper=LINGERING, max_rss_mb=limit_mb,
                              ready_file=tmp_path / "r.json")
    task, info = await _serving(settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{info['port']}") as channel:
        call = channel.unary_unary("/loader.v1.Loader/Call")
        for _ in range(60):  # 1 MiB kept per call
            if task.done():
                break
            try:
                await call(text_request("x", mode="leak").SerializeToString())
            except grpc.aio.AioRpcError:
                break  # drained and stopped between two calls
    assert await asyncio.wait_for(task, timeout=30) is True

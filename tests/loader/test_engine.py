"""The once-call engine on its own: licence, placement, threads, deadline, no gRPC."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiges_embed
import pytest

from loader.engine import OnceEngine
from loader.errors import CallTimeout, Overloaded, WrapperFailed
from loader.licence import Licence
from loader.metrics import LoaderMetrics
from loader.placement import STREAK
from loader.plugin import Plugin
from loader.threads import WrapperThreads
from loader.v1 import loader_pb2
from tests.support import ABILITIES, ROOT

FAULTY = str(ABILITIES / "faulty" / "wrapper.py")
ASYNC = str(ABILITIES / "variants" / "async_wrapper.py")
ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")


@asynccontextmanager
async def engine_for(wrapper: str, licence: int = 4, inline_under_ms: float = 0.0,
                     max_abandoned: int = 0
                     ) -> AsyncIterator[tuple[OnceEngine, LoaderMetrics]]:
    plugin = Plugin.load(wrapper)
    plugin.init({})
    metrics = LoaderMetrics()
    threads = WrapperThreads(licence + max_abandoned)
    try:
        yield OnceEngine(plugin, Licence(licence, max_abandoned), inline_under_ms, metrics,
                         threads), metrics
    finally:
        threads.shutdown()
        plugin.fini()


def request(text: str = "x") -> aiges_embed.DataListCls:
    wire = loader_pb2.CallRequest(
        sid="s", inputs=[loader_pb2.Data(key="text", type=0, status=3, data=text.encode())]
    ).SerializeToString()
    return aiges_embed.parse_call(wire).data


def output_text(response: aiges_embed.Response) -> str:
    data = response.list[0].data  # setData keeps what the wrapper gave: str or bytes-like
    return data if isinstance(data, str) else bytes(data).decode()


async def run(engine: OnceEngine, timeout: float | None = 10.0, **params: str
              ) -> aiges_embed.Response:
    return await engine.run(dict(params), request(), "", 0, timeout)


async def test_sync_calls_run_on_wrapper_threads_while_inline_is_off() -> None:
    async with engine_for(FAULTY) as (engine, _):
        for _ in range(STREAK + 1):
            assert output_text(await run(engine, mode="thread")).startswith("wrapper-")


async def test_short_calls_run_inline_after_a_streak_and_give_their_licence_back_at_once(
) -> None:
    """Back-to-back inline calls never yield to the event loop: an instance handed back only
    on a later loop turn would make the licence run out after `licence` calls."""
    async with engine_for(FAULTY, licence=2, inline_under_ms=50) as (engine, _):
        for _ in range(STREAK + 1):
            await run(engine, mode="thread")
        for _ in range(STREAK * 2):
            assert output_text(await run(engine, mode="thread")) == "MainThread"
            assert engine.in_use == 0


async def test_a_call_over_the_licence_is_refused_at_once() -> None:
    async with engine_for(FAULTY, licence=1) as (engine, _):
        slow = asyncio.ensure_future(run(engine, mode="sleep", seconds="0.5"))
        while engine.in_use == 0:
            await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as refused:
            await run(engine)
        assert refused.value.code == 10110
        assert output_text(await slow) == "ok"
        assert output_text(await run(engine)) == "ok"


async def test_a_call_past_its_deadline_times_out_and_gives_its_instance_back_at_once(
) -> None:
    """The client has its answer (10102) and nothing waits for the wrapper's, so the slot is
    free for the next call at once: the issue-12 rule (the slot used to be held until the
    wrapper returned, so one hung call made every later call 429 until the watchdog). The
    thread cannot be interrupted: the call is still running, counted outside the licence,
    and the watchdog still sees it."""
    async with engine_for(FAULTY, licence=1, max_abandoned=1) as (engine, metrics):
        with pytest.raises(CallTimeout) as late:
            await run(engine, timeout=0.1, mode="sleep", seconds="0.6")
        assert late.value.code == 10102 and "deadline" in late.value.message
        assert (engine.in_use, engine.abandoned_running) == (0, 1)
        assert engine.longest_running_s() > 0
        assert output_text(await run(engine)) == "ok"  # a second thread takes it meanwhile
        while engine.abandoned_running:
            await asyncio.sleep(0.02)
        assert engine.longest_running_s() == 0.0
        assert metrics.registry.get_sample_value(
            "athena_loader_wrapper_in_flight", {"op": "once"}) == 0
        assert metrics.registry.get_sample_value(
            "athena_loader_abandoned_calls_total", {"reason": "deadline"}) == 1


async def test_with_no_room_for_abandoned_calls_a_late_call_keeps_its_instance(
) -> None:
    async with engine_for(FAULTY, licence=1, max_abandoned=0) as (engine, _):
        with pytest.raises(CallTimeout):
            await run(engine, timeout=0.1, mode="sleep", seconds="0.4")
        assert (engine.in_use, engine.abandoned_running) == (1, 0)
        with pytest.raises(Overloaded):
            await run(engine)
        while engine.in_use:
            await asyncio.sleep(0.02)
        assert output_text(await run(engine)) == "ok"


async def test_a_raising_wrapper_is_10909_naming_the_exception() -> None:
    async with engine_for(FAULTY) as (engine, _):
        with pytest.raises(WrapperFailed) as failed:
            await run(engine, mode="raise")
    assert failed.value.code == 10909
    assert "KeyError" in failed.value.message and "Traceback" not in failed.value.message


async def test_async_wrappers_run_on_the_loop_and_are_cancelled_at_the_deadline() -> None:
    async with engine_for(ASYNC, licence=1) as (engine, _):
        assert output_text(await run(engine)) == "async:x"
        with pytest.raises(CallTimeout):
            await run(engine, timeout=0.05, seconds="5")
        for _ in range(10):  # the cancelled coroutine hands its instance back in a loop turn
            if engine.in_use == 0:
                break
            await asyncio.sleep(0)
        assert engine.in_use == 0


async def test_wrapper_time_is_observed_per_call() -> None:
    async with engine_for(ECHO) as (engine, metrics):
        for _ in range(3):
            await run(engine)
    assert metrics.registry.get_sample_value(
        "athena_loader_wrapper_duration_seconds_count", {"op": "once"}) == 3


@pytest.mark.parametrize("inline_under_ms", [0.0, 50.0])
async def test_a_stop_iteration_fails_the_call_and_gives_the_licence_back(
        inline_under_ms: float, tmp_path: Path) -> None:
    wrapper = tmp_path / "stops" / "wrapper.py"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "from aiges_embed import Response, ResponseData\n"
        "def wrapperInit(config):\n    return 0\n"
        "def wrapperOnceExec(params, reqData):\n"
        "    if params.get('mode') == 'stop':\n        return next(iter(()))\n"
        "    out = ResponseData('result', 0, 3, 0)\n    out.setData('ok')\n"
        "    response = Response()\n    response.list = [out]\n    return response\n")
    async with engine_for(str(wrapper), licence=1, inline_under_ms=inline_under_ms) as (
            engine, _):
        for _ in range(STREAK + 1):  # with inline on, the calls after these run inline
            await run(engine)
        with pytest.raises(WrapperFailed, match="StopIteration"):
            await asyncio.wait_for(run(engine, mode="stop"), timeout=10)
        assert engine.in_use == 0
        assert output_text(await run(engine)) == "ok"


def test_a_sessions_only_wrapper_has_no_once_engine() -> None:
    plugin = Plugin.load(ECHO)
    stream_only = Plugin(plugin.name, plugin.target, plugin.service_id, plugin.version,
                         None, False)
    with pytest.raises(ValueError, match="no wrapperOnceExec"):
        OnceEngine(stream_only, Licence(1), 0, LoaderMetrics(), WrapperThreads(1))


ONCE_ASYNC = ABILITIES / "once_async"


async def test_a_once_async_wrapper_answers_through_callback_from_its_own_thread() -> None:
    async with engine_for(str(ONCE_ASYNC / "wrapper.py")) as (engine, _):
        assert output_text(await run(engine, delay="0.05")) == "async:x"
        assert output_text(await run(engine, by="sid", sid="s-1")) == "async:x"
        assert engine.in_use == 0


async def test_once_async_calls_at_once_each_get_their_own_result() -> None:
    async with engine_for(str(ONCE_ASYNC / "wrapper.py"), licence=8) as (engine, _):
        answers = await asyncio.gather(*(
            engine.run({"sid": f"s{i}", "delay": "0.05"}, request(f"t{i}"), "same-tag", 0, 5.0)
            for i in range(8)))
        assert [output_text(a) for a in answers] == [f"async:t{i}" for i in range(8)]


async def test_a_once_async_usr_tag_is_the_clients_when_free() -> None:
    async with engine_for(str(ONCE_ASYNC / "wrapper.py")) as (engine, _):
        answer = await engine.run({"sid": "s", "echo_tag": "1"}, request(), "client-tag", 0, 5.0)
        assert output_text(answer) == "async:client-tag"


async def test_a_once_async_callback_that_never_comes_times_out_and_frees_the_licence(
) -> None:
    async with engine_for(str(ONCE_ASYNC / "wrapper.py"), licence=1) as (engine, metrics):
        with pytest.raises(CallTimeout) as late:
            await run(engine, timeout=0.2, never="1")
        assert late.value.code == 10102 and "callback" in late.value.message
        assert engine.in_use == 0
        assert output_text(await run(engine)) == "async:x"
        assert metrics.registry.get_sample_value(
            "athena_loader_wrapper_in_flight", {"op": "once"}) == 0


async def test_a_once_async_code_or_raise_fails_the_call() -> None:
    async with engine_for(str(ONCE_ASYNC / "wrapper.py")) as (engine, _):
        with pytest.raises(WrapperFailed) as refused:
            await run(engine, code="4545")
        assert (refused.value.code, refused.value.message) == (4545, "refused with 4545")
        with pytest.raises(WrapperFailed) as raised:
            await run(engine, **{"raise": "1"})
        assert raised.value.code == 10910 and "RuntimeError" in raised.value.message
        assert engine.in_use == 0


async def test_a_v1_once_async_function_wrapper_answers_through_callback() -> None:
    async with engine_for(str(ONCE_ASYNC / "v1_functions.py")) as (engine, _):
        assert output_text(await run(engine)) == "v1:x"

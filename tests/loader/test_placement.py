"""Which sync wrapper calls run inline on the event loop."""
from __future__ import annotations

from loader.placement import STREAK, Placement


def test_calls_run_inline_only_after_a_streak_of_short_ones() -> None:
    placement = Placement(budget_s=0.001)
    for _ in range(STREAK - 1):
        placement.record(0.0001)
        assert not placement.inline()
    placement.record(0.0001)
    assert placement.inline()


def test_one_slow_call_sends_the_next_ones_back_to_threads() -> None:
    placement = Placement(budget_s=0.001)
    for _ in range(STREAK):
        placement.record(0.0001)
    placement.record(0.5)
    assert not placement.inline()


def test_a_zero_budget_never_runs_inline() -> None:
    placement = Placement(budget_s=0)
    for _ in range(STREAK * 2):
        placement.record(0)
    assert not placement.inline()


async def test_inline_calls_give_their_licence_back_at_once() -> None:
    """Back-to-back inline calls never yield to the event loop: an instance handed back only
    on a later loop turn would make the licence run out after `licence` calls."""
    from loader.metrics import LoaderMetrics
    from loader.plugin import Plugin
    from loader.servicer import LoaderServicer
    from loader.settings import LoaderSettings
    from loader.threads import WrapperThreads
    from loader.v1 import loader_pb2

    settings = LoaderSettings.load({"wrapper": "wrappers/echo/wrapper.py", "licence": 2})
    plugin = Plugin.load(settings.wrapper, None)
    plugin.init({})
    threads = WrapperThreads(settings.licence)
    servicer = LoaderServicer(plugin, settings, LoaderMetrics(), threads)
    request = loader_pb2.CallRequest(
        sid="s", inputs=[loader_pb2.Data(key="k", type=1, status=3, data=b"x")]
    ).SerializeToString()

    class Context:
        def time_remaining(self) -> float:
            return 30.0

        async def abort_with_status(self, status: object) -> None:
            raise AssertionError(f"call failed: {status}")

    try:
        for _ in range(STREAK * 3):  # threads first, then inline once the streak is there
            reply = loader_pb2.CallResponse.FromString(await servicer.call(request, Context()))
            assert reply.outputs[0].data == b"x"
    finally:
        threads.shutdown()

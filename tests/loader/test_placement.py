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


"""The wait queue for a full pool (gateway/admission.py) on a real event loop."""
from __future__ import annotations

import asyncio
from time import monotonic

import pytest
from prometheus_client import CollectorRegistry, Gauge, Histogram

from gateway.admission import Admission, Ticket
from gateway.errors import AllBusy


def admission(size: int = 3, wait_s: float = 5.0, **options: object) -> Admission:
    options.setdefault("recheck_s", 60.0)  # only releases wake a waiter unless a test says so
    return Admission(size, wait_s, 1, **options)  # type: ignore[arg-type]


async def queued(a: Admission, ability: str, count: int) -> None:
    while a.waiting(ability) < count:
        await asyncio.sleep(0)


async def wait_then(ticket: Ticket, order: list[str], name: str) -> None:
    await ticket.wait()
    order.append(name)


async def test_waiting_calls_are_woken_first_in_first_out() -> None:
    a = admission(size=3)
    order: list[str] = []
    tasks = []
    for name in ("first", "second", "third"):
        tasks.append(asyncio.create_task(wait_then(a.ticket("x"), order, name)))
        await queued(a, "x", len(tasks))
    for _ in range(3):
        a.released("x")
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    assert order == ["first", "second", "third"]
    assert a.waiting("x") == 0


async def test_one_release_wakes_one_waiter_of_that_ability_only() -> None:
    a = admission(size=3)
    order: list[str] = []
    tasks = [asyncio.create_task(wait_then(a.ticket(ability), order, ability))
             for ability in ("x", "x", "y")]
    await queued(a, "x", 2)
    await queued(a, "y", 1)
    a.released("x")
    await asyncio.sleep(0.02)
    assert (order, a.waiting("x"), a.waiting("y")) == (["x"], 1, 1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_wait_that_runs_out_is_429_with_10110_and_retry_after() -> None:
    a = admission(size=3, wait_s=0.2)
    started = monotonic()
    with pytest.raises(AllBusy) as refused:
        await a.ticket("x").wait()
    waited = monotonic() - started
    assert 0.15 < waited < 1.0
    error = refused.value
    assert (error.http_status, error.code, error.headers) == (429, 10110, {"Retry-After": "1"})
    assert "stayed so for the 0.2 s a call may wait" in error.message
    assert a.waiting("x") == 0


async def test_the_request_deadline_ends_a_wait_sooner() -> None:
    a = admission(size=3, wait_s=30.0)
    started = monotonic()
    with pytest.raises(AllBusy):
        await a.ticket("x").wait(deadline=monotonic() + 0.1)
    assert monotonic() - started < 1.0


async def test_a_full_queue_refuses_at_once() -> None:
    a = admission(size=2)
    tasks = [asyncio.create_task(a.ticket("x").wait()) for _ in range(2)]
    await queued(a, "x", 2)
    started = monotonic()
    with pytest.raises(AllBusy) as refused:
        await a.ticket("x").wait()
    assert monotonic() - started < 0.05
    assert "its wait queue is full (2 calls)" in refused.value.message
    assert refused.value.code == 10110
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_queue_off_refuses_at_once() -> None:
    a = admission(size=0)
    assert not a.enabled
    with pytest.raises(AllBusy):
        await a.ticket("x").wait()


async def test_a_cancelled_waiter_frees_its_place() -> None:
    a = admission(size=2)
    order: list[str] = []
    gone = asyncio.create_task(a.ticket("x").wait())
    await queued(a, "x", 1)
    stays = asyncio.create_task(wait_then(a.ticket("x"), order, "stays"))
    await queued(a, "x", 2)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    assert a.waiting("x") == 1
    late = asyncio.create_task(wait_then(a.ticket("x"), order, "late"))  # the freed place
    await queued(a, "x", 2)
    a.released("x")
    await asyncio.sleep(0.01)
    assert order == ["stays"]  # the release went to the next in line, not the cancelled one
    a.released("x")
    await asyncio.gather(stays, late)
    assert order == ["stays", "late"]


async def test_a_waiter_woken_then_cancelled_passes_its_turn_on() -> None:
    a = admission(size=2)
    order: list[str] = []
    first = asyncio.create_task(wait_then(a.ticket("x"), order, "first"))
    await queued(a, "x", 1)
    second = asyncio.create_task(wait_then(a.ticket("x"), order, "second"))
    await queued(a, "x", 2)
    a.released("x")  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it runs again
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1.0)
    assert order == ["second"]


async def test_a_woken_call_that_finds_the_pool_full_again_waits_at_the_head() -> None:
    a = admission(size=3)
    again = a.ticket("x")
    first = asyncio.create_task(again.wait())
    await queued(a, "x", 1)
    order: list[str] = []
    later = asyncio.create_task(wait_then(a.ticket("x"), order, "later"))
    await queued(a, "x", 2)
    a.released("x")
    await first  # woken: it tries the pool, and someone else took the place
    retry = asyncio.create_task(wait_then(again, order, "again"))
    await queued(a, "x", 2)
    a.released("x")
    await asyncio.sleep(0.01)
    assert order == ["again"]
    a.released("x")
    await asyncio.gather(retry, later)
    assert order == ["again", "later"]


async def test_the_head_of_the_queue_looks_again_without_a_release() -> None:
    a = admission(size=3, recheck_s=0.05)
    started = monotonic()
    await a.ticket("x").wait()  # nobody released: it returns to try the pool itself
    assert 0.04 < monotonic() - started < 1.0


async def test_queue_depth_and_wait_time_are_in_metrics() -> None:
    registry = CollectorRegistry()
    depth = Gauge("depth", "", ["ability"], registry=registry)
    waited = Histogram("waited_seconds", "", ["ability"], registry=registry)
    a = admission(size=3, depth=depth, waited=waited)
    ticket = a.ticket("x")
    task = asyncio.create_task(ticket.wait())
    await queued(a, "x", 1)
    seen = registry.get_sample_value("depth", {"ability": "x"})
    await asyncio.sleep(0.05)
    a.released("x")
    await task
    ticket.close()
    assert seen == 1
    assert registry.get_sample_value("depth", {"ability": "x"}) == 0
    assert registry.get_sample_value("waited_seconds_count", {"ability": "x"}) == 1
    assert (registry.get_sample_value("waited_seconds_sum", {"ability": "x"}) or 0) >= 0.04


async def test_a_call_refused_by_a_full_queue_is_not_counted_as_waiting() -> None:
    registry = CollectorRegistry()
    waited = Histogram("waited_seconds", "", ["ability"], registry=registry)
    a = admission(size=1, waited=waited)
    task = asyncio.create_task(a.ticket("x").wait())
    await queued(a, "x", 1)
    refused = a.ticket("x")
    with pytest.raises(AllBusy):
        await refused.wait()
    refused.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert registry.get_sample_value("waited_seconds_count", {"ability": "x"}) is None

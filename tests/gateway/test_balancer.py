"""The choice of a worker (gateway/balancer.py), pure: fake endpoints, a fake clock."""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from gateway.balancer import Balancer


@dataclass(eq=False)
class Fake:
    name: str
    licence: int = 4
    outstanding: int = 0
    healthy: bool = True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def balancer(clock: Clock | None = None, **options: Any) -> Balancer[Fake]:
    return Balancer(clock=clock or Clock(), rng=random.Random(7), **options)


def simulate(workers: dict[Fake, int], calls: int, b: Balancer[Fake]) -> Counter[str]:
    """One call arrives each tick; a worker finishes a call after its cost in ticks."""
    finishing: list[tuple[int, Fake]] = []
    taken: Counter[str] = Counter()
    for tick in range(calls):
        for done in [f for f in finishing if f[0] <= tick]:
            finishing.remove(done)
            done[1].outstanding -= 1
        chosen = b.pick(workers)
        if chosen is None:
            continue
        chosen.outstanding += 1
        taken[chosen.name] += 1
        finishing.append((tick + workers[chosen], chosen))
    return taken


def test_a_fast_worker_takes_most_calls_from_a_slow_one() -> None:
    fast, slow = Fake("fast", licence=16), Fake("slow", licence=16)
    taken = simulate({fast: 2, slow: 20}, 4000, balancer())
    assert taken["fast"] > 4 * taken["slow"], taken
    assert sum(taken.values()) == 4000  # neither reached its licence


def test_calls_are_shared_by_licence_between_equally_fast_workers() -> None:
    big, small = Fake("big", licence=12), Fake("small", licence=4)
    taken = simulate({big: 14, small: 14}, 4000, balancer())
    # each holds a share of the ~14 in flight close to its share of the 16 licences
    assert 2.5 < taken["big"] / taken["small"] < 4.0, taken


def test_an_idle_pool_sends_the_next_call_to_the_larger_licence() -> None:
    big, small = Fake("big", licence=8), Fake("small", licence=1)
    b = balancer()
    assert {b.pick([big, small]) for _ in range(50)} == {big}


def test_the_less_loaded_of_two_is_picked() -> None:
    busy, idle = Fake("busy", outstanding=3), Fake("idle", outstanding=1)
    b = balancer()
    assert {b.pick([busy, idle]) for _ in range(50)} == {idle}


def test_unhealthy_tried_and_full_workers_are_never_picked() -> None:
    sick = Fake("sick", healthy=False)
    tried = Fake("tried")
    full = Fake("full", licence=2, outstanding=2)
    ok = Fake("ok", outstanding=3)
    b = balancer()
    assert {b.pick([sick, tried, full, ok], {tried}) for _ in range(50)} == {ok}
    assert b.pick([sick, tried, full], {tried}) is None


def test_full_means_every_admitted_worker_is_at_its_licence() -> None:
    a, b_ = Fake("a", licence=1, outstanding=1), Fake("b", licence=2, outstanding=2)
    sick = Fake("sick", healthy=False)
    b = balancer()
    assert b.full([a, b_, sick])
    b_.outstanding = 1
    assert not b.full([a, b_, sick])
    assert not b.full([sick])  # no worker at all is not "full": it is unreachable


def test_an_unreachable_worker_is_ejected_at_once_and_never_picked() -> None:
    gone, ok = Fake("gone"), Fake("ok", outstanding=3)
    b = balancer()
    assert b.failed(gone, unreachable=True)
    assert b.ejected(gone) and not b.admitted(gone)
    assert {b.pick([gone, ok]) for _ in range(100)} == {ok}
    assert b.pick([gone]) is None


def test_consecutive_failures_eject_only_at_the_threshold_and_a_success_resets_them() -> None:
    worker = Fake("w")
    b = balancer(threshold=3)
    assert not b.failed(worker) and not b.failed(worker)
    b.succeeded(worker)
    assert not b.failed(worker) and not b.failed(worker)
    assert b.failed(worker)
    assert b.ejected(worker)
    assert not b.failed(worker)  # already out: counted once


def test_a_serving_probe_after_a_failed_one_readmits_at_once() -> None:
    clock = Clock()
    worker = Fake("w")
    b = balancer(clock)
    b.failed(worker, unreachable=True)
    assert not b.probed(worker, serving=False)  # frozen or restarting
    clock.now += 0.1  # well inside the 1 s backoff
    assert b.probed(worker, serving=True)  # back: resumed or restarted
    assert b.admitted(worker)
    assert b.pick([worker]) is worker


def test_a_worker_whose_health_never_failed_returns_after_its_backoff_and_a_probe() -> None:
    clock = Clock()
    worker = Fake("w")
    b = balancer(clock, base_s=1.0)
    b.failed(worker, unreachable=True)
    assert not b.probed(worker, serving=True)  # it says SERVING, but its calls failed
    assert abs(b.backoff_left(worker) - 1.0) < 1e-9
    clock.now += 1.0
    assert b.ejected(worker)  # expiry alone does not re-admit: a probe must answer
    assert b.probed(worker, serving=True)
    assert not b.ejected(worker)


def test_the_backoff_doubles_up_to_its_limit_until_a_success() -> None:
    clock = Clock()
    worker = Fake("w")
    b = balancer(clock, base_s=1.0, max_s=4.0)
    backoffs = []
    for _ in range(4):
        b.failed(worker, unreachable=True)
        backoffs.append(b.backoff_left(worker))
        clock.now += backoffs[-1]
        assert b.probed(worker, serving=True)
    assert backoffs == [1.0, 2.0, 4.0, 4.0]
    b.succeeded(worker)
    b.failed(worker, unreachable=True)
    assert b.backoff_left(worker) == 1.0


def test_a_success_of_a_call_sent_before_the_ejection_does_not_readmit() -> None:
    worker = Fake("w")
    b = balancer()
    b.failed(worker, unreachable=True)
    b.succeeded(worker)
    assert b.ejected(worker)


def test_a_forgotten_worker_starts_afresh() -> None:
    worker = Fake("w")
    b = balancer()
    b.failed(worker, unreachable=True)
    b.forget(worker)
    assert b.admitted(worker)

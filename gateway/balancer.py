"""The choice of a worker within a pool: least load of two (weighted by licence), ejection.

Pure: it sees endpoints only through `Candidate` (outstanding calls, health, licence), so the
worker set (gateway/upstream.py) owns channels and probes and tells the balancer what happened:

    endpoint = balancer.pick(pool, tried)     # None: no healthy, admitted worker with room
    balancer.failed(endpoint, unreachable=True)   # or after consecutive call failures
    balancer.succeeded(endpoint)
    balancer.probed(endpoint, serving)        # each health probe's answer

Ejection: an endpoint whose calls fail (one UNAVAILABLE, or `threshold` consecutive failures of
another kind) is left out for a backoff that starts at `base_s` and doubles on each ejection
with no success in between, up to `max_s`. It is re-admitted by a SERVING health probe once
its health has been seen failing (it went down and is back: a restarted or resumed process), or
once its backoff has expired (its health never failed, so only time and a probe vouch for it).
"""
from __future__ import annotations

import random
from collections.abc import Callable, Collection, Hashable, Iterable
from dataclasses import dataclass
from time import monotonic
from typing import Generic, Protocol, TypeVar

__all__ = ["Balancer", "Candidate"]


class Candidate(Hashable, Protocol):
    """What the balancer reads of an endpoint (hashed by identity: one state per endpoint)."""

    @property
    def outstanding(self) -> int: ...

    @property
    def healthy(self) -> bool: ...

    @property
    def licence(self) -> int: ...


C = TypeVar("C", bound=Candidate)


@dataclass
class _Ejection:
    """One endpoint's record of failures; `until` > 0 while ejected."""

    failures: int = 0  # consecutive, since its last success
    ejections: int = 0  # in a row with no success between: the backoff's exponent
    until: float = 0.0  # when its backoff ends (monotonic)
    ejected: bool = False
    seen_down: bool = False  # a probe failed while ejected


def _load(candidate: Candidate) -> float:
    """The share of its licence a worker would be using with this call added: a worker of
    licence 8 holding 3 (0.5) is less loaded than one of licence 2 holding 0 (0.5 too, a tie)
    or 1 (1.0); counting the call itself makes idle workers of larger licence come first."""
    return (candidate.outstanding + 1) / max(candidate.licence, 1)


def _has_room(candidate: Candidate) -> bool:
    # this gateway's own count is a lower bound of what the worker holds: at its licence by
    # our count, it refuses for sure (others' calls may fill it sooner, and it says so: 10110)
    return candidate.outstanding < max(candidate.licence, 1)


class Balancer(Generic[C]):
    def __init__(self, *, threshold: int = 5, base_s: float = 1.0, max_s: float = 30.0,
                 clock: Callable[[], float] = monotonic,
                 rng: random.Random | None = None) -> None:
        self._threshold = threshold
        self._base_s = base_s
        self._max_s = max_s
        self._clock = clock
        self._rng = rng or random.Random()
        self._states: dict[C, _Ejection] = {}

    def pick(self, candidates: Iterable[C], tried: Collection[C] = ()) -> C | None:
        """Of two random eligible candidates, the less loaded (power of two choices: nearly
        the best choice at the cost of two looks, without herding every call onto the one
        least loaded worker); None when none is healthy, admitted, untried and below licence."""
        eligible = [c for c in candidates
                    if c not in tried and self.admitted(c) and _has_room(c)]
        if len(eligible) <= 1:
            return eligible[0] if eligible else None
        first, second = self._rng.sample(eligible, 2)
        return first if _load(first) <= _load(second) else second

    def admitted(self, candidate: C) -> bool:
        """Healthy and not ejected."""
        if not candidate.healthy:
            return False
        state = self._states.get(candidate)
        return state is None or not state.ejected

    def full(self, candidates: Iterable[C]) -> bool:
        """Every admitted candidate is at its licence by this gateway's count (and at least
        one is admitted): a call has nowhere to go until one finishes."""
        admitted = [c for c in candidates if self.admitted(c)]
        return bool(admitted) and not any(_has_room(c) for c in admitted)

    def ejected(self, candidate: C) -> bool:
        state = self._states.get(candidate)
        return state is not None and state.ejected

    def failed(self, candidate: C, *, unreachable: bool = False) -> bool:
        """A call on `candidate` failed at the transport (unreachable: UNAVAILABLE, ejected at
        once; otherwise ejected after `threshold` in a row). True if this ejected it."""
        state = self._states.setdefault(candidate, _Ejection())
        state.failures += 1
        if state.ejected or (not unreachable and state.failures < self._threshold):
            return False
        backoff = min(self._base_s * 2 ** state.ejections, self._max_s)
        state.ejections += 1
        state.ejected, state.seen_down = True, False
        state.until = self._clock() + backoff
        return True

    def succeeded(self, candidate: C) -> None:
        """A call on `candidate` was answered: its failures no longer count against it (an
        ejected one stays out: the call had left before it was ejected)."""
        state = self._states.get(candidate)
        if state is not None and not state.ejected:
            del self._states[candidate]
        elif state is not None:
            state.failures = 0

    def probed(self, candidate: C, serving: bool) -> bool:
        """A health probe answered (`serving`) or did not. True if this re-admitted it."""
        state = self._states.get(candidate)
        if state is None or not state.ejected:
            return False
        if not serving:
            state.seen_down = True
            return False
        if not state.seen_down and self._clock() < state.until:
            return False
        state.ejected, state.failures = False, 0  # `ejections` kept: doubles if it fails again
        return True

    def backoff_left(self, candidate: C) -> float:
        """Seconds until an ejected candidate's backoff ends (0 if not ejected or expired)."""
        state = self._states.get(candidate)
        if state is None or not state.ejected:
            return 0.0
        return max(state.until - self._clock(), 0.0)

    def forget(self, candidate: C) -> None:
        """`candidate` left the worker set (discovery no longer lists it)."""
        self._states.pop(candidate, None)

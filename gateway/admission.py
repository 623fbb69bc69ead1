"""Backpressure at the gateway: each ability's bounded FIFO of calls waiting for a free worker.

When every worker of a pool is at its licence, a call may wait here (`[gateway] queue_size`
places per ability, at most `[gateway] queue_wait_s`) instead of being refused at once. Each
call that finishes on the pool wakes the longest waiting one, which then tries the pool again;
woken and still refused (another call took the place first), it waits again at the head of
the queue, not the tail. A full queue, or a wait that runs out, is 429 with 10110 and
Retry-After, as a full pool without a queue is.

    ticket = admission.ticket(service_id)
    try:
        await ticket.wait(deadline)          # AllBusy when the queue is full or time is up
        ...                                  # try the pool again
    finally:
        ticket.close()                       # the time it waited, into the histogram
    admission.released(service_id)           # a call on the pool finished

Calls this process does not see (another gateway process's) also fill workers, and their
ends wake no one: so the head of the queue also looks for itself every `recheck_s`.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from time import monotonic

from prometheus_client import Gauge, Histogram

from gateway.errors import AllBusy

__all__ = ["Admission", "QueueFull", "Ticket", "WaitedTooLong"]


class QueueFull(AllBusy):
    """The pool is full and so is its wait queue (or it has none): 429 at once."""

    reason = "queue_full"


class WaitedTooLong(AllBusy):
    """The pool stayed full for as long as a call may wait: 429."""

    reason = "queue_timeout"


class _Queue:
    def __init__(self) -> None:
        self.waiters: deque[asyncio.Future[None]] = deque()

    def wake(self) -> None:
        """The longest waiting call's turn (a cancelled one's is passed on)."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class Admission:
    def __init__(self, size: int, wait_s: float, retry_after_s: int, *,
                 depth: Gauge | None = None, waited: Histogram | None = None,
                 recheck_s: float = 0.1, clock: Callable[[], float] = monotonic) -> None:
        self.size = size
        self.wait_s = wait_s
        self.recheck_s = recheck_s
        self._retry_after_s = retry_after_s
        self._depth = depth  # labelled by ability
        self._waited = waited  # labelled by ability
        self._clock = clock
        self._queues: dict[str, _Queue] = {}

    @property
    def enabled(self) -> bool:
        return self.size > 0 and self.wait_s > 0

    def ticket(self, ability: str) -> Ticket:
        """One call's place (none yet: `wait` takes it) in the ability's queue."""
        return Ticket(self, ability, self._queues.setdefault(ability, _Queue()))

    def waiting(self, ability: str) -> int:
        queue = self._queues.get(ability)
        return len(queue.waiters) if queue is not None else 0

    def released(self, ability: str) -> None:
        """A call on the ability's pool finished: its longest waiting call may go."""
        queue = self._queues.get(ability)
        if queue is not None and queue.waiters:
            queue.wake()
            self._show(ability)

    def _show(self, ability: str) -> None:
        if self._depth is not None:
            self._depth.labels(ability).set(self.waiting(ability))

    def _busy(self, kind: type[AllBusy], message: str) -> AllBusy:
        return kind(f"{message}; retry after {self._retry_after_s} s",
                    headers={"Retry-After": str(self._retry_after_s)})


class Ticket:
    def __init__(self, admission: Admission, ability: str, queue: _Queue) -> None:
        self._admission = admission
        self._ability = ability
        self._queue = queue
        self._started: float | None = None  # when it first waited
        self._again = False  # woken once already: it keeps its place at the head

    async def wait(self, deadline: float | None = None) -> None:
        """Until a call on the pool finishes and it is this one's turn (or, at the head, until
        `recheck_s` has passed). AllBusy if the queue is full, off, or the wait (at most
        `queue_wait_s` in all, and never past `deadline`, a monotonic time) is over."""
        a = self._admission
        where = f"every worker of {self._ability!r} is at its licence"
        if not a.enabled:
            raise a._busy(QueueFull, where)
        if not self._again and len(self._queue.waiters) >= a.size:
            raise a._busy(QueueFull, f"{where} and its wait queue is full ({a.size} calls)")
        if self._started is None:
            self._started = a._clock()
        until = self._started + a.wait_s
        if deadline is not None:
            until = min(until, deadline)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._again:
            self._queue.waiters.appendleft(waiter)
        else:
            self._queue.waiters.append(waiter)
        self._again = True
        a._show(self._ability)
        try:
            while not waiter.done():
                left = until - a._clock()
                if left <= 0:
                    raise a._busy(WaitedTooLong, f"{where} and stayed so for the "
                                  f"{until - self._started:.3g} s a call may wait")
                await asyncio.wait([waiter], timeout=min(left, a.recheck_s))
                if (not waiter.done() and a._clock() < until
                        and self._queue.waiters[0] is waiter):
                    return  # the head looks for itself: calls it cannot see may have ended
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._queue.wake()  # woken, then cancelled: the turn is the next one's
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
            if waiter in self._queue.waiters:
                self._queue.waiters.remove(waiter)
            a._show(self._ability)

    def close(self) -> None:
        """The call got a worker, or gave up: how long it waited, if it did."""
        waited = self._admission._waited
        if self._started is not None and waited is not None:
            waited.labels(self._ability).observe(self._admission._clock() - self._started)

"""The licence ([fc] max): at most N wrapper calls at once, refused at once beyond that.

A call its client gave up on (deadline passed, cancelled) while its wrapper thread runs on is
*abandoned*: its slot comes back at once, since no one waits for its answer, but the thread
is still busy. Up to `max_abandoned` such calls are carried beside the licence (the wrapper
threads number `limit + max_abandoned`); past that, a given-up call keeps its slot until the
wrapper returns, so running wrapper calls never exceed the threads there are.
"""
from __future__ import annotations

from loader.errors import Overloaded

__all__ = ["Licence"]


class Licence:
    """Counted on the event loop thread only, so no lock is needed."""

    def __init__(self, limit: int, max_abandoned: int = 0) -> None:
        self.limit = limit
        self.max_abandoned = max_abandoned
        self.in_use = 0
        self.abandoned = 0  # given up on, still running

    def take(self) -> None:
        if self.in_use >= self.limit:
            raise Overloaded(
                f"all {self.limit} wrapper instances of this worker are busy; retry shortly"
            )
        self.in_use += 1

    def give_back(self) -> None:
        self.in_use -= 1

    def abandon(self) -> bool:
        """Hand a running call's slot back early; False (the slot kept) when `max_abandoned`
        calls are abandoned already."""
        if self.abandoned >= self.max_abandoned:
            return False
        self.in_use -= 1
        self.abandoned += 1
        return True

    def abandoned_returned(self) -> None:
        self.abandoned -= 1

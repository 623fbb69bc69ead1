"""Where a synchronous wrapper call runs: on a wrapper thread, or inline on the event loop.

Handing a call to a thread and its result back costs tens of microseconds of wake-ups and
GIL hand-offs: more than a small call itself. A call runs inline once the last STREAK calls
each took under the budget (`[loader] inline_under_ms`, 0 turns this off); a single slower
call sends the following ones back to threads until a new streak builds up. An inline call
holds the event loop while it runs, which is why only proven-short calls get to: the stuck
call watchdog is a thread, so even a call that hangs inline is caught.
"""
from __future__ import annotations

__all__ = ["Placement"]

STREAK = 64


class Placement:
    def __init__(self, budget_s: float) -> None:
        self._budget_s = budget_s
        self._short_in_a_row = 0

    def inline(self) -> bool:
        return self._budget_s > 0 and self._short_in_a_row >= STREAK

    def record(self, seconds: float) -> None:
        """Called from wrapper threads too: a lost update under a race only shifts a streak."""
        self._short_in_a_row = self._short_in_a_row + 1 if seconds < self._budget_s else 0

"""The licence ([fc] max): at most N wrapper calls at once, refused at once beyond that."""
from __future__ import annotations

from loader.errors import Overloaded

__all__ = ["Licence"]


class Licence:
    """Counted on the event loop thread only, so no lock is needed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def take(self) -> None:
        if self.in_use >= self.limit:
            raise Overloaded(
                f"all {self.limit} wrapper instances of this worker are busy; retry shortly"
            )
        self.in_use += 1

    def give_back(self) -> None:
        self.in_use -= 1

"""Session lifetimes: every open session's time limit, so shutdown can end them all at once.

Each transport (WebSocket, server-sent events, the public gRPC stream) runs a session inside
`bound()`: past `[ws] sessionTimeout` it fails with DeadlineExceeded (10114). At shutdown
`end_all()` brings every limit forward to now, so each open session fails the same way, through
the same code path, with ShuttingDown (503 / UNAVAILABLE, 10503) instead: its client hears a
clear code and the worker's session is cancelled, so the worker runs wrapperDestroy.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.errors import DeadlineExceeded, ShuttingDown
from loader.v1.codes import Code

__all__ = ["SessionLifetimes"]


class SessionLifetimes:
    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.closing = False
        self._open: set[asyncio.Timeout] = set()

    @asynccontextmanager
    async def bound(self) -> AsyncIterator[None]:
        """The block, for at most the session timeout (or until shutdown)."""
        if self.closing:
            raise ShuttingDown("the gateway is shutting down: open the session again")
        try:
            async with asyncio.timeout(self.limit_s) as timeout:
                self._open.add(timeout)
                try:
                    yield
                finally:
                    self._open.discard(timeout)
        except TimeoutError:
            if self.closing:
                raise ShuttingDown("the gateway is shutting down: this session was ended; "
                                   "open it again (on another gateway, if there is one)"
                                   ) from None
            raise DeadlineExceeded(
                f"the session exceeded [ws] sessionTimeout ({self.limit_s:g} s)",
                Code.SESSION_TIMEOUT) from None

    def end_all(self) -> None:
        """End every open session now (each with ShuttingDown); refuse new ones."""
        self.closing = True
        now = asyncio.get_running_loop().time()
        for timeout in list(self._open):
            timeout.reschedule(now)

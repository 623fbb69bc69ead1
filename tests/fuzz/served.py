"""The real gateway (HTTP on port 0 and its public gRPC edge on port 0) in front of real
in-process workers of echo and stream_echo, served on an event loop in a thread of its own,
so hypothesis tests (synchronous) can drive it with ordinary clients and a hang on either
side is a timeout, not a stuck test loop."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from gateway.edge import start_edge
from tests.inprocess import running_gateway, running_worker
from tests.support import ABILITIES, ROOT

__all__ = ["ECHO_ROUTE", "STREAM_ROUTE", "Served", "served"]

ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")
STREAM_ECHO = str(ABILITIES / "stream_echo" / "wrapper.py")
ECHO_ROUTE = "/v1/private/echo"
STREAM_ROUTE = "/v1/private/stream_echo"


@dataclass
class Served:
    """Where the fuzzed gateway listens, and the thread whose loop serves it and its workers."""

    base: str
    host: str
    port: int
    grpc: str
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop

    def alive(self) -> bool:
        return self.thread.is_alive() and not self.loop.is_closed()


@contextmanager
def served(**overrides: Any) -> Iterator[Served]:
    """The stack until the block ends; `overrides` are GatewaySettings fields."""
    ready: dict[str, Any] = {}
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stopping = asyncio.Event()

    async def run() -> None:
        async with AsyncExitStack() as stack:
            echo = await stack.enter_async_context(running_worker(ECHO))
            stream = await stack.enter_async_context(running_worker(STREAM_ECHO))
            gateway = await stack.enter_async_context(
                running_gateway([echo.address, stream.address], **overrides))
            server, grpc_port, _ = await start_edge(gateway.upstreams, gateway.settings,
                                                    gateway.metrics)
            stack.push_async_callback(server.stop, None)
            ready.update(base=gateway.base, grpc=f"127.0.0.1:{grpc_port}")
            started.set()
            await stopping.wait()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(run())
        except BaseException as error:  # noqa: BLE001 - reported by the waiting test
            ready["error"] = error
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="fuzzed-gateway", daemon=True)
    thread.start()
    if not started.wait(60):
        raise RuntimeError("the fuzzed gateway did not start within 60 s")
    if "error" in ready:
        raise RuntimeError("the fuzzed gateway failed to start") from ready["error"]
    host, port = ready["base"].removeprefix("http://").split(":")
    try:
        yield Served(ready["base"], host, int(port), ready["grpc"], thread, loop)
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(30)

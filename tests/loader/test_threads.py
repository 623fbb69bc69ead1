"""Wrapper threads (loader/threads.py): sync wrapper calls off the event loop, results and
exceptions back on it, a bounded set of threads kept for the next calls."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest

from loader.threads import WrapperThreads

Make = Callable[[int, str], WrapperThreads]


@pytest.fixture
def threads() -> Iterator[Make]:
    """`threads(size, name)`: a pool whose threads are named name-0, name-1, ...; each test
    names its own, so threads of an earlier test still exiting are not counted."""
    pools: list[WrapperThreads] = []

    def make(size: int, name: str) -> WrapperThreads:
        pools.append(WrapperThreads(size, name=name))
        return pools[-1]

    yield make
    for pool in pools:
        pool.shutdown()


def alive(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{name}-")]


class Gate:
    """Calls that block until released, counting how many have started."""

    def __init__(self) -> None:
        self.started = 0
        self._lock = threading.Lock()
        self._open = threading.Event()

    def call(self) -> str:
        with self._lock:
            self.started += 1
        self._open.wait()
        return threading.current_thread().name

    def release(self) -> None:
        self._open.set()


async def test_a_call_runs_on_a_wrapper_thread_and_its_result_comes_back_on_the_loop(
    threads: Make,
) -> None:
    pool = threads(2, "call")
    loop_thread = threading.current_thread()
    ran_on = await pool.run(threading.current_thread)
    assert ran_on is not loop_thread
    assert ran_on.name == "call-0"


async def test_the_loop_keeps_running_while_a_call_blocks(threads: Make) -> None:
    gate = Gate()
    blocked = threads(1, "blocks").run(gate.call)
    while gate.started == 0:  # the loop itself runs this, so it is not blocked
        await asyncio.sleep(0.01)
    assert not blocked.done()
    gate.release()
    assert await blocked == "blocks-0"


async def test_threads_grow_up_to_size_and_further_calls_wait_for_one(threads: Make) -> None:
    pool, gate = threads(2, "grow"), Gate()
    calls = [pool.run(gate.call) for _ in range(3)]
    while gate.started < 2:
        await asyncio.sleep(0.01)
    running = len(alive("grow"))
    gate.release()
    names = await asyncio.gather(*calls)
    assert running == 2
    assert sorted(set(names)) == ["grow-0", "grow-1"]  # the third reused one
    assert len(alive("grow")) == 2


async def test_an_idle_thread_takes_the_next_call_instead_of_a_new_one(threads: Make) -> None:
    pool = threads(4, "idle")
    names = []
    for _ in range(10):
        # back to back: the thread counts itself idle before its answer leaves
        names.append(await pool.run(lambda: threading.current_thread().name))
    assert set(names) == {"idle-0"}
    assert len(alive("idle")) == 1


async def test_an_exception_in_the_call_is_raised_in_the_awaiting_coroutine(threads: Make) -> None:
    pool = threads(1, "raises")

    def broken() -> None:
        raise KeyError("model input")

    with pytest.raises(KeyError, match="model input"):
        await pool.run(broken)
    assert await pool.run(lambda: "still working") == "still working"


async def test_a_base_exception_in_the_call_reaches_the_coroutine_not_the_thread(
    threads: Make,
) -> None:
    pool = threads(1, "exits")

    def exits() -> None:
        raise SystemExit(3)  # a wrapper calling sys.exit() must not end its wrapper thread

    with pytest.raises(SystemExit):
        await pool.run(exits)
    assert await pool.run(threading.current_thread) is alive("exits")[0]


async def test_a_stop_iteration_in_the_call_reaches_the_coroutine_instead_of_hanging(
    threads: Make,
) -> None:
    """asyncio futures refuse StopIteration (PEP 479); a wrapper calling next() on an empty
    iterator must still fail its call, not leave it waiting for ever."""
    pool = threads(1, "stops")
    with pytest.raises(RuntimeError, match="StopIteration") as raised:
        await asyncio.wait_for(pool.run(lambda: next(iter(()))), timeout=10)
    assert isinstance(raised.value.__cause__, StopIteration)
    assert await pool.run(lambda: "still working") == "still working"


async def test_a_call_whose_caller_gave_up_does_not_break_the_pool(threads: Make) -> None:
    pool = threads(1, "cancelled")
    gate = Gate()
    abandoned = pool.run(gate.call)
    while gate.started == 0:
        await asyncio.sleep(0.01)
    abandoned.cancel()  # the caller's deadline passed; the wrapper call runs on regardless
    gate.release()
    assert await pool.run(lambda: "next") == "next"
    assert abandoned.cancelled()


async def test_shutdown_lets_running_calls_finish_then_ends_the_threads(threads: Make) -> None:
    pool = threads(2, "shutdown")
    gate = Gate()
    running = pool.run(gate.call)
    await pool.run(lambda: None)
    while gate.started == 0:
        await asyncio.sleep(0.01)
    started = alive("shutdown")
    pool.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.run(lambda: None)
    gate.release()
    assert await running in {t.name for t in started}
    for thread in started:
        await asyncio.to_thread(thread.join)
    assert alive("shutdown") == []

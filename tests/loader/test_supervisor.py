"""The supervisor (loader/supervisor.py) with real worker processes: start, health, restart on
the same port (and counted), SIGTERM on stop, and a wrapper that cannot start."""
from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from loader.supervisor import Supervisor, WorkerFailed, WorkerSpec
from loader.v1 import loader_pb2
from loader.v1.wire import CALL_METHOD, SERVICE
from tests.inprocess import text_request
from tests.support import ABILITIES, ROOT, pid_alive

ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")
INIT_FAILS = str(ABILITIES / "variants" / "init_fails.py")


@asynccontextmanager
async def supervising(wrapper: str, workers: int) -> AsyncIterator[tuple[Supervisor, set[int]]]:
    """A started Supervisor and every worker pid it has had; on the way out it is stopped, and
    any of those pids still running is killed (by pid) so no test leaves a process behind."""
    supervisor = Supervisor([WorkerSpec(wrapper)], workers, ready_timeout_s=60)
    seen: set[int] = set()
    try:
        await supervisor.start()
        seen.update(pids(supervisor))
        yield supervisor, seen
    finally:
        seen.update(pids(supervisor))
        await supervisor.stop()
        for pid in seen:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def pids(supervisor: Supervisor) -> list[int]:
    return [int(w["pid"]) for w in supervisor.describe() if w["pid"] is not None]


async def health_of(address: str) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE), timeout=10)
    return reply.status


async def echo(address: str, text: str) -> bytes:
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(CALL_METHOD, response_deserializer=None)
        reply = await call(text_request(text).SerializeToString(), timeout=10)
    return bytes(loader_pb2.CallResponse.FromString(reply).outputs[0].data)


async def test_each_worker_serves_health_and_calls_on_its_own_address() -> None:
    async with supervising(ECHO, 2) as (supervisor, _):
        described = supervisor.describe()
        statuses = [await health_of(address) for address in supervisor.addresses]
        replies = [await echo(address, "hello") for address in supervisor.addresses]
    assert len(set(supervisor.addresses)) == 2
    assert [w["ability"] for w in described] == ["echo", "echo"]
    assert statuses == [health_pb2.HealthCheckResponse.SERVING] * 2
    assert replies == [b"hello", b"hello"]


async def test_a_killed_worker_is_restarted_on_the_same_port() -> None:
    async with supervising(ECHO, 2) as (supervisor, seen):
        address, other = supervisor.addresses
        killed, untouched = pids(supervisor)
        os.kill(killed, signal.SIGKILL)
        while (restarted := pids(supervisor)[0]) == killed:
            await asyncio.sleep(0.05)
        seen.add(restarted)
        while supervisor.describe()[0]["address"] != address or not await _serving(address):
            await asyncio.sleep(0.05)
        assert supervisor.addresses == [address, other]
        assert pids(supervisor)[1] == untouched
        assert await echo(address, "back again") == b"back again"
        assert not pid_alive(killed)
        registry = CollectorRegistry()
        registry.register(supervisor.restarts)
        assert registry.get_sample_value("athena_supervisor_worker_restarts_total",
                                         {"ability": "echo"}) == 1


async def test_stop_sigterms_every_worker_and_leaves_no_process(
    capfd: pytest.CaptureFixture[str],
) -> None:
    async with supervising(ECHO, 2) as (supervisor, _):
        started = pids(supervisor)
        await supervisor.stop()
        still_running = [pid for pid in started if pid_alive(pid)]
    assert len(started) == 2
    assert still_running == []
    assert not supervisor._dir.exists()  # its workers' ready files went with it
    logged = capfd.readouterr().err
    for pid in started:  # they drained on SIGTERM (and ran wrapperFini); none was killed
        assert f"worker {pid} stopped" in logged
    assert "did not stop" not in logged


async def test_a_wrapper_whose_init_fails_raises_worker_failed_naming_it() -> None:
    with pytest.raises(WorkerFailed) as failed:
        async with supervising(INIT_FAILS, 1):
            pass
    assert INIT_FAILS in str(failed.value)
    assert "before it was ready" in str(failed.value)


async def _serving(address: str) -> bool:
    try:
        return await health_of(address) == health_pb2.HealthCheckResponse.SERVING
    except grpc.aio.AioRpcError:
        return False  # not listening yet


async def test_a_worker_over_max_calls_is_recycled_one_at_a_time_without_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both workers reach max_calls together; the second waits (serving) until the first's
    replacement serves, so one of the two is serving throughout."""
    monkeypatch.setenv("ATHENA_LOADER_MAX_CALLS", "3")
    async with supervising(ECHO, 2) as (supervisor, seen):
        first = pids(supervisor)
        for address in supervisor.addresses:
            for _ in range(3):
                assert await echo(address, "x") == b"x"
        statuses: list[bool] = []
        registry = CollectorRegistry()
        registry.register(supervisor.restarts)

        def recycles() -> float:
            return registry.get_sample_value("athena_supervisor_worker_recycles_total",
                                             {"ability": "echo"}) or 0

        deadline = asyncio.get_running_loop().time() + 60
        while recycles() < 2:
            assert asyncio.get_running_loop().time() < deadline, "not recycled within 60 s"
            statuses.append(any([await _serving(a) for a in supervisor.addresses]))
            await asyncio.sleep(0.05)
        seen.update(pids(supervisor))
        assert set(pids(supervisor)).isdisjoint(first)
        assert all(statuses)  # never both draining at once
        assert registry.get_sample_value("athena_supervisor_worker_restarts_total",
                                         {"ability": "echo"}) == 0

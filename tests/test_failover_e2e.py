"""Balancing, failover and backpressure through real processes: `athena loader` workers of the
`paced` test ability (tests/abilities/paced: each call sleeps, then names the worker's pid)
behind `athena gateway --worker A --worker B`, loaded by concurrent HTTP clients while a
worker is killed, frozen, slow or full."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import ABILITIES, ATHENA, ROOT, aiges_body, stop, text_item, wait_for_file

PACED = ABILITIES / "paced" / "wrapper.py"
ROUTE = "/v1/private/paced"


@dataclass
class Loader:
    process: subprocess.Popen[bytes]
    address: str

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Cluster:
    workers: list[Loader]
    gateway: subprocess.Popen[bytes]
    base: str
    log: Path  # the gateway's

    def said(self, text: str) -> bool:
        return text in self.log.read_text(errors="replace")


@dataclass
class Result:
    started: float  # seconds since the load began
    took: float
    status: int  # 0: no answer within the client's timeout
    code: int | None
    pid: int | None  # of the worker that answered


def _start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **env})


@contextmanager
def cluster(tmp: Path, workers: list[dict[str, str]], licence: int = 8,
            timeout_s: float = 30, **gateway_env: str) -> Iterator[Cluster]:
    """Loader workers (each entry: its environment), then a gateway in front of them, ready
    once it has found every worker healthy; all stopped by pid at the end."""
    with ExitStack() as stack:
        started = []
        for i, env in enumerate(workers):
            ready, log = tmp / f"worker{i}.json", tmp / f"worker{i}.log"
            process = _start([ATHENA, "loader", str(PACED), "--port", "0", "--licence",
                              str(licence), "--ready-file", str(ready)], log, env)
            stack.callback(_end, process)
            started.append((process, ready, log))
        loaders = [Loader(p, f"127.0.0.1:{wait_for_file(ready, p, log)['port']}")
                   for p, ready, log in started]
        gateway, base, log = _gateway(stack, tmp, [w.address for w in loaders], timeout_s,
                                      gateway_env)
        yield Cluster(loaders, gateway, base, log)


def _gateway(stack: ExitStack, tmp: Path, addresses: list[str], timeout_s: float,
             settings: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`athena gateway` in front of `addresses` (settings: [gateway] keys, as environment),
    once it has found every worker healthy; its base URL and log."""
    ready, log = tmp / "gateway.json", tmp / "gateway.log"
    env = {"ATHENA_GATEWAY_HEALTH_INTERVAL_S": "0.2",
           **{f"ATHENA_GATEWAY_{k.upper()}": v for k, v in settings.items()}}
    gateway = _start([ATHENA, "gateway", *(f"--worker={address}" for address in addresses),
                      "--port", "0", "--grpc-port", "0", "--timeout-s", str(timeout_s),
                      "--ready-file", str(ready)], log, env)
    stack.callback(_end, gateway)
    base = f"http://127.0.0.1:{wait_for_file(ready, gateway, log)['http_port']}"
    asyncio.run(_all_healthy(base, len(addresses)))
    return gateway, base, log


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGCONT)  # a frozen one could not drain
    stop(process)


async def _all_healthy(base: str, count: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as client:
        while True:
            async with client.get(base + "/readyz") as response:
                workers = (await response.json())["workers"]
            if sum(w["healthy"] for w in workers) == count:
                return
            assert time.monotonic() < deadline, workers
            await asyncio.sleep(0.05)


async def call(client: aiohttp.ClientSession, base: str, began: float,
               **params: str) -> Result:
    body = aiges_body("paced", {"text": text_item("x")}, params)
    started = time.monotonic()
    try:
        async with client.post(base + ROUTE, json=body) as response:
            reply = await response.json()
            status = response.status
    except TimeoutError:
        return Result(started - began, time.monotonic() - started, 0, None, None)
    took = time.monotonic() - started
    pid = int(reply["payload"]["result"]["text"]) if status == 200 else None
    return Result(started - began, took, status, reply["header"].get("code"), pid)


async def load(base: str, clients: int, seconds: float, events: dict[float, Any],
               **params: str) -> list[Result]:
    """`clients` clients calling back to back for `seconds`; each event (a callable) runs
    that many seconds in. No call may take longer than 15 s (then it hung: status 0)."""
    timeout = aiohttp.ClientTimeout(total=15)
    results: list[Result] = []
    began = time.monotonic()
    async with aiohttp.ClientSession(timeout=timeout) as client:
        async def client_loop() -> None:
            while time.monotonic() - began < seconds:
                results.append(await call(client, base, began, **params))

        async def run_events() -> None:
            for at, event in sorted(events.items()):
                await asyncio.sleep(max(at - (time.monotonic() - began), 0))
                event()

        await asyncio.gather(run_events(), *(client_loop() for _ in range(clients)))
    return results


async def gateway_metric(base: str, name: str) -> float:
    """The sum of the samples (at base/metrics) whose exposition line starts with `name`."""
    async with aiohttp.ClientSession() as client, client.get(base + "/metrics") as response:
        text = await response.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name))


def kill(worker: Loader, sig: signal.Signals) -> Any:
    return lambda: os.kill(worker.pid, sig)


def test_kill_9_of_a_worker_under_load_fails_only_the_calls_it_held(tmp_path: Path) -> None:
    with cluster(tmp_path, [{"PACED_SECONDS": "0.2"}] * 2) as c:
        a, b = c.workers
        results = asyncio.run(load(c.base, 8, 4.0, {1.5: kill(a, signal.SIGKILL)}))
        ejected = asyncio.run(gateway_metric(c.base, "athena_gateway_ejections_total"))
        logged = c.said(f"worker {a.address} (paced) ejected for 1 s")
    lost = [r for r in results if r.status != 200]
    print(f"kill -9: {len(results)} calls, {len(lost)} lost "
          f"({Counter((r.status, r.code) for r in lost)}), "
          f"slowest {max(r.took for r in results):.2f} s")
    assert {(r.status, r.code) for r in lost} <= {(502, 10109)}
    assert 1 <= len(lost) <= 8  # at most the licence of the one killed
    assert all(r.started < 1.6 and r.started + r.took > 1.5 for r in lost)  # held at the kill
    assert all(r.status == 200 and r.pid == b.pid for r in results if r.started > 1.7)
    assert max(r.took for r in results) < 5  # none hung
    assert ejected >= 1 and logged


def test_a_worker_killed_under_a_supervisor_is_restarted_and_taken_back(tmp_path: Path) -> None:
    ready, log = tmp_path / "loader.json", tmp_path / "loader.log"
    with ExitStack() as stack:
        supervisor = _start([ATHENA, "loader", str(PACED), "--workers", "2", "--licence", "8",
                             "--ready-file", str(ready)], log, {"PACED_SECONDS": "0.2"})
        stack.callback(_end, supervisor)
        info = wait_for_file(ready, supervisor, log)
        a, b = info["workers"]
        _, base, _ = _gateway(stack, tmp_path, [a["address"], b["address"]], 30, {})
        results = asyncio.run(load(base, 8, 7.0, {1.5: lambda: os.kill(a["pid"], signal.SIGKILL)}))
        restarted = next(w for w in wait_for_file(ready, supervisor, log)["workers"]
                         if w["address"] == a["address"])
        restarts = asyncio.run(gateway_metric(
            f"http://127.0.0.1:{info['metrics_port']}",
            'athena_supervisor_worker_restarts_total{ability="paced"}'))
        readmitted = asyncio.run(gateway_metric(base, "athena_gateway_readmissions_total"))
    lost = [r for r in results if r.status != 200]
    back = [r for r in results if r.pid == restarted["pid"]]
    print(f"kill -9 under a supervisor: {len(results)} calls, {len(lost)} lost "
          f"({Counter((r.status, r.code) for r in lost)}); restarted as pid "
          f"{restarted['pid']}, its first call started {min(r.started for r in back):.2f} s in,"
          f" {len(back)} calls on it")
    assert {(r.status, r.code) for r in lost} <= {(502, 10109)}
    assert all(r.started < 1.6 for r in lost)
    assert restarted["pid"] != a["pid"] and back  # the same address, a new process, calls
    assert (restarts, readmitted) == (1, 1)


def test_retry_on_worker_loss_makes_the_calls_a_killed_worker_held_succeed(
        tmp_path: Path) -> None:
    with cluster(tmp_path, [{"PACED_SECONDS": "0.2"}] * 2, retry_on_worker_loss="paced") as c:
        a, b = c.workers
        results = asyncio.run(load(c.base, 8, 4.0, {1.5: kill(a, signal.SIGKILL)}))
        retried = asyncio.run(gateway_metric(
            c.base, 'athena_gateway_retries_total{ability="paced",reason="worker_lost"}'))
    print(f"kill -9 with retry_on_worker_loss: {len(results)} calls, "
          f"{Counter(r.status for r in results)}, {retried:g} retried after the loss")
    assert {r.status for r in results} == {200}
    assert retried >= 1


def test_a_frozen_worker_is_passed_over_within_seconds_and_readmitted_when_it_resumes(
        tmp_path: Path) -> None:
    with cluster(tmp_path, [{"PACED_SECONDS": "0.05"}] * 2, timeout_s=2) as c:
        a, b = c.workers
        results = asyncio.run(load(c.base, 4, 9.0, {1.0: kill(a, signal.SIGSTOP),
                                                   5.0: kill(a, signal.SIGCONT)}))
        # its health probe (every 0.2 s, 1 s to answer) found it frozen, then back
        health = [c.said(f"worker {a.address} (paced) is now {state}")
                  for state in ("unhealthy", "healthy")]
    failed = [r for r in results if r.status != 200]
    frozen = [r for r in results if 3.0 < r.started < 5.0]
    after = [r for r in results if r.started > 7.0]
    print(f"SIGSTOP: {len(failed)} calls failed ({Counter((r.status, r.code) for r in failed)}),"
          f" last failure started {max((r.started for r in failed), default=0):.2f} s in; "
          f"{len(frozen)} calls while frozen, all on the other; after SIGCONT "
          f"{Counter(r.pid == a.pid for r in after)[True]} of {len(after)} on the resumed one")
    assert {(r.status, r.code) for r in failed} <= {(504, 10102)}
    assert all(r.started < 3.0 for r in failed)  # within two seconds no call goes there
    assert frozen and all(r.status == 200 and r.pid == b.pid for r in frozen)
    assert any(r.pid == a.pid for r in after)  # SIGCONT: it takes calls again
    assert all(r.status == 200 for r in after)
    assert max(r.took for r in results) < 5  # the deadline (2 s) ends a frozen call
    assert health == [True, True]


def test_a_fast_worker_takes_most_calls_from_a_slow_one(tmp_path: Path) -> None:
    with cluster(tmp_path, [{"PACED_SECONDS": "0.25"}, {"PACED_SECONDS": "0.01"}]) as c:
        slow, fast = c.workers
        results = asyncio.run(load(c.base, 8, 3.0, {}))
    taken = Counter(r.pid for r in results)
    print(f"slow vs fast: fast {taken[fast.pid]}, slow {taken[slow.pid]} calls")
    assert {r.status for r in results} == {200}
    assert taken[fast.pid] > 5 * taken[slow.pid]


async def _held(client: aiohttp.ClientSession, base: str, count: int, seconds: str
                ) -> list[asyncio.Task[Result]]:
    """`count` calls of `seconds` each, in flight at the gateway when this returns."""
    began = time.monotonic()
    tasks = [asyncio.create_task(call(client, base, began, seconds=seconds))
             for _ in range(count)]
    await _until_outstanding(base, count)
    return tasks


async def _until_outstanding(base: str, count: int) -> None:
    async with aiohttp.ClientSession() as client:
        while True:
            async with client.get(base + "/readyz") as response:
                workers = (await response.json())["workers"]
            if sum(w["outstanding"] for w in workers) >= count:
                return
            await asyncio.sleep(0.01)


def test_a_full_pool_is_429_with_10110_and_retry_after_at_once(tmp_path: Path) -> None:
    async def scenario(base: str) -> tuple[float, int, str, dict[str, Any], list[Result], int]:
        async with aiohttp.ClientSession() as client:
            held = await _held(client, base, 2, "2")  # each worker's one licence
            body = aiges_body("paced", {"text": text_item("x")}, {})
            started = time.monotonic()
            async with client.post(base + ROUTE, json=body) as response:
                took = time.monotonic() - started
                refused = (response.status, response.headers["Retry-After"],
                           await response.json())
            done = await asyncio.gather(*held)
            async with client.post(base + ROUTE, json=body) as response:
                again = response.status  # the load dropped: it is served
        return took, refused[0], refused[1], refused[2], done, again

    with cluster(tmp_path, [{}, {}], licence=1) as c:
        took, status, retry_after, body, held, again = asyncio.run(scenario(c.base))
        rejected = asyncio.run(gateway_metric(
            c.base, 'athena_gateway_rejections_total{ability="paced",reason="pool_full"}'))
    print(f"pool full: 429 in {took * 1000:.1f} ms: {body['header']['message']}")
    assert (status, body["header"]["code"], retry_after) == (429, 10110, "1")
    assert took < 0.5  # milliseconds, not a timeout
    assert {r.status for r in held} == {200}
    assert again == 200
    assert rejected == 1


def test_with_a_wait_queue_calls_to_a_full_pool_wait_then_succeed(tmp_path: Path) -> None:
    async def scenario(base: str) -> tuple[list[Result], list[Result]]:
        async with aiohttp.ClientSession() as client:
            held = await _held(client, base, 2, "1")  # each worker's one licence, for 1 s
            began = time.monotonic()
            waiting = await asyncio.gather(*(call(client, base, began) for _ in range(6)))
            return await asyncio.gather(*held), list(waiting)

    with cluster(tmp_path, [{}, {}], licence=1, queue_size="4", queue_wait_s="10") as c:
        held, waiting = asyncio.run(scenario(c.base))
        waited = asyncio.run(gateway_metric(
            c.base, 'athena_gateway_queue_wait_seconds_count{ability="paced"}'))
        full = asyncio.run(gateway_metric(
            c.base, 'athena_gateway_rejections_total{ability="paced",reason="queue_full"}'))
    served = [r for r in waiting if r.status == 200]
    refused = [r for r in waiting if r.status != 200]
    print(f"queue: {len(served)} waited {min(r.took for r in served):.2f}-"
          f"{max(r.took for r in served):.2f} s then succeeded; {len(refused)} refused in "
          f"{max(r.took for r in refused) * 1000:.1f} ms (queue full)")
    assert {r.status for r in held} == {200}
    assert len(served) == 4 and all(r.took > 0.5 for r in served)  # until a held call ended
    assert [(r.status, r.code) for r in refused] == [(429, 10110)] * 2
    assert all(r.took < 0.5 for r in refused)
    assert (waited, full) == (4, 2)


def test_sigterm_of_a_worker_under_load_cuts_no_call(tmp_path: Path) -> None:
    with cluster(tmp_path, [{"PACED_SECONDS": "0.2"}] * 2) as c:
        a, b = c.workers
        results = asyncio.run(load(c.base, 8, 4.0, {1.5: kill(a, signal.SIGTERM)}))
        drained = a.process.wait(15)
    failed = [r for r in results if r.status != 200]
    on_a = [r for r in results if r.pid == a.pid]
    print(f"SIGTERM of a worker: {len(results)} calls, {len(failed)} failed, "
          f"{len(on_a)} answered by it, the last {max(r.started + r.took for r in on_a):.2f} s in")
    assert failed == [], Counter((r.status, r.code) for r in failed)
    assert drained == 0
    assert any(r.started > 1.5 and r.pid == b.pid for r in results)


def test_sigterm_of_the_gateway_under_load_cuts_no_call_in_flight(tmp_path: Path) -> None:
    with cluster(tmp_path, [{"PACED_SECONDS": "1.0"}] * 2) as c:
        signalled = 1.5

        async def run() -> list[Result]:
            timeout = aiohttp.ClientTimeout(total=15)
            began = time.monotonic()
            async with aiohttp.ClientSession(timeout=timeout) as client:
                calls = [asyncio.ensure_future(call(client, c.base, began)) for _ in range(8)]
                await asyncio.sleep(signalled)
                c.gateway.send_signal(signal.SIGTERM)
                return await asyncio.gather(*calls)

        results = asyncio.run(run())
        stopped = c.gateway.wait(15)
    print(f"SIGTERM of the gateway: {[(r.status, round(r.took, 2)) for r in results]}")
    assert [r.status for r in results] == [200] * 8  # every call in flight at the signal ends
    assert all(r.took > 0.9 for r in results)
    assert stopped == 0

"""Workers found by DNS, through real processes: a real dnsmasq answers for echo-pool.test, real
`athena loader` workers on 127.0.0.2/.3/.4 (standing in for hosts, one port each) and a real
`athena gateway --worker echo-pool.test:PORT`. While one-shot calls run without pause, the
name's answer changes (SIGHUP re-reads dnsmasq's hosts file): a worker that joins the answer
gets traffic within seconds, one that leaves it gets none after, and no call fails."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp

from tests.gateway.test_discovery import free_port, running_dnsmasq
from tests.support import ATHENA, ROOT, aiges_body, stop, text_item, wait_for_file

ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")
HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
NAME = "echo-pool.test"
CONCURRENCY = 8


@contextmanager
def process(tmp: Path, label: str, command: list[str],
            env: dict[str, str] | None = None) -> Iterator[dict[str, object]]:
    """A real athena process, ready once it wrote its ready file; stopped by its PID."""
    ready, log = tmp / f"{label}.ready.json", tmp / f"{label}.log"
    with log.open("wb") as out:
        running = subprocess.Popen([*command, "--ready-file", str(ready)], stdout=out,
                                   stderr=subprocess.STDOUT, cwd=ROOT,
                                   env={**os.environ, **(env or {})})
    try:
        yield {**wait_for_file(ready, running, log), "log": log}
    finally:
        stop(running)


def worker_calls(metrics_port: int, host: str) -> int:
    """The echo calls a worker ran, from its own /metrics."""
    with socket.create_connection((host, metrics_port), timeout=5) as sock:
        sock.sendall(f"GET /metrics HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("athena_loader_wrapper_calls_total{")))


class Load:
    """One-shot calls, CONCURRENCY at a time, until stopped; every status counted."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self._running = True

    async def run(self) -> None:
        async with aiohttp.ClientSession(self.base) as client:
            await asyncio.gather(*(self._caller(client, i) for i in range(CONCURRENCY)))

    async def _caller(self, client: aiohttp.ClientSession, index: int) -> None:
        n = 0
        while self._running:
            n += 1
            body = aiges_body("echo", {"text": text_item(f"caller {index} call {n}")})
            async with client.post("/v1/private/echo", json=body) as response:
                reply = await response.json()
                self.statuses[response.status] += 1
                if response.status != 200:
                    self.failures.append(f"{response.status}: {reply['header']}")

    def stop(self) -> None:
        self._running = False


async def wait_until(condition, within: float) -> float | None:  # type: ignore[no-untyped-def]
    """Seconds until `condition()` held (polled off the loop), or None if it never did."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await asyncio.to_thread(condition):
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None


async def test_workers_joining_and_leaving_a_dns_name_under_load_lose_no_call(
        tmp_path: Path) -> None:
    port = free_port(socket.SOCK_STREAM, HOSTS[0])
    with running_dnsmasq(tmp_path, {NAME: [HOSTS[0]]}) as dns, ExitStack() as stack:
        workers = {host: stack.enter_context(process(
            tmp_path, f"worker-{host}",
            [ATHENA, "loader", ECHO, "--host", host, "--port", str(port)])) for host in HOSTS}
        gateway = stack.enter_context(process(
            tmp_path, "gateway",
            [ATHENA, "gateway", "--worker", f"{NAME}:{port}", "--port", "0", "--grpc-port", "0"],
            env={"ATHENA_GATEWAY_DNS_SERVER": dns.server,
                 "ATHENA_GATEWAY_RESOLVE_INTERVAL_S": "0.3",
                 # worker addresses are listed on the admin listener's /readyz only
                 "ATHENA_GATEWAY_ADMIN_PORT": "0"}))

        def calls(host: str) -> int:
            return worker_calls(int(str(workers[host]["metrics_port"])), host)

        load = Load(f"http://127.0.0.1:{gateway['http_port']}")
        running = asyncio.ensure_future(load.run())
        try:
            assert await wait_until(lambda: calls(HOSTS[0]) >= 50, 10) is not None
            assert (calls(HOSTS[1]), calls(HOSTS[2])) == (0, 0)

            dns.answer({NAME: [HOSTS[0], HOSTS[1]]})
            joined = await wait_until(lambda: calls(HOSTS[1]) > 0, 10)
            assert joined is not None, "the worker that joined the answer got no call"
            assert await wait_until(lambda: calls(HOSTS[1]) >= 50, 10) is not None

            dns.answer({NAME: [HOSTS[1]]})
            # gone from the gateway's worker set: its calls in flight end, no new one starts
            left = await wait_until(lambda: not _listed(gateway, HOSTS[0]), 10)
            assert left is not None, "the worker that left the answer is still in the set"
            await asyncio.sleep(0.3)
            after_leaving = calls(HOSTS[0])
            served = calls(HOSTS[1])
            await asyncio.sleep(1.5)
            assert calls(HOSTS[0]) == after_leaving
            assert calls(HOSTS[1]) > served + 50

            dns.answer({NAME: [HOSTS[1], HOSTS[2]]})
            third = await wait_until(lambda: calls(HOSTS[2]) > 0, 10)
            assert third is not None, "the third worker got no call"
            await asyncio.sleep(0.5)
        finally:
            load.stop()
            await asyncio.wait_for(running, 30)
        totals = {host: calls(host) for host in HOSTS}
    total = sum(load.statuses.values())
    print(f"\ndiscovery under load: {total} calls, {len(load.failures)} failed; "
          f"{HOSTS[1]} got traffic {joined:.2f} s after joining, {HOSTS[2]} {third:.2f} s; "
          f"{HOSTS[0]} out of the set {left:.2f} s after leaving; per worker {totals}")
    assert load.failures == []
    assert load.statuses == {200: total}
    assert totals[HOSTS[0]] == after_leaving
    assert total == sum(totals.values())


def _listed(gateway: dict[str, object], host: str) -> bool:
    """Whether the gateway's admin /readyz lists a worker on `host`."""
    with socket.create_connection(("127.0.0.1", int(str(gateway["admin_port"]))), timeout=5) as s:
        s.sendall(b"GET /readyz HTTP/1.0\r\nHost: gateway\r\n\r\n")
        text = b"".join(iter(lambda: s.recv(65536), b"")).decode()
    return f'"{host}:' in text

"""Process groups through real processes: `athena gateway --processes N` (shared ports, both
take traffic, a killed member restarts, SIGTERM stops all), `athena serve
--gateway-processes N`, and `athena loader --workers N` (restarts counted)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ATHENA, ROOT, pid_alive, serve, stop, wait_for_file

ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")
BODY = {"payload": {"text": {"text": "aGk=", "status": 3}}}  # "hi"


def start(tmp: Path, name: str, *args: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    ready, log = tmp / f"{name}.json", tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([ATHENA, *args, "--ready-file", str(ready)], cwd=ROOT,
                                   stdout=out, stderr=subprocess.STDOUT)
    return process, wait_for_file(ready, process, log)


def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def call_over_new_connections(base: str, count: int) -> list[int]:
    # a new connection each time: the kernel spreads connections, not requests, over members
    return [httpx.post(f"{base}/v1/private/echo", json=BODY, timeout=10,
                       headers={"Connection": "close"}).status_code for _ in range(count)]


def reread(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, info = start(tmp_path_factory.mktemp("worker"), "worker", "loader", ECHO,
                          "--port", "0")
    try:
        yield f"127.0.0.1:{info['port']}"
    finally:
        stop(process)


def test_two_gateway_processes_share_both_ports_and_both_take_traffic(
    tmp_path: Path, worker: str,
) -> None:
    group, info = start(tmp_path, "gateway", "gateway", "--processes", "2", "--worker", worker,
                        "--port", "0", "--grpc-port", "0")
    try:
        members = [int(p["pid"]) for p in info["processes"]]
        base = f"http://127.0.0.1:{info['http_port']}"
        codes = call_over_new_connections(base, 60)
        by_member = samples(f"{base}/metrics")
        over_grpc = subprocess.run([ATHENA, "call", f"grpc://127.0.0.1:{info['grpc_port']}",
                                    "--ability", "echo", "--text", "hi"],
                                   capture_output=True, text=True, timeout=60)
    finally:
        assert stop(group) == 0
    assert len(set(members)) == 2 and info["http_port"] and info["grpc_port"]
    assert codes == [200] * 60
    per_member = [by_member[("athena_gateway_process_http_responses_total",
                             (("process", str(i)),))] for i in (0, 1)]
    assert all(count > 0 for count in per_member), per_member  # each member answered some
    # whichever member answered the scrape, it counted the whole group's requests
    assert by_member[("athena_gateway_http_requests_total", (
        ("code", "200"), ("method", "POST"), ("route", "/v1/private/echo")))] == 60
    assert over_grpc.returncode == 0 and "text: hi" in over_grpc.stdout
    assert not any(pid_alive(pid) for pid in [group.pid, *members])


def test_a_killed_gateway_process_is_restarted_and_sigterm_stops_every_member(
    tmp_path: Path, worker: str,
) -> None:
    group, info = start(tmp_path, "gateway", "gateway", "--processes", "2", "--worker", worker,
                        "--port", "0", "--grpc-port", "0")
    ready = tmp_path / "gateway.json"
    seen = {int(p["pid"]) for p in info["processes"]}
    try:
        killed = int(info["processes"][1]["pid"])
        os.kill(killed, signal.SIGKILL)
        now = eventually(lambda: (p := reread(ready)["processes"])[1]["pid"] != killed and p,
                         "the killed gateway process was never restarted")
        seen.update(int(p["pid"]) for p in now)
        base = f"http://127.0.0.1:{info['http_port']}"
        assert call_over_new_connections(base, 20) == [200] * 20
        assert samples(f"{base}/metrics")[("athena_supervisor_gateway_restarts_total", ())] == 1
        assert now[0]["pid"] == info["processes"][0]["pid"]  # the other one was left alone
    finally:
        code = stop(group)
    assert code == 0
    assert not any(pid_alive(pid) for pid in seen)
    assert "gateway process 1 exited with code -9; restarting" in (
        tmp_path / "gateway.log").read_text()


def test_loader_with_two_workers_restarts_a_killed_one_and_counts_it(tmp_path: Path) -> None:
    loader, info = start(tmp_path, "loader", "loader", ECHO, "--workers", "2",
                         "--metrics-port", "0")
    ready, log = tmp_path / "loader.json", tmp_path / "loader.log"
    metrics = f"http://127.0.0.1:{info['metrics_port']}/metrics"
    seen = {int(w["pid"]) for w in info["workers"]}
    try:
        addresses = [w["address"] for w in info["workers"]]
        replies = [subprocess.run([ATHENA, "call", f"grpc://{a}", "--text", f"to {a}"],
                                  capture_output=True, text=True, timeout=60) for a in addresses]
        before = samples(metrics)[("athena_supervisor_worker_restarts_total",
                                   (("ability", "echo"),))]
        killed = int(info["workers"][0]["pid"])
        os.kill(killed, signal.SIGKILL)
        now = eventually(lambda: (w := reread(ready)["workers"])[0]["pid"] != killed and w,
                         "the killed worker was never restarted")
        seen.update(int(w["pid"]) for w in now)
        after = samples(metrics)[("athena_supervisor_worker_restarts_total",
                                  (("ability", "echo"),))]
        again = subprocess.run([ATHENA, "call", f"grpc://{addresses[0]}", "--text", "back"],
                               capture_output=True, text=True, timeout=60)
    finally:
        code = stop(loader)
    assert len(set(addresses)) == 2
    assert all(r.returncode == 0 and f"text: to {a}" in r.stdout
               for r, a in zip(replies, addresses, strict=True))
    assert (before, after) == (0, 1)
    assert [w["address"] for w in now] == addresses  # restarted on the port it had
    assert again.returncode == 0 and "text: back" in again.stdout
    assert code == 0
    assert not any(pid_alive(pid) for pid in seen)
    assert log.read_text().count("stopped") == 2  # both drained on SIGTERM, none was killed


def test_serve_with_two_gateway_processes_shows_worker_restarts_on_the_shared_port(
    tmp_path: Path,
) -> None:
    with serve(tmp_path, [ECHO], "--gateway-processes", "2") as stack:
        info = reread(tmp_path / "ready.json")
        members = [int(p["pid"]) for p in info["processes"]]
        assert call_over_new_connections(stack.base, 20) == [200] * 20
        os.kill(int(stack.workers[0]["pid"]), signal.SIGKILL)
        key = ("athena_supervisor_worker_restarts_total", (("ability", "echo"),))
        eventually(lambda: samples(f"{stack.base}/metrics").get(key) == 1,
                   "the worker restart never showed in the gateway's /metrics")
        eventually(lambda: call_over_new_connections(stack.base, 1) == [200],
                   "calls never succeeded again after the worker restart")
        process = stack.process
    assert process.returncode == 0
    assert len(members) == 2
    assert not any(pid_alive(pid) for pid in members)

"""Every hop's metrics, scraped by a real Prometheus server that this test starts."""
from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, Stack, aiges_body, serve, stop, text_item

PROMETHEUS = shutil.which("prometheus")


def _listening_port(pid: int, timeout: float = 30.0) -> int:
    """The port a process listens on, read from /proc (Prometheus cannot report port 0)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                return int(fields[1].split(":")[1], 16)
        time.sleep(0.1)
    raise RuntimeError("prometheus never listened")


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Stack, str]]:
    if PROMETHEUS is None:
        pytest.fail("prometheus is not installed: `make test` installs it (apt-get)")
    with serve(tmp_path, [ROOT / "wrappers/echo/wrapper.py"], "--workers", "1") as stack:
        targets = [f"127.0.0.1:{stack.http_port}", stack.workers[0]["metrics_address"]]
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: athena\n    static_configs: [{{targets: {targets}}}]\n"
        )
        with (tmp_path / "prometheus.log").open("wb") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}",
                 f"--storage.tsdb.path={tmp_path / 'tsdb'}", "--web.listen-address=127.0.0.1:0"],
                stdout=subprocess.DEVNULL, stderr=log)
        try:
            yield stack, f"http://127.0.0.1:{_listening_port(process.pid)}"
        finally:
            stop(process)


def _query(api: str, expression: str, timeout: float = 60.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(f"{api}/api/v1/query", params={"query": expression}).json()
        except httpx.TransportError:
            reply = {}
        if reply.get("data", {}).get("result"):
            return reply["data"]["result"]
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never had a sample for {expression}")


def test_prometheus_scrapes_every_hop(prometheus: tuple[Stack, str]) -> None:
    stack, api = prometheus
    body = aiges_body("echo", {"text": text_item("metrics please")})
    for _ in range(3):
        assert httpx.post(stack.base + "/v1/private/echo", json=body).status_code == 200
    assert httpx.post(stack.base + "/v1/private/nope", json=body).status_code == 404

    route = '{route="/v1/private/echo",method="POST",code="200"}'
    assert float(_query(api, f"athena_gateway_http_requests_total{route}")[0]["value"][1]) == 3
    assert _query(api, 'athena_gateway_http_requests_total{route="unmatched",code="404"}')
    assert _query(api, "athena_gateway_http_request_duration_seconds_count")
    assert _query(api, "athena_gateway_http_requests_in_flight")
    upstream = _query(api, 'athena_gateway_upstream_requests_total{ability="echo",grpc_code="OK"}')
    assert float(upstream[0]["value"][1]) == 3
    assert _query(api, "athena_gateway_upstream_duration_seconds_bucket")
    assert _query(api, 'athena_gateway_endpoints{ability="echo",state="healthy"} == 1')
    assert _query(api, 'athena_gateway_payload_bytes_total{direction="in"} > 0')
    assert _query(api, 'athena_loader_grpc_requests_total{method="Call",grpc_code="OK"} == 3')
    assert _query(api, "athena_loader_grpc_duration_seconds_count")
    assert _query(api, 'athena_loader_wrapper_calls_total{op="once",code="0"} == 3')
    assert _query(api, 'athena_loader_wrapper_duration_seconds_count{op="once"} == 3')
    assert _query(api, 'athena_loader_wrapper_in_flight{op="once"} == 0')
    assert _query(api, 'athena_loader_payload_bytes_total{direction="out"} > 0')

"""The admin listener (gateway/admin.py, [gateway] admin_port): /metrics and /readyz's details
there, only ready / not ready on the public port; the whole gateway (run_gateway) on port 0."""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import run_gateway
from gateway.settings import GatewaySettings
from tests.inprocess import Worker, running_worker
from tests.support import ABILITIES

FAULTY = str(ABILITIES / "faulty" / "wrapper.py")


@dataclass
class Ports:
    public: str
    admin: str
    ready: dict[str, Any]


@asynccontextmanager
async def gateway_process(worker: Worker, tmp_path: Path, **settings: Any
                          ) -> AsyncIterator[Ports]:
    """run_gateway as `athena gateway` runs it (every port 0), until the block ends."""
    ready_file = tmp_path / "ready.json"
    config = GatewaySettings(workers=(worker.address,), port=0, grpc_port=0,
                             ready_file=ready_file, **settings)
    stop = asyncio.Event()
    task = asyncio.create_task(run_gateway(config, stop))
    try:
        while not ready_file.exists():
            assert not task.done(), task.exception()
            await asyncio.sleep(0.02)
        ready = json.loads(ready_file.read_text())
        yield Ports(f"http://127.0.0.1:{ready['http_port']}",
                    f"http://127.0.0.1:{ready.get('admin_port')}", ready)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


async def get(url: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as client, client.get(url, headers=headers) as response:
        return response.status, await response.text()


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    async with running_worker(FAULTY) as running:
        yield running


async def test_with_an_admin_port_the_public_readyz_says_only_ready_and_metrics_is_not_there(
        worker: Worker, tmp_path: Path) -> None:
    async with gateway_process(worker, tmp_path, admin_port=0) as ports:
        ready = await get(ports.public + "/readyz")
        one = await get(ports.public + "/readyz/faulty")
        public_metrics = await get(ports.public + "/metrics")
        health = await get(ports.public + "/healthz")
        described = json.loads((await get(ports.public + "/openapi.json"))[1])["paths"]
    assert ready == (200, json.dumps({"status": "ready"}))
    # the public port's document lists what the public port serves
    assert "/metrics" not in described and "/readyz/{serviceId}" in described
    assert one[0] == 200 and json.loads(one[1]) == {"ability": "faulty", "status": "ready"}
    assert public_metrics[0] == 404 and json.loads(public_metrics[1])["header"]["code"] == 10404
    assert health[0] == 200
    assert worker.address.rsplit(":", 1)[1] not in ready[1] + one[1] + public_metrics[1]


async def test_the_admin_port_serves_metrics_and_readyz_with_every_workers_address(
        worker: Worker, tmp_path: Path) -> None:
    async with gateway_process(worker, tmp_path, admin_port=0) as ports:
        assert ports.ready["admin_port"] not in (ports.ready["http_port"], 0)
        status, text = await get(ports.admin + "/readyz")
        metrics = await get(ports.admin + "/metrics")
        one = await get(ports.admin + "/readyz/faulty")
        health = await get(ports.admin + "/healthz")
        call = await get(ports.admin + "/v1/private/faulty")
    ready = json.loads(text)
    assert status == 200 and ready["status"] == "ready"
    assert ready["workers"] == [{"worker": 0, "ability": "faulty", "healthy": True,
                                 "outstanding": 0, "address": worker.address}]
    assert ready["abilities"] == {"faulty": {"ready": True}} and ready["conflicts"] == []
    assert metrics[0] == 200 and "athena_gateway_http_requests_total" in metrics[1]
    assert one[0] == 200 and health[0] == 200
    assert call[0] == 404  # abilities are not served on the admin port


async def test_without_an_admin_port_the_public_port_serves_metrics_and_details_as_before(
        worker: Worker, tmp_path: Path) -> None:
    async with gateway_process(worker, tmp_path) as ports:
        metrics = await get(ports.public + "/metrics")
        status, text = await get(ports.public + "/readyz")
        described = json.loads((await get(ports.public + "/openapi.json"))[1])["paths"]
    assert "/metrics" in described
    assert "admin_port" not in ports.ready
    assert metrics[0] == 200 and "athena_gateway_endpoints" in metrics[1]
    ready = json.loads(text)
    assert status == 200 and ready["workers"][0]["healthy"] is True
    assert "address" not in ready["workers"][0]
    assert worker.address.rsplit(":", 1)[1] not in text


async def test_auth_admin_routes_guards_the_admin_port_too(worker: Worker,
                                                           tmp_path: Path) -> None:
    async with gateway_process(worker, tmp_path, admin_port=0, api_keys=("k1",),
                               auth_admin_routes=True) as ports:
        refused = await get(ports.admin + "/metrics")
        allowed = await get(ports.admin + "/metrics", **{"X-Api-Key": "k1"})
        health = await get(ports.admin + "/healthz")
    assert refused[0] == 401 and json.loads(refused[1])["header"]["code"] == 10401
    assert allowed[0] == 200 and health[0] == 200


async def test_without_auth_admin_routes_the_admin_port_needs_no_key(worker: Worker,
                                                                     tmp_path: Path) -> None:
    async with gateway_process(worker, tmp_path, admin_port=0, api_keys=("k1",)) as ports:
        metrics = await get(ports.admin + "/metrics")
        listed = await get(ports.public + "/v1/abilities")
    assert metrics[0] == 200
    assert listed[0] == 200  # /v1/abilities is an admin route for auth: open without the switch


def test_the_admin_listener_is_off_and_bound_to_loopback_by_default() -> None:
    settings = GatewaySettings.load({}, env={"ATHENA_GATEWAY_ADMIN_PORT": "9091"})
    assert (GatewaySettings().admin_port, settings.admin_port) == (None, 9091)
    assert settings.admin_host == "127.0.0.1"
    assert GatewaySettings().expose_wrapper_errors is False

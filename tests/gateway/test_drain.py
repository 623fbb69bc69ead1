"""Draining in-process: the gateway app with its Drain set answers /readyz 503 ("draining")
and still serves calls and /healthz (the signal side is tests/test_drain_e2e.py)."""
from __future__ import annotations

from gateway.drain import DRAIN
from tests.inprocess import running_gateway, running_worker
from tests.support import ROOT, aiges_body, text_item

ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")


async def test_draining_gateway_is_not_ready_but_serves_calls_and_healthz() -> None:
    async with running_worker(ECHO) as worker, running_gateway([worker.address]) as gateway:
        async with gateway.client.get("/readyz") as response:
            assert response.status == 200
        gateway.app[DRAIN].draining = True
        for path in ("/readyz", "/readyz/echo"):
            async with gateway.client.get(path) as response:
                assert (response.status, await response.json()) == (503, {"status": "draining"})
        async with gateway.client.get("/healthz") as response:
            assert response.status == 200  # alive: liveness must not restart a draining pod
        body = aiges_body("echo", {"text": text_item("served")})
        async with gateway.client.post("/v1/private/echo", json=body) as response:
            assert response.status == 200
            assert (await response.json())["payload"]["text"]["text"] == "served"

"""Worker recycling through real processes: `athena serve wrappers/echo --workers 2` with
[loader] max_calls = 20 (ATHENA_LOADER_MAX_CALLS) takes 200 calls while its workers drain and
are replaced one at a time, and loses none; the supervisor counts recycles, not restarts."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

from tests.support import ROOT, aiges_body, serve, text_item

ECHO = ROOT / "wrappers" / "echo" / "wrapper.py"


async def _calls(base: str, count: int, clients: int, pause_s: float) -> list[tuple[int, str]]:
    """`count` calls from `clients` clients, each pausing between calls; (status, text)."""
    results: list[tuple[int, str]] = []
    body = aiges_body("echo", {"text": text_item("hello")})
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        async def one_client(share: int) -> None:
            for _ in range(share):
                async with client.post(base + "/v1/private/echo", json=body) as response:
                    results.append((response.status, await response.text()))
                await asyncio.sleep(pause_s)

        await asyncio.gather(*(one_client(count // clients) for _ in range(clients)))
    return results


def _sample(metrics: str, name: str) -> float:
    found = re.search(rf'^{name}{{ability="echo"}} (\S+)$', metrics, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found[1])


def test_workers_recycled_at_max_calls_lose_no_call(tmp_path: Path) -> None:
    with serve(tmp_path, [ECHO], "--workers", "2",
               env={"ATHENA_LOADER_MAX_CALLS": "20"}) as stack:
        results = asyncio.run(_calls(stack.base, 200, clients=4, pause_s=0.25))
        failed = [r for r in results if r[0] != 200]
        metrics = asyncio.run(_get(stack.base + "/metrics"))
    assert len(results) == 200 and not failed, failed[:3]
    assert _sample(metrics, "athena_supervisor_worker_recycles_total") >= 2
    assert _sample(metrics, "athena_supervisor_worker_restarts_total") == 0
    log = stack.log_text()
    assert "drained at its recycling limit; replacing it" in log
    assert "max_calls = 20" in log


async def _get(url: str) -> str:
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        return await response.text()

"""Ability identity (gateway/identity.py): one ability per service id and route, never mixed."""
from __future__ import annotations

import aiohttp

from gateway.admin import start_admin
from gateway.identity import claims_of
from loader.v1 import loader_pb2
from tests.inprocess import running_gateway, running_worker, wrapper_calls
from tests.support import ABILITIES, aiges_body, text_item


def ability(service_id: str, fingerprint: str, route: str | None = None,
            wrapper: str = "") -> loader_pb2.Ability:
    return loader_pb2.Ability(service_id=service_id, fingerprint=fingerprint,
                              route=route or f"/v1/private/{service_id}", wrapper=wrapper)


def test_workers_of_one_wrapper_are_one_ability() -> None:
    claims = claims_of([ability("echo", "f1"), None, ability("echo", "f1")])
    assert list(claims.by_service) == ["echo"] and not claims.refused and not claims.conflicts


def test_a_different_wrapper_under_a_taken_service_id_is_refused_and_both_are_named() -> None:
    claims = claims_of([ability("mmocr", "f1", wrapper="a/wrapper.py"),
                        ability("mmocr", "f2", wrapper="b/wrapper.py"),
                        ability("mmocr", "f1", wrapper="a/wrapper.py")])
    assert claims.refused == {1}
    (conflict,) = claims.conflicts
    assert "'mmocr'" in conflict and "a/wrapper.py" in conflict and "b/wrapper.py" in conflict
    assert "service_id" in conflict and "[loader]" in conflict


def test_a_second_ability_on_a_taken_route_is_refused_naming_the_route_setting() -> None:
    claims = claims_of([ability("one", "f1", "/v1/private/x"), ability("two", "f2",
                                                                       "/v1/private/x")])
    assert list(claims.by_service) == ["one"] and claims.refused == {1}
    assert "/v1/private/x" in claims.conflicts[0] and "route" in claims.conflicts[0]


async def test_a_gateway_never_mixes_two_wrappers_behind_one_ability() -> None:
    """The gateway over a worker of each template-style wrapper: every call goes to the first;
    the public /readyz counts the conflict, the admin listener's names both wrappers."""
    first, second = (str(ABILITIES / f"template_{n}" / "wrapper.py") for n in "ab")
    async with running_worker(first) as a, running_worker(second) as b, \
            running_gateway([a.address, b.address]) as gateway:
        body = aiges_body("mmocr", {"text": text_item("x")})
        for _ in range(6):
            async with gateway.client.post("/backup.0/private/mmocr", json=body) as response:
                assert (await response.json())["payload"]["result"]["text"] == "template a"
        async with gateway.client.get("/readyz") as response:
            assert (await response.json())["conflicts"] == 1  # the sentences name files
        runner, port = await start_admin(gateway.app, "127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as client, \
                    client.get(f"http://127.0.0.1:{port}/readyz") as response:
                (conflict,) = (await response.json())["conflicts"]
        finally:
            await runner.cleanup()
    assert first in conflict and second in conflict
    assert wrapper_calls(b) == 0

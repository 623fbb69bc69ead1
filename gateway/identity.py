"""Ability identity: which workers serve one ability, and which claims the gateway refuses.

Workers are one ability when they agree on its service id and their Describe fingerprints (a
digest of the wrapper's source and [wrapper] config) match. The first ability to claim a
service id or a route keeps it; a worker whose wrapper differs, or an ability whose route is
taken, is refused: never mixed in, named in the log and in /readyz. (The official template
hard-codes `serviceId = "mmocr"`: two such wrappers would otherwise alternate on one route.)
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from loader.v1 import loader_pb2

__all__ = ["Claims", "claims_of"]

_RENAME = ("give one of them its own id: `service_id = \"...\"` under [loader] in its "
           "aiges.toml (or --service-id for athena loader)")
_REROUTE = ("give one of them its own route: `route = \"...\"` under [loader] in its "
            "aiges.toml (or --route for athena loader)")


@dataclass
class Claims:
    """The outcome of indexing every worker's ability, in the order the workers were given."""

    by_service: dict[str, loader_pb2.Ability] = field(default_factory=dict)
    by_route: dict[str, loader_pb2.Ability] = field(default_factory=dict)
    refused: set[int] = field(default_factory=set)  # indexes of workers not to use
    conflicts: list[str] = field(default_factory=list)  # one sentence each, for people


def claims_of(abilities: Iterable[loader_pb2.Ability | None]) -> Claims:
    claims = Claims()
    for index, ability in enumerate(abilities):
        if ability is None:
            continue
        held = claims.by_service.get(ability.service_id)
        if held is not None:
            if held.fingerprint != ability.fingerprint:
                claims.refused.add(index)
                _note(claims, f"two different wrappers claim service id "
                              f"{ability.service_id!r}: {_named(held)} and {_named(ability)}; "
                              f"{_RENAME}")
            continue
        taken = claims.by_route.get(ability.route)
        if taken is not None:
            claims.refused.add(index)
            _note(claims, f"abilities {taken.service_id!r} ({_named(taken)}) and "
                          f"{ability.service_id!r} ({_named(ability)}) claim one route "
                          f"{ability.route}; {_REROUTE}")
            continue
        claims.by_service[ability.service_id] = ability
        claims.by_route[ability.route] = ability
    return claims


def _named(ability: loader_pb2.Ability) -> str:
    return ability.wrapper or f"a wrapper with fingerprint {ability.fingerprint or '?'}"


def _note(claims: Claims, sentence: str) -> None:
    if sentence not in claims.conflicts:
        claims.conflicts.append(sentence)

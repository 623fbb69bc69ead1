"""The run: every family in turn, every cell of each, the whole matrix repeated (A B C A B C)
so that whatever drifts on the machine drifts for every target alike."""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.bodies import Bodies
from bench.load import Load, run_load
from bench.targets import Family, Target
from bench.verify import verify

__all__ = ["Cell", "Plan", "run_matrix"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    sizes: Sequence[int]
    concurrencies: Sequence[int]
    warmup_s: float
    duration_s: float
    rounds: int


@dataclass
class Cell:
    """All rounds of one target at one payload size and concurrency."""

    target: str
    protocol: str
    ours: bool
    size: int
    concurrency: int
    rps_by_round: list[float] = field(default_factory=list)
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    latencies_us: list[int] = field(default_factory=list)


def _measure(family: Family, target: Target, body: Path, concurrency: int,
             plan: Plan, cell: Cell) -> None:
    load = Load(target.url, body, target.headers, target.protocol == "gRPC", concurrency)
    sample = run_load(load, plan.warmup_s, plan.duration_s, family.cpu_seconds)
    cell.cpu_s += sample.cpu_s
    cell.rps_by_round.append(sample.rps)
    cell.ok += sample.ok
    cell.failed += sample.failed
    cell.seconds += sample.seconds
    cell.latencies_us.extend(sample.latencies_us)


def run_matrix(families: Sequence[Family], bodies: dict[int, Bodies], plan: Plan,
               workdir: Path, cells_of: dict[str, Sequence[tuple[int, int]]] | None = None,
               ) -> list[Cell]:
    """`cells_of` narrows a family to some (size, concurrency) pairs; default: all."""
    cells: dict[tuple[str, int, int], Cell] = {}
    for round_number in range(1, plan.rounds + 1):
        for family in families:
            log.info("round %d/%d: starting %s", round_number, plan.rounds, family.name)
            family.start(workdir)
            try:
                log.info("%s ready in %.1f s", family.name, family.startup_s)
                pairs = (cells_of or {}).get(family.name) or [
                    (size, c) for size in plan.sizes for c in plan.concurrencies]
                for target in family.targets:
                    if cells_of and family.name in cells_of and target.protocol != "REST":
                        continue  # the scaling families are measured over REST only
                    _run_target(family, target, pairs, bodies, plan, round_number, cells)
            finally:
                family.stop()
    return list(cells.values())


def _run_target(family: Family, target: Target, pairs: Sequence[tuple[int, int]],
                bodies: dict[int, Bodies], plan: Plan, round_number: int,
                cells: dict[tuple[str, int, int], Cell]) -> None:
    checked: set[int] = set()
    for size, concurrency in pairs:
        if round_number == 1 and size not in checked:
            verify(target, bodies[size])
            checked.add(size)
        cell = cells.setdefault(
            (target.name, size, concurrency),
            Cell(target.name, target.protocol, target.ours, size, concurrency))
        started = time.monotonic()
        _measure(family, target, target.body(bodies[size]), concurrency, plan, cell)
        log.info("  %-22s %9d B c=%-2d %8.1f req/s (%.1f s)", target.name, size, concurrency,
                 cell.rps_by_round[-1], time.monotonic() - started)

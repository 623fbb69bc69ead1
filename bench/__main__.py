"""`make bench`: ours, the raw stack, Triton, PyTriton and MLServer side by side, one run.

    python -m bench                      # the full matrix (about 11 minutes)
    python -m bench --quick --peers      # one round of short windows, no peers: a smoke run
    python -m bench --peers triton       # only some peers
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import copies, report
from bench.bodies import write_bodies
from bench.matrix import Plan, run_matrix
from bench.targets import ROOT, families, scaling_families

log = logging.getLogger("bench")

SIZES = (16, 1 << 20, 16 << 20)
CONCURRENCIES = (1, 16)
PEERS = ("triton", "pytriton", "mlserver")
SCALING_CELL = (16, 16)  # 16-byte payload, 16 concurrent requests


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="times the matrix is repeated")
    parser.add_argument("--duration", type=float, default=2.5, help="seconds timed per cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds discarded per cell")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS)
    parser.add_argument("--sizes", nargs="*", type=int, default=list(SIZES),
                        help="payload sizes in bytes")
    parser.add_argument("--no-audit", action="store_true", help="skip the copy audit")
    parser.add_argument("--no-scaling", action="store_true", help="skip 2 workers vs 1")
    parser.add_argument("--quick", action="store_true",
                        help="one round of 1 s windows")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 1.0, 0.5
    return args


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = _arguments()
    started = time.monotonic()
    plan = Plan(tuple(args.sizes), CONCURRENCIES, args.warmup, args.duration, args.rounds)
    with tempfile.TemporaryDirectory(prefix="athena-bench-") as tmp:
        workdir = Path(tmp)
        bodies = {size: write_bodies(workdir, size) for size in {*args.sizes, SCALING_CELL[0]}}
        cells = run_matrix(families(args.peers), bodies, plan, workdir)
        scaling_cells = [] if args.no_scaling else run_matrix(
            scaling_families(), bodies, plan, workdir,
            cells_of={f.name: [SCALING_CELL] for f in scaling_families()})
        cases = [] if args.no_audit else copies.audit(workdir)
    rows = {(c.target, c.size, c.concurrency): report.summary(c) for c in cells}
    found = report.ratios(rows)
    scale = {c.target: report.summary(c) for c in scaling_cells}
    scaling = (scale["spin x2 REST"]["rps"] / scale["spin x1 REST"]["rps"]
               if scale.get("spin x1 REST", {}).get("rps") else None)
    audit_ok = _audit_ok(cases) if cases else None
    verdicts = report.verdicts(found, scaling, audit_ok)
    elapsed = time.monotonic() - started
    text = _document(rows, found, scale, scaling, cases, verdicts, plan, elapsed)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(text)
    (args.out / "latest.json").write_text(json.dumps({
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(), "plan": plan.__dict__, "seconds": round(elapsed),
        "cells": list(rows.values()), "ratios": found, "scaling": scale,
        "scaling_ratio": scaling, "copy_audit": copies.as_json(cases),
        "targets": [{"target": t, "met": met, "figures": f} for t, met, f in verdicts],
    }, indent=1, default=str))
    log.info("wrote %s and %s in %.0f s", args.out / "latest.md", args.out / "latest.json",
             elapsed)
    return 0


def _audit_ok(cases: list[copies.Case]) -> bool:
    """Our own copies: base64 and grpcio's transport copies are reported, not held against us."""
    return all(sum(found.values()) <= 1 for case in cases for found in case.copies.values())


def _document(rows: dict[Any, dict[str, Any]], found: list[dict[str, Any]],
              scale: dict[str, dict[str, Any]], scaling: float | None,
              cases: list[copies.Case], verdicts: list[tuple[str, bool | None, str]],
              plan: Plan, elapsed: float) -> str:
    machine = report.machine()
    lines = [
        f"### Benchmark, {datetime.now(UTC):%Y-%m-%d}",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"Linux {machine['kernel']}, Python {machine['python']}; load client h2load on the "
        f"same cores. {plan.rounds} interleaved rounds, {plan.warmup_s:g} s warm-up discarded "
        f"and {plan.duration_s:g} s timed per cell; whole run {elapsed / 60:.1f} min.",
        "",
        report.markdown(rows, plan.sizes, plan.concurrencies, found),
    ]
    if scaling is not None:
        one, two = scale["spin x1 REST"], scale["spin x2 REST"]
        lines += ["#### Scaling: CPU-bound wrapper (about 20 ms of Python per call), "
                  "REST, 16 B, c=16", "",
                  "| workers | req/s | p50 ms | p99 ms |", "|---|---|---|---|",
                  f"| 1 | {one['rps']:.1f} | {one['p50_ms']:.1f} | {one['p99_ms']:.1f} |",
                  f"| 2 | {two['rps']:.1f} | {two['p50_ms']:.1f} | {two['p99_ms']:.1f} |",
                  "", f"2 workers / 1: **{scaling:.2f}x**", ""]
    if cases:
        lines.append(copies.audit_markdown(cases))
    lines += ["#### Targets", "", "| target | met | figures |", "|---|---|---|"]
    for name, met, figures in verdicts:
        mark = {True: "yes", False: "**no**", None: "not measured"}[met]
        lines.append(f"| {name} | {mark} | {figures} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

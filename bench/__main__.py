"""`make bench`: ours, the raw stack, Triton, PyTriton and MLServer side by side, one run.

    python -m bench                      # the full matrix (about 11 minutes)
    python -m bench --quick --peers      # one round of short windows, no peers: a smoke run
    python -m bench --peers triton       # only some peers
    python -m bench --sessions-only --quick   # only the WebSocket session benchmark
    python -m bench --gateway-processes-only --quick   # only 1 vs 2 gateway processes
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

from bench import copies, report, sessions
from bench import gateway_processes as gateway_group
from bench.bodies import write_bodies
from bench.matrix import Plan, run_matrix
from bench.targets import ROOT, families, scaling_families

log = logging.getLogger("bench")

SIZES = (16, 1 << 20, 16 << 20)
CONCURRENCIES = (1, 16)
PEERS = ("triton", "pytriton", "mlserver")
SCALING_CELL = (16, 16)  # 16-byte payload, 16 concurrent requests
SESSION_COUNTS = (1, 16, 64)  # concurrent WebSocket sessions
_SESSIONS_BEGIN, _SESSIONS_END = "<!-- sessions -->", "<!-- /sessions -->"


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
    parser.add_argument("--sessions", nargs="*", type=int, default=list(SESSION_COUNTS),
                        metavar="N", help="concurrent WebSocket sessions measured")
    parser.add_argument("--sessions-only", action="store_true",
                        help="only the session benchmark (merged into an existing latest.*)")
    parser.add_argument("--no-sessions", action="store_true",
                        help="skip the session benchmark")
    parser.add_argument("--gateway-processes-only", action="store_true",
                        dest="gateway_processes_only",
                        help="only 1 vs 2 gateway processes (merged into an existing latest.*)")
    parser.add_argument("--no-gateway-processes", action="store_true",
                        dest="no_gateway_processes", help="skip 1 vs 2 gateway processes")
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
    if args.sessions_only:
        return _sessions_only(args)
    if args.gateway_processes_only:
        return _gateway_processes_only(args)
    started = time.monotonic()
    session_plan = sessions.SessionPlan(tuple(args.sessions), args.warmup, args.duration,
                                        args.rounds)
    plan = Plan(tuple(args.sizes), CONCURRENCIES, args.warmup, args.duration, args.rounds)
    with tempfile.TemporaryDirectory(prefix="athena-bench-") as tmp:
        workdir = Path(tmp)
        bodies = {size: write_bodies(workdir, size) for size in
                  {*args.sizes, SCALING_CELL[0], *(s for s, _ in gateway_group.CELLS)}}
        cells = run_matrix(families(args.peers), bodies, plan, workdir)
        scaling_cells = [] if args.no_scaling else run_matrix(
            scaling_families(), bodies, plan, workdir,
            cells_of={f.name: [SCALING_CELL] for f in scaling_families()})
        cases = [] if args.no_audit else copies.audit(workdir)
        session_cells = ([] if args.no_sessions or not args.sessions
                         else sessions.run_sessions(session_plan, workdir))
        group_rows = ({} if args.no_gateway_processes
                      else gateway_group.measure(bodies, plan, workdir))
    rows = {(c.target, c.size, c.concurrency): report.summary(c) for c in cells}
    found = report.ratios(rows)
    scale = {c.target: report.summary(c) for c in scaling_cells}
    scaling = (scale["spin x2 REST"]["rps"] / scale["spin x1 REST"]["rps"]
               if scale.get("spin x1 REST", {}).get("rps") else None)
    audit_ok = _audit_ok(cases) if cases else None
    verdicts = report.verdicts(found, scaling, audit_ok)
    session_rows = {(c.target, c.sessions): report.session_summary(c) for c in session_cells}
    session_found = report.session_ratios(session_rows)
    if session_cells:
        verdicts.append(report.session_verdict(session_found))
    elapsed = time.monotonic() - started
    text = _document(rows, found, scale, scaling, cases, verdicts, plan, elapsed,
                     _session_section(session_rows, session_found) if session_cells else "",
                     gateway_group.markdown(group_rows) if group_rows else "")
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(text)
    (args.out / "latest.json").write_text(json.dumps({
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(), "plan": plan.__dict__, "seconds": round(elapsed),
        "cells": list(rows.values()), "ratios": found, "scaling": scale,
        "scaling_ratio": scaling, "copy_audit": copies.as_json(cases),
        "sessions": _session_json(session_rows, session_found, session_plan)
        if session_cells else None,
        "gateway_processes": list(group_rows.values()) or None,
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
              plan: Plan, elapsed: float, session_section: str = "",
              group_section: str = "") -> str:
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
    if session_section:
        lines.append(session_section)
    if group_section:
        lines.append(group_section)
    lines += ["#### Targets", "", "| target | met | figures |", "|---|---|---|"]
    for name, met, figures in verdicts:
        mark = {True: "yes", False: "**no**", None: "not measured"}[met]
        lines.append(f"| {name} | {mark} | {figures} |")
    lines.append("")
    return "\n".join(lines)


def _session_section(rows: dict[Any, dict[str, Any]], found: list[dict[str, Any]]) -> str:
    """Between markers, so that a later `--sessions-only` run can replace it in latest.md."""
    table = report.session_markdown(rows, found, sessions.FRAME_BYTES,
                                    sessions.FRAMES_PER_SESSION)
    return f"{_SESSIONS_BEGIN}\n{table}{_SESSIONS_END}\n"


def _session_json(rows: dict[Any, dict[str, Any]], found: list[dict[str, Any]],
                  plan: sessions.SessionPlan) -> dict[str, Any]:
    return {"when": datetime.now(UTC).isoformat(timespec="seconds"), "plan": plan.__dict__,
            "frame_bytes": sessions.FRAME_BYTES,
            "frames_per_session": sessions.FRAMES_PER_SESSION,
            "cells": list(rows.values()), "ratios": found}


def _sessions_only(args: argparse.Namespace) -> int:
    """The session benchmark alone. Its section and its target replace theirs in an existing
    latest.md / latest.json (the rest of a full run's results stay); else they are written
    as a document of their own."""
    started = time.monotonic()
    plan = sessions.SessionPlan(tuple(args.sessions), args.warmup, args.duration, args.rounds)
    with tempfile.TemporaryDirectory(prefix="athena-bench-") as tmp:
        cells = sessions.run_sessions(plan, Path(tmp))
    rows = {(c.target, c.sessions): report.session_summary(c) for c in cells}
    found = report.session_ratios(rows)
    verdict = report.session_verdict(found)
    section = _session_section(rows, found)
    elapsed = time.monotonic() - started
    machine = report.machine()
    print("\n".join([
        f"### Session benchmark, {datetime.now(UTC):%Y-%m-%d}", "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores; load client (aiohttp) in its "
        f"own process on the same cores. {plan.rounds} interleaved rounds, "
        f"{plan.warmup_s:g} s warm-up discarded and {plan.duration_s:g} s timed per cell; "
        f"{elapsed:.0f} s.", "", section]))
    args.out.mkdir(parents=True, exist_ok=True)
    md, js = args.out / "latest.md", args.out / "latest.json"
    mark = {True: "yes", False: "**no**", None: "not measured"}[verdict[1]]
    row = f"| {verdict[0]} | {mark} | {verdict[2]} |"
    text = md.read_text() if md.exists() else ""
    if _SESSIONS_BEGIN in text and _SESSIONS_END in text:
        head, rest = text.split(_SESSIONS_BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(_SESSIONS_END, 1)[1]
    elif "#### Targets" in text:
        text = text.replace("#### Targets", section + "\n#### Targets", 1)
    else:
        text = (f"### Session benchmark, {datetime.now(UTC):%Y-%m-%d}\n\n{section}\n"
                "#### Targets\n\n| target | met | figures |\n|---|---|---|\n")
    lines = [line for line in text.splitlines() if not line.startswith("| sessions:")]
    if "| target | met | figures |" in lines:
        at = lines.index("| target | met | figures |") + 2
        while at < len(lines) and lines[at].startswith("| "):
            at += 1
        lines.insert(at, row)
    md.write_text("\n".join(lines) + "\n")
    document = json.loads(js.read_text()) if js.exists() else {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine,
        "targets": []}
    document["sessions"] = _session_json(rows, found, plan)
    document["targets"] = [t for t in document.get("targets", [])
                           if not str(t.get("target", "")).startswith("sessions:")]
    document["targets"].append({"target": verdict[0], "met": verdict[1],
                                "figures": verdict[2]})
    js.write_text(json.dumps(document, indent=1, default=str))
    log.info("wrote the sessions into %s and %s in %.0f s", md, js, elapsed)
    return 0


def _gateway_processes_only(args: argparse.Namespace) -> int:
    """1 vs 2 gateway processes alone, merged into an existing latest.md / latest.json."""
    started = time.monotonic()
    plan = Plan(tuple(s for s, _ in gateway_group.CELLS), (gateway_group.CONCURRENCY,),
                args.warmup, args.duration, args.rounds)
    with tempfile.TemporaryDirectory(prefix="athena-bench-") as tmp:
        workdir = Path(tmp)
        bodies = {size: write_bodies(workdir, size) for size in plan.sizes}
        rows = gateway_group.measure(bodies, plan, workdir)
    section = gateway_group.markdown(rows)
    elapsed = time.monotonic() - started
    machine = report.machine()
    print(f"### Gateway processes, {datetime.now(UTC):%Y-%m-%d}\n\nMachine: {machine['cpu']}, "
          f"{machine['cores']} cores; load client h2load on the same cores. {plan.rounds} "
          f"interleaved rounds, {plan.warmup_s:g} s warm-up and {plan.duration_s:g} s timed "
          f"per cell; {elapsed:.0f} s.\n\n{section}")
    args.out.mkdir(parents=True, exist_ok=True)
    md, js = args.out / "latest.md", args.out / "latest.json"
    md.write_text(gateway_group.merge(md.read_text() if md.exists() else "", section))
    document = json.loads(js.read_text()) if js.exists() else {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine}
    document["gateway_processes"] = list(rows.values())
    js.write_text(json.dumps(document, indent=1, default=str))
    log.info("wrote the gateway processes into %s and %s in %.0f s", md, js, elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Figures out of cells: the Markdown tables, the ratios, the verdict on each target, the JSON."""
from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.matrix import Cell
from bench.sessions import SessionCell

__all__ = ["COMPARED", "machine", "markdown", "session_markdown", "session_ratios",
           "session_summary", "session_verdict", "summary"]

# ours -> the peers each of our targets is held against, same protocol
COMPARED = {
    "athena REST": ("raw REST", "Triton REST", "PyTriton REST", "MLServer REST"),
    "athena gRPC": ("raw gRPC proxy", "Triton gRPC", "PyTriton gRPC", "MLServer gRPC"),
    "athena gRPC worker": ("raw gRPC echo", "Triton gRPC", "PyTriton gRPC", "MLServer gRPC"),
}
_RAW = {"athena REST": "raw REST", "athena gRPC": "raw gRPC proxy",
        "athena gRPC worker": "raw gRPC echo"}
_PEER_FAMILIES = ("Triton", "PyTriton", "MLServer")


def size_label(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size} B"


def _percentile(values: Sequence[int], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0  # µs -> ms


def summary(cell: Cell) -> dict[str, Any]:
    return {
        "target": cell.target, "protocol": cell.protocol, "size": cell.size,
        "concurrency": cell.concurrency,
        "rps": cell.ok / cell.seconds if cell.seconds else 0.0,
        "rps_by_round": [round(r, 2) for r in cell.rps_by_round],
        "p50_ms": _percentile(cell.latencies_us, 0.50),
        "p99_ms": _percentile(cell.latencies_us, 0.99),
        "cpu_ms_per_request": 1000 * cell.cpu_s / cell.ok if cell.ok else float("nan"),
        "requests": cell.ok, "failed": cell.failed,
    }


def ratios(rows: dict[tuple[str, int, int], dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for (target, size, c), row in rows.items():
        for peer in COMPARED.get(target, ()):
            other = rows.get((peer, size, c))
            if other and other["rps"]:
                found.append({"ours": target, "peer": peer, "size": size, "concurrency": c,
                              "ratio": row["rps"] / other["rps"]})
    return found


def verdicts(found: list[dict[str, Any]], scaling: float | None,
             audit_ok: bool | None) -> list[tuple[str, bool | None, str]]:
    """(target, met?, the figures behind it) for each target the issue sets."""
    def pick(ours: str, peer_prefix: str, sizes: Sequence[int], cs: Sequence[int] = (1, 16)):
        return [r for r in found if r["ours"] == ours and r["peer"].startswith(peer_prefix)
                and r["size"] in sizes and r["concurrency"] in cs]

    out: list[tuple[str, bool | None, str]] = []
    big = (1 << 20, 16 << 20)
    for ours in ("athena REST", "athena gRPC"):
        rows = [r for p in _PEER_FAMILIES for r in pick(ours, p, big)]
        out.append((f"{ours}, 1 MiB and 16 MiB: faster than Triton, PyTriton and MLServer",
                    bool(rows) and all(r["ratio"] > 1 for r in rows) if rows else None,
                    _worst(rows)))
    ml = pick("athena REST", "MLServer", (16,), (16,))
    out.append(("16 B REST c=16: at least 2x MLServer",
                ml[0]["ratio"] >= 2 if ml else None, _worst(ml)))
    py = pick("athena REST", "PyTriton", (16,), (16,))
    out.append(("16 B REST c=16: ahead of PyTriton", py[0]["ratio"] > 1 if py else None,
                _worst(py)))
    for ours, what in (("athena REST", "REST / the raw stack (aiohttp -> grpc.aio echo)"),
                       ("athena gRPC", "gateway gRPC / a bare grpc.aio proxy"),
                       ("athena gRPC worker", "worker gRPC / a bare grpc.aio echo")):
        raw = [r for r in found if r["ours"] == ours and r["peer"] == _RAW[ours]]
        out.append((f"ours {what}: >= 0.85 on every cell",
                    all(r["ratio"] >= 0.85 for r in raw) if raw else None, _worst(raw)))
    out.append(("2 workers vs 1, CPU-bound wrapper: >= 1.7x",
                scaling >= 1.7 if scaling is not None else None,
                f"{scaling:.2f}x" if scaling is not None else "not run"))
    out.append(("copy audit: <= 1 payload copy per process per direction beyond base64",
                audit_ok, "see the copy audit"))
    return out


def _worst(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "not measured"
    worst = min(rows, key=lambda r: r["ratio"])
    return (f"lowest {worst['ratio']:.2f}x vs {worst['peer']} at "
            f"{size_label(worst['size'])} c={worst['concurrency']}")


def _fmt(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:,.{digits}f}"  # NaN -> dash


def markdown(rows: dict[tuple[str, int, int], dict[str, Any]], sizes: Sequence[int],
             concurrencies: Sequence[int], found: list[dict[str, Any]]) -> str:
    targets = list(dict.fromkeys(target for target, _, _ in rows))
    lines = []
    for size in sizes:
        lines += [f"#### {size_label(size)} payload", ""]
        head = ["target"]
        for c in concurrencies:
            head += [f"c={c} req/s", "p50 ms", "p99 ms", "CPU ms/req"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for target in targets:
            cells = [rows.get((target, size, c)) for c in concurrencies]
            if not any(cells):
                continue
            line = [f"**{target}**" if target.startswith("athena") else target]
            for row in cells:
                line += ([_fmt(row["rps"]), _fmt(row["p50_ms"], 2), _fmt(row["p99_ms"], 2),
                          _fmt(row["cpu_ms_per_request"], 2)] if row else ["–"] * 4)
            lines.append("| " + " | ".join(line) + " |")
        lines.append("")
    pairs = list(dict.fromkeys((r["ours"], r["peer"]) for r in found))
    columns = [(s, c) for s in sizes for c in concurrencies]
    if pairs:
        lines += ["#### Ours / peer, requests per second (above 1: ours is faster)", ""]
        head = ["ours / peer"] + [f"{size_label(s)} c={c}" for s, c in columns]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        by_key = {(r["ours"], r["peer"], r["size"], r["concurrency"]): r["ratio"] for r in found}
        for ours, peer in pairs:
            values = [by_key.get((ours, peer, s, c)) for s, c in columns]
            lines.append(f"| {ours} / {peer} | " + " | ".join(
                "–" if v is None else f"{v:.2f}" for v in values) + " |")
        lines.append("")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(int(memory) / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version()}


# ------------------------------------------------------------------ the session benchmark

SESSION_OURS, SESSION_RAW = "athena WS", "raw WS"
SESSION_TARGET = 0.85


def session_summary(cell: SessionCell) -> dict[str, Any]:
    return {
        "target": cell.target, "sessions": cell.sessions,
        "fps": cell.frames / cell.seconds if cell.seconds else 0.0,
        "fps_by_round": [round(r, 1) for r in cell.fps_by_round],
        "p50_ms": _percentile(cell.latencies_us, 0.50),
        "p99_ms": _percentile(cell.latencies_us, 0.99),
        "cpu_ms_per_frame": 1000 * cell.cpu_s / cell.frames if cell.frames else float("nan"),
        "frames": cell.frames, "sessions_completed": cell.completed, "failed": cell.errors,
    }


def session_ratios(rows: dict[tuple[str, int], dict[str, Any]]) -> list[dict[str, Any]]:
    """Ours / the raw stack in frames per second, at each number of sessions."""
    found = []
    for (target, n), row in rows.items():
        other = rows.get((SESSION_RAW, n))
        if target == SESSION_OURS and other and other["fps"]:
            found.append({"ours": target, "peer": SESSION_RAW, "sessions": n,
                          "ratio": row["fps"] / other["fps"]})
    return found


def session_verdict(found: list[dict[str, Any]]) -> tuple[str, bool | None, str]:
    name = (f"sessions: ours WebSocket / the raw stack (aiohttp WS -> grpc.aio bidi echo): "
            f">= {SESSION_TARGET} at every N")
    if not found:
        return name, None, "not measured"
    worst = min(found, key=lambda r: r["ratio"])
    return (name, all(r["ratio"] >= SESSION_TARGET for r in found),
            f"lowest {worst['ratio']:.2f}x at N={worst['sessions']}")


def session_markdown(rows: dict[tuple[str, int], dict[str, Any]],
                     found: list[dict[str, Any]], frame_bytes: int,
                     frames_per_session: int) -> str:
    """Ours and the raw stack side by side, one line per number of concurrent sessions."""
    ratio = {r["sessions"]: r["ratio"] for r in found}
    lines = [
        f"#### Sessions: WebSocket, {frame_bytes} B audio frames (20 ms), one in flight per "
        f"session, {frames_per_session} frames a session", "",
        "| N sessions | **ours** frames/s | p50 ms | p99 ms | CPU ms/frame "
        "| raw frames/s | p50 ms | p99 ms | CPU ms/frame | ours / raw |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sorted({n for _, n in rows}):
        line = [str(n)]
        for target in (SESSION_OURS, SESSION_RAW):
            row = rows.get((target, n))
            line += ([_fmt(row["fps"]), _fmt(row["p50_ms"], 2), _fmt(row["p99_ms"], 2),
                      _fmt(row["cpu_ms_per_frame"], 3)] if row else ["–"] * 4)
        line.append(f"**{ratio[n]:.2f}**" if n in ratio else "–")
        lines.append("| " + " | ".join(line) + " |")
    failed = sum(row["failed"] for row in rows.values())
    if failed:
        lines += ["", f"{failed} sessions failed (see the run's log)."]
    name, met, figures = session_verdict(found)
    mark = {True: "met", False: "**not met**", None: "not measured"}[met]
    lines += ["", f"Target ours / raw >= {SESSION_TARGET} at every N: {mark} ({figures}).", ""]
    return "\n".join(lines)

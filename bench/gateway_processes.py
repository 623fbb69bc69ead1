"""The multi-process gateway cell: REST throughput through 1 and 2 gateway processes sharing
one port (`athena serve --gateway-processes N`), 16 B and 1 MiB, side by side."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.bodies import Bodies
from bench.matrix import Plan, run_matrix
from bench.report import size_label, summary
from bench.targets import gateway_process_families

__all__ = ["BEGIN", "CELLS", "END", "markdown", "measure", "merge"]

CONCURRENCY = 16  # h2load connections: the kernel spreads connections over the members
CELLS = ((16, CONCURRENCY), (1 << 20, CONCURRENCY))
BEGIN, END = "<!-- gateway-processes -->", "<!-- /gateway-processes -->"

Rows = dict[tuple[str, int], dict[str, Any]]


def measure(bodies: Mapping[int, Bodies], plan: Plan, workdir: Path) -> Rows:
    families = gateway_process_families()
    cells = run_matrix(families, dict(bodies), plan, workdir,
                       cells_of={f.name: list(CELLS) for f in families})
    return {(c.target, c.size): summary(c) for c in cells}


def markdown(rows: Rows) -> str:
    """Between markers, so that a later `--gateway-processes-only` run can replace it."""
    lines = [BEGIN, f"#### Gateway processes: echo, 1 worker, REST, c={CONCURRENCY} "
             "(`athena serve --gateway-processes N`, one shared port)", "",
             "| payload | 1 process req/s | 2 processes req/s | 2 / 1 | p50 ms (1 / 2) "
             "| p99 ms (1 / 2) |", "|---|---|---|---|---|---|"]
    for size, _ in CELLS:
        one, two = rows.get(("gateway x1 REST", size)), rows.get(("gateway x2 REST", size))
        if not one or not two:
            continue
        ratio = f"{two['rps'] / one['rps']:.2f}x" if one["rps"] else "-"
        lines.append(f"| {size_label(size)} | {one['rps']:.1f} | {two['rps']:.1f} | {ratio} "
                     f"| {one['p50_ms']:.2f} / {two['p50_ms']:.2f} "
                     f"| {one['p99_ms']:.2f} / {two['p99_ms']:.2f} |")
    lines += ["", "Both gateway processes, the worker and the load client (h2load) share "
              "this machine's cores, so a second gateway process can only take CPU the "
              "others leave idle.", END, ""]
    return "\n".join(lines)


def merge(text: str, section: str) -> str:
    """`section` in place of an earlier one, else before the targets, else appended."""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + section.rstrip("\n") + rest.split(END, 1)[1]
    if "#### Targets" in text:
        return text.replace("#### Targets", section + "\n#### Targets", 1)
    return text + ("\n" if text else "") + section

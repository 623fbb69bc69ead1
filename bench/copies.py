"""The copy audit: how many times each process copies a 64 MiB payload, per direction, and
how much memory it peaks at, with the library that made each copy.

The stack runs under an LD_PRELOAD library (copyaudit/memcopies.c) counting memcpy/memmove
bytes per calling library; SIGUSR2 snapshots the counters before and after one request.
Payload-sized traffic divided by the payload size is the number of copies.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from bench.procs import Server, free_port, tree_peak_rss
from bench.targets import ATHENA, ROOT
from loader.v1 import loader_pb2
from loader.v1.wire import message_options

__all__ = ["audit", "audit_markdown"]

SIZE = 64 << 20
_SOURCE = ROOT / "bench" / "copyaudit" / "memcopies.c"
_WRAPPER = ROOT / "bench" / "abilities" / "oneway" / "wrapper.py"
_OPTIONS = message_options(256 << 20)


@dataclass
class Case:
    protocol: str
    direction: str
    copies: dict[str, dict[str, float]]  # process -> library -> payload copies
    peak_mib: dict[str, float]           # process -> peak resident memory during the call


def _build(workdir: Path) -> Path:
    library = workdir / "memcopies.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(library), str(_SOURCE), "-ldl"],
                   check=True)
    return library


def _role(command: str) -> str:
    return "worker" if " -m loader " in f" {command} " else "gateway"


def _snapshots(path: Path) -> list[dict[str, int]]:
    found: list[dict[str, int]] = []
    for line in path.read_text().splitlines() if path.exists() else ():
        if line == "snapshot":
            found.append({})
        else:
            library, _calls, copied = line.split("\t")
            found[-1][library] = int(copied)
    return found


def _snapshot_all(pids: list[int], folder: Path) -> dict[int, dict[str, int]]:
    before = {pid: len(_snapshots(folder / f"copies-{pid}.tsv")) for pid in pids}
    for pid in pids:
        os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + 10
    latest: dict[int, dict[str, int]] = {}
    for pid in pids:
        while True:
            taken = _snapshots(folder / f"copies-{pid}.tsv")
            if len(taken) > before[pid] or time.monotonic() > deadline:
                latest[pid] = taken[-1] if taken else {}
                break
            time.sleep(0.02)
    return latest


def _clear_peaks(pids: list[int]) -> None:
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _rest_call(port: int, direction: str) -> None:
    data = os.urandom(SIZE if direction == "in" else 16)
    body = {"header": {"app_id": "audit"},
            "parameter": {"oneway": {"direction": direction, "data": {"encoding": "raw"}}},
            "payload": {"data": {"encoding": "raw", "audio": base64.b64encode(data).decode()}}}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/private/oneway",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        answer = json.loads(reply.read())
    assert answer["header"]["code"] == 0, answer


def _grpc_call(port: int, direction: str) -> None:
    data = os.urandom(SIZE if direction == "in" else 16)
    call = loader_pb2.CallRequest(
        sid="audit", params={"direction": direction},
        inputs=[loader_pb2.Data(key="data", type=1, status=3, data=data)],
        accepts=[loader_pb2.Accept(key="data", type=1)])
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=_OPTIONS) as channel:
        method = channel.unary_unary("/loader.v1.Loader/Call")
        method(call.SerializeToString(), metadata=(("athena-ability", "oneway"),), timeout=120)


def audit(workdir: Path) -> list[Case]:
    folder = workdir / "copies"
    folder.mkdir(parents=True, exist_ok=True)
    library = _build(workdir)
    ready = workdir / "audit-ready.json"
    ready.unlink(missing_ok=True)
    http, grpc_port = free_port(), free_port()
    server = Server(
        "copy audit", [ATHENA, "serve", str(_WRAPPER), "--workers", "1", "--port", str(http),
                       "--grpc-port", str(grpc_port), "--max-body-mb", "160",
                       "--ready-file", str(ready)],
        ready.exists, workdir / "audit.log", cwd=ROOT,
        env={"LD_PRELOAD": str(library), "COPY_AUDIT_DIR": str(folder),
             "ONEWAY_SIZE": str(SIZE)})
    cases = []
    server.start()
    try:
        processes = tree_peak_rss(server.pid)
        pids = [pid for pid, (command, _) in processes.items()
                if "athena" in command or " -m loader " in f" {command} "]
        roles = {pid: _role(processes[pid][0]) for pid in pids}
        for protocol, send in (("REST", _rest_call), ("gRPC", _grpc_call)):
            for direction in ("in", "out"):
                port = http if protocol == "REST" else grpc_port
                _clear_peaks(pids)
                before = _snapshot_all(pids, folder)
                send(port, direction)
                after = _snapshot_all(pids, folder)
                peaks = tree_peak_rss(server.pid)
                copies: dict[str, dict[str, float]] = {}
                for pid in pids:
                    moved = {lib: (n - before[pid].get(lib, 0)) / SIZE
                             for lib, n in after[pid].items()}
                    copies[roles[pid]] = {Path(lib).name: round(c, 2)
                                          for lib, c in moved.items() if c >= 0.05}
                cases.append(Case(protocol, direction, copies,
                                  {roles[pid]: peaks[pid][1] / 2**20 for pid in pids
                                   if pid in peaks}))
    finally:
        server.stop()
    return cases


def audit_markdown(cases: list[Case]) -> str:
    lines = [f"#### Copy audit: one {SIZE >> 20} MiB payload, one direction at a time", "",
             "| call | process | payload copies (memcpy/memmove) | by library | peak RSS MiB |",
             "|---|---|---|---|---|"]
    for case in cases:
        for role in ("gateway", "worker"):
            found = case.copies.get(role, {})
            total = sum(found.values())
            detail = ", ".join(f"{lib} {n:.2f}" for lib, n in sorted(found.items())) or "none"
            lines.append(f"| {case.protocol} {'request' if case.direction == 'in' else 'response'}"
                         f" | {role} | {total:.2f} | {detail} | "
                         f"{case.peak_mib.get(role, float('nan')):.0f} |")
    lines.append("")
    return "\n".join(lines)


def as_json(cases: list[Case]) -> list[dict[str, Any]]:
    return [case.__dict__ for case in cases]

"""Test support: real processes and real servers on port 0, and request builders."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ABILITIES = Path(__file__).resolve().parent / "abilities"
ATHENA = str(Path(sys.executable).parent / "athena")


@dataclass
class Stack:
    """A running `athena serve`: one gateway and its workers, all real processes."""

    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    workers: list[dict[str, str]]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for_file(path: Path, process: subprocess.Popen[bytes], log: Path,
                  timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"not ready in {timeout} s:\n{log.read_text()}")
        time.sleep(0.05)
    return json.loads(path.read_text())


@contextmanager
def serve(tmp: Path, wrappers: Sequence[str | Path], *args: str,
          env: dict[str, str] | None = None, own_group: bool = False) -> Iterator[Stack]:
    """`athena serve` of `wrappers` on ports 0; `own_group`: in a process group of its own,
    as a terminal's foreground job is (so a test can send it what Ctrl-C sends)."""
    ready = tmp / "ready.json"
    log = tmp / "serve.log"
    command = [ATHENA, "serve", *map(str, wrappers), "--port", "0", "--grpc-port", "0",
               "--ready-file", str(ready), *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                   env={**os.environ, **(env or {})},
                                   start_new_session=own_group)
    try:
        info = wait_for_file(ready, process, log)
        yield Stack(process, info["http_port"], info["grpc_port"], info["workers"], log)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def aiges_body(service_id: str, payload: dict[str, Any], params: dict[str, Any] | None = None,
               header: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "header": header or {"app_id": "test", "uid": "u1", "status": 3},
        "parameter": {service_id: params or {}},
        "payload": payload,
    }


def text_item(text: str) -> dict[str, Any]:
    return {"encoding": "utf8", "status": 3, "text": b64(text)}


def pid_alive(pid: int) -> bool:
    """Running, not merely an unreaped zombie (a container's PID 1 may never reap it)."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return state != "Z"


def echo_frame(text: str, status: int, *, first: bool = False, **params: str) -> dict[str, Any]:
    """One AIGES session frame for the stream_echo test ability (the first carries header and
    parameter, with `params`)."""
    body: dict[str, Any] = {"payload": {"text": {
        "encoding": "utf8", "status": status, "text": b64(text),
    }}}
    if first:
        body["header"] = {"app_id": "test"}
        body["parameter"] = {"stream_echo": {**params, "result": {"encoding": "utf8"}}}
    return body

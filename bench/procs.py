"""Server processes under test: start, wait until ready, account their CPU, stop them all."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Server", "free_port", "http_ready", "tree_cpu_seconds", "tree_peak_rss"]

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A port nothing listens on now. Peers take ports on their command line, so the harness
    must pick them; the window between closing this socket and the peer binding is tiny."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_ready(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False
    return ready


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _tree(root: int) -> list[int]:
    children = _children()
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, ()))
    return pids


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of a process and all its live descendants."""
    total = 0
    for pid in _tree(root):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def tree_peak_rss(root: int) -> dict[int, tuple[str, int]]:
    """Per process of the tree: (command line, peak resident set in bytes)."""
    peaks: dict[int, tuple[str, int]] = {}
    for pid in _tree(root):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
            peaks[pid] = (cmd.strip(), int(hwm.split()[1]) * 1024)
    return peaks


@dataclass
class Server:
    """One server under test: its own process group, so stopping it stops everything it
    spawned (workers, Triton's Python stubs, MLServer's inference pool)."""

    name: str
    command: Sequence[str]
    ready: Callable[[], bool]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> float:
        """Start and wait until ready; returns the seconds that took."""
        started = time.monotonic()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                list(self.command), stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd,
                env={**os.environ, **self.env}, start_new_session=True,
            )
        while not self.ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                                   f"its log is {self.log}:\n{self._tail()}")
            if time.monotonic() - started > timeout:
                self.stop()
                raise RuntimeError(f"{self.name} not ready in {timeout:.0f} s; "
                                   f"its log is {self.log}:\n{self._tail()}")
            time.sleep(0.1)
        return time.monotonic() - started

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid)

    def stop(self, grace: float = 15.0) -> None:
        if self.process is None:
            return
        group = self.process.pid
        # the leader first, so it can shut its children down in order (PyTriton leaves shared
        # memory behind when its tritonserver is signalled before it)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        # anything of the group still alive (a stub that ignored SIGTERM) is killed
        deadline = time.monotonic() + grace
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.process = None

    def _tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True

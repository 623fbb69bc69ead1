"""The connection cap against a real `athena serve` whose RLIMIT_NOFILE is 256: more idle
connections than it has descriptors, and it still serves, never running out of them."""
from __future__ import annotations

import json
import os
import re
import resource
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ATHENA, ROOT, aiges_body, stop, text_item, wait_for_file

ECHO = ROOT / "wrappers" / "echo" / "wrapper.py"
DESCRIPTORS = 256
IDLE = 300  # more connections than the gateway process may open files


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """`athena serve` of the echo wrapper with 256 descriptors and a 5 s head deadline."""
    ready, log = tmp_path / "ready.json", tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [ATHENA, "serve", str(ECHO), "--port", "0", "--grpc-port", "0",
             "--ready-file", str(ready)],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=_limit_descriptors,
            env={**os.environ, "ATHENA_GATEWAY_HEADER_TIMEOUT_S": "5"})
    try:
        yield process, int(wait_for_file(ready, process, log)["http_port"]), log
    finally:
        stop(process)


def call(sock: socket.socket, text: str) -> tuple[int, dict[str, object]]:
    """One echo call on `sock` (kept alive): status and the JSON body."""
    body = json.dumps(aiges_body("echo", {"text": text_item(text)})).encode()
    sock.sendall(b"POST /v1/private/echo HTTP/1.1\r\nHost: gateway\r\nContent-Type: "
                 b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), json.loads(body)


def first_bytes(sock: socket.socket) -> bytes | None:
    """What the gateway sent on `sock` so far (b"" once closed), None while it sends nothing."""
    sock.setblocking(False)
    try:
        return sock.recv(4096, socket.MSG_PEEK)
    except BlockingIOError:
        return None
    finally:
        sock.setblocking(True)


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_more_idle_connections_than_descriptors_leave_the_gateway_serving(
        gateway: tuple[subprocess.Popen[bytes], int, Path]) -> None:
    process, port, log = gateway
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE + 64:  # this test process holds the other end of each
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, IDLE + 256), hard))
    kept = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert call(kept, "before")[0] == 200
    started = time.monotonic()
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(IDLE)]
    connected_s = time.monotonic() - started
    cap = int(re.search(r"at most (\d+) connections",  # type: ignore[index]
                        log.read_text(errors="replace"))[1])  # logged before it listens
    assert 0 < cap < DESCRIPTORS - 100  # room kept for the backlog and the rest
    try:
        # each connection is answered or held once the gateway has accepted it: wait for
        # that (a busy machine takes a while) rather than guess how long it takes
        deadline = time.monotonic() + 10
        while True:
            answers = [first_bytes(sock) for sock in idle]
            held = answers.count(None)
            if held < cap or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        most = open_descriptors(process.pid)
        assert most < DESCRIPTORS
        status, reply = call(kept, "while held")  # a connection it holds is served
        assert status == 200, reply
        refused = sum(bool(answer and answer.startswith(b"HTTP/1.1 503")) for answer in answers)
        assert refused > 0 and 0 < held < cap, (refused, held, cap)
        assert b'"code": 10503' in next(a for a in answers if a and a.startswith(b"HTTP"))
        # the ones it holds are closed at [gateway] header_timeout_s; then a fresh one serves
        deadline = time.monotonic() + 15
        while any(first_bytes(sock) is None for sock in idle) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(first_bytes(sock) is not None for sock in idle)
        fresh = socket.create_connection(("127.0.0.1", port), timeout=10)
        with fresh:
            status, reply = call(fresh, "after")
        assert status == 200, reply
    finally:
        for sock in idle:
            sock.close()
        kept.close()
    text = log.read_text(errors="replace")
    assert "Too many open files" not in text
    assert "out of system resource" not in text
    print(f"gateway: at most {cap} connections; {most} of {DESCRIPTORS} descriptors open "
          f"with {IDLE} connections made in {connected_s:.1f} s ({held} held, {refused} 503)")

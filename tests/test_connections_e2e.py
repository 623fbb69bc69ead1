"""The connection caps against a real `athena serve` whose RLIMIT_NOFILE is 256: more idle
connections than it has descriptors, to its HTTP listener and then to its gRPC one, and it still
serves, never running out of them."""
from __future__ import annotations

import json
import os
import re
import resource
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import ATHENA, ROOT, aiges_body, stop, text_item, wait_for_file

ECHO = ROOT / "wrappers" / "echo" / "wrapper.py"
DESCRIPTORS = 256
IDLE = 300  # more connections than the gateway process may open files


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    log: Path

    def caps(self) -> tuple[int, int]:
        """The HTTP and gRPC connection caps it logged (before it listens)."""
        found = re.search(r"at most (\d+) HTTP connections and (\d+) gRPC connections",
                          self.log.read_text(errors="replace"))
        assert found, self.log.read_text(errors="replace")
        return int(found[1]), int(found[2])


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Served]:
    """`athena serve` of the echo wrapper with 256 descriptors and a 5 s head deadline."""
    ready, log = tmp_path / "ready.json", tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [ATHENA, "serve", str(ECHO), "--port", "0", "--grpc-port", "0",
             "--ready-file", str(ready)],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=_limit_descriptors,
            env={**os.environ, "ATHENA_GATEWAY_HEADER_TIMEOUT_S": "5"})
    try:
        ports = wait_for_file(ready, process, log)
        yield Served(process, int(ports["http_port"]), int(ports["grpc_port"]), log)
    finally:
        stop(process)
    text = log.read_text(errors="replace")
    assert "Too many open files" not in text
    assert "out of system resource" not in text


@pytest.fixture
def many_descriptors() -> None:
    """This test process holds the client end of each connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, IDLE + 256), hard))


def connected(port: int, count: int) -> list[socket.socket]:
    """`count` connections, paced: the gateway's listen backlog is small under this limit (32),
    and a client connecting faster than its loop accepts overflows it, each overflow costing a
    1 s SYN retry, so that the first connections' head deadline would pass before the last."""
    made = []
    for index in range(count):
        made.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        if index % 16 == 15:
            time.sleep(0.01)
    return made


def settled(idle: list[socket.socket], unanswered_below: int) -> list[bytes | None]:
    """What each connection got, once the gateway has accepted all of them (fewer than
    `unanswered_below` left with nothing): polled, since a busy machine takes a while."""
    deadline = time.monotonic() + 10
    while True:
        answers = [first_bytes(sock) for sock in idle]
        if answers.count(None) < unanswered_below or time.monotonic() > deadline:
            return answers
        time.sleep(0.1)


def eventually_all(idle: list[socket.socket], done: Callable[[bytes | None], bool],
                   within: float = 15) -> bool:
    deadline = time.monotonic() + within
    while not all(done(first_bytes(sock)) for sock in idle):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


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
        gateway: Served, many_descriptors: None) -> None:
    port = gateway.http_port
    cap = gateway.caps()[0]
    assert 0 < cap < DESCRIPTORS - 100  # room kept for the backlog, gRPC and the rest
    kept = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert call(kept, "before")[0] == 200
    started = time.monotonic()
    idle = connected(port, IDLE)
    connected_s = time.monotonic() - started
    try:
        answers = settled(idle, cap)
        held = answers.count(None)
        most = open_descriptors(gateway.process.pid)
        assert most < DESCRIPTORS
        status, reply = call(kept, "while held")  # a connection it holds is served
        assert status == 200, reply
        refused = sum(bool(answer and answer.startswith(b"HTTP/1.1 503")) for answer in answers)
        assert refused > 0 and 0 < held < cap, (refused, held, cap)
        assert b'"code": 10503' in next(a for a in answers if a and a.startswith(b"HTTP"))
        # the ones it holds are closed at [gateway] header_timeout_s; then a fresh one serves
        assert eventually_all(idle, lambda answer: answer is not None)
        fresh = socket.create_connection(("127.0.0.1", port), timeout=10)
        with fresh:
            status, reply = call(fresh, "after")
        assert status == 200, reply
    finally:
        for sock in idle:
            sock.close()
        kept.close()
    print(f"gateway: at most {cap} HTTP connections; {most} of {DESCRIPTORS} descriptors open "
          f"with {IDLE} connections made in {connected_s:.1f} s ({held} held, {refused} 503)")


def grpc_health(channel: grpc.Channel) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=10).status


def own_channel(port: int) -> grpc.Channel:
    """A channel with a connection of its own (grpc shares one per target otherwise)."""
    return grpc.insecure_channel(f"127.0.0.1:{port}",
                                 options=[("grpc.use_local_subchannel_pool", 1)])


def test_more_idle_grpc_connections_than_descriptors_leave_the_gateway_serving(
        gateway: Served, many_descriptors: None) -> None:
    """Sockets that connect to the gRPC listener and never speak HTTP/2: those over
    grpc_max_connections are closed at once, the rest at header_timeout_s; a channel connected
    before is served throughout, and a new one once they are gone."""
    port, cap = gateway.grpc_port, gateway.caps()[1]
    assert 0 < cap < DESCRIPTORS - 100
    with own_channel(port) as kept:
        assert grpc_health(kept) == health_pb2.HealthCheckResponse.SERVING
        idle = connected(port, IDLE)
        try:
            answers = settled(idle, 1)
            closed = answers.count(b"")  # the rest had grpc's SETTINGS frame
            most = open_descriptors(gateway.process.pid)
            assert most < DESCRIPTORS
            assert IDLE - cap <= closed < IDLE, (closed, cap)  # those over the cap: at once
            assert grpc_health(kept) == health_pb2.HealthCheckResponse.SERVING
            # the rest: GOAWAY at header_timeout_s, since they never sent HTTP/2's preface
            assert eventually_all(idle, lambda answer: answer == b"" or
                                  b"handshake timeout" in (answer or b""))
        finally:
            for sock in idle:
                sock.close()
        with own_channel(port) as fresh:
            assert grpc_health(fresh) == health_pb2.HealthCheckResponse.SERVING
    print(f"gateway: at most {cap} gRPC connections; {most} of {DESCRIPTORS} descriptors open "
          f"with {IDLE} silent connections ({closed} closed at once)")

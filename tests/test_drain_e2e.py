"""The drain delay through a real `athena serve`: after SIGTERM, for [gateway] drain_delay_s,
/readyz is 503 ("draining") and gRPC health NOT_SERVING while calls are still served; a second
signal ends the delay at once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import ROOT, Stack, aiges_body, serve, text_item

ECHO = ROOT / "wrappers" / "echo" / "wrapper.py"


def readyz(stack: Stack) -> tuple[int, dict[str, object]]:
    with httpx.Client(base_url=stack.base, timeout=5) as client:  # a new connection each
        response = client.get("/readyz")
    return response.status_code, response.json()


def echo(stack: Stack, text: str) -> tuple[int, dict[str, object]]:
    with httpx.Client(base_url=stack.base, timeout=10) as client:
        response = client.post("/v1/private/echo",
                               json=aiges_body("echo", {"text": text_item(text)}))
    return response.status_code, json.loads(response.content)


def grpc_health(stack: Stack) -> int:
    with grpc.insecure_channel(stack.grpc) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5)
    return int(reply.status)


def wait_draining(stack: Stack) -> None:
    deadline = time.monotonic() + 10
    while readyz(stack)[0] != 503:
        assert time.monotonic() < deadline, "never draining"
        time.sleep(0.05)


def exit_code(process: subprocess.Popen[bytes], within: float) -> int:
    return process.wait(within)


def test_after_sigterm_readyz_is_draining_grpc_not_serving_and_calls_still_served(
        tmp_path: Path) -> None:
    with serve(tmp_path, [ECHO], env={"ATHENA_GATEWAY_DRAIN_DELAY_S": "4"}) as stack:
        assert readyz(stack)[0] == 200
        assert grpc_health(stack) == health_pb2.HealthCheckResponse.SERVING
        stack.process.send_signal(signal.SIGTERM)
        wait_draining(stack)
        assert readyz(stack) == (503, {"status": "draining"})
        assert grpc_health(stack) == health_pb2.HealthCheckResponse.NOT_SERVING
        status, reply = echo(stack, "while draining")  # a new connection, still served
        assert status == 200, reply
        assert reply["payload"]["text"]["text"] == "while draining"  # type: ignore[index]
        assert stack.process.poll() is None
        assert exit_code(stack.process, 30) == 0
        assert "draining for 4 s" in stack.log_text()


def test_ctrl_c_in_a_terminal_drains_while_the_workers_still_serve(tmp_path: Path) -> None:
    """Ctrl-C signals a terminal's whole foreground process group: the workers are in groups
    of their own, so only `athena serve` hears it, and they serve until its drain is over."""
    with serve(tmp_path, [ECHO], env={"ATHENA_GATEWAY_DRAIN_DELAY_S": "3"},
               own_group=True) as stack:
        os.killpg(stack.process.pid, signal.SIGINT)
        wait_draining(stack)
        status, reply = echo(stack, "after ctrl-c")
        assert status == 200, reply
        assert exit_code(stack.process, 30) == 0


def test_second_signal_ends_the_drain_delay_at_once(tmp_path: Path) -> None:
    with serve(tmp_path, [ECHO], env={"ATHENA_GATEWAY_DRAIN_DELAY_S": "120"}) as stack:
        stack.process.send_signal(signal.SIGTERM)
        wait_draining(stack)
        stack.process.send_signal(signal.SIGINT)
        assert exit_code(stack.process, 30) == 0  # not the 120 s asked


def test_without_drain_delay_sigterm_stops_at_once(tmp_path: Path) -> None:
    """The default (0): a terminal's Ctrl-C or a plain SIGTERM is not kept waiting."""
    with serve(tmp_path, [ECHO]) as stack:
        stack.process.send_signal(signal.SIGTERM)
        assert exit_code(stack.process, 30) == 0
        assert "draining for" not in stack.log_text()

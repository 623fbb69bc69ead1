"""The `athena` command a user types: help, serve, gateway + loader apart, call."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from tests.support import ATHENA, ROOT, pid_alive, serve, stop, wait_for_file


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATHENA, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_help_explains_every_command() -> None:
    top = run("--help")
    assert top.returncode == 0
    for command in ("serve", "gateway", "loader", "call"):
        assert command in top.stdout
        assert run(command, "--help").returncode == 0
    assert "--workers" in run("serve", "--help").stdout


def test_call_prints_outputs_over_http_and_grpc(tmp_path: Path) -> None:
    echo = ROOT / "wrappers/echo/wrapper.py"
    digits = ROOT / "wrappers/digits/wrapper.py"
    with serve(tmp_path, [echo, digits], "--workers", "1") as stack:
        over_http = run("call", f"{stack.base}/v1/private/echo", "--text", "hello world")
        assert over_http.returncode == 0, over_http.stderr
        assert "text: hello world" in over_http.stdout and "sid: atn" in over_http.stdout

        over_grpc = run("call", f"grpc://{stack.grpc}", "--ability", "echo", "--text", "hi")
        assert over_grpc.returncode == 0, over_grpc.stderr
        assert "text: hi" in over_grpc.stdout

        image = tmp_path / "seven.png"
        data = load_digits()
        index = int(np.flatnonzero(data.target == 7)[0])
        Image.fromarray((data.images[index] * 15).astype(np.uint8)).resize((48, 48)).save(image)
        digit = run("call", f"{stack.base}/v1/private/digits", "--image", f"image=@{image}")
        assert digit.returncode == 0, digit.stderr
        assert json.loads(digit.stdout.split("result: ", 1)[1])["digit"] == 7

        missing = run("call", f"{stack.base}/v1/private/nope", "--text", "x")
        assert missing.returncode == 1
        assert "error 10404" in missing.stderr and "HTTP 404" in missing.stderr


def test_serve_refuses_a_wrapper_whose_init_fails_with_its_message(tmp_path: Path) -> None:
    bad = ROOT / "tests/abilities/variants/init_fails.py"
    result = run("serve", str(bad), "--port", "0", "--grpc-port", "0")
    assert result.returncode == 2
    assert "licence file missing" in result.stderr


def test_gateway_and_loader_run_apart_and_no_worker_is_503(tmp_path: Path) -> None:
    worker_ready = tmp_path / "worker.json"
    worker = subprocess.Popen([ATHENA, "loader", str(ROOT / "wrappers/echo/wrapper.py"),
                               "--ready-file", str(worker_ready)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "gateway.log"
    gateway_ready = tmp_path / "gateway.json"
    try:
        port = wait_for_file(worker_ready, worker, log)["port"]
        with log.open("wb") as out:
            gateway = subprocess.Popen(
                [ATHENA, "gateway", "--worker", f"127.0.0.1:{port}", "--port", "0",
                 "--grpc-port", "0", "--ready-file", str(gateway_ready)],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{wait_for_file(gateway_ready, gateway, log)['http_port']}"
        body = {"payload": {"text": {"text": "aGk=", "status": 3}}}
        assert httpx.post(base + "/v1/private/echo", json=body).status_code == 200

        stop(worker)
        response = httpx.post(base + "/v1/private/echo", json=body)
        assert response.status_code == 503
        assert response.json()["header"]["code"] == 10503
        assert "no worker of 'echo' is reachable" in response.json()["header"]["message"]
        assert response.headers["Retry-After"] == "1"
        assert httpx.get(base + "/readyz").status_code == 503

        worker_ready.unlink()
        worker = subprocess.Popen([ATHENA, "loader", str(ROOT / "wrappers/echo/wrapper.py"),
                                   "--port", str(port), "--ready-file", str(worker_ready)],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_file(worker_ready, worker, log)
        deadline = time.monotonic() + 15
        while httpx.post(base + "/v1/private/echo", json=body).status_code != 200:
            assert time.monotonic() < deadline, "the gateway never re-admitted the worker"
            time.sleep(0.2)
        assert stop(gateway) == 0
    finally:
        stop(worker)


def test_workers_stop_with_serve_and_call_wrapper_fini(tmp_path: Path) -> None:
    with serve(tmp_path, [ROOT / "wrappers/echo/wrapper.py"], "--workers", "2") as stack:
        for worker in stack.workers:
            assert httpx.get(f"http://{worker['metrics_address']}/healthz").status_code == 200
        pids = [int(w["pid"]) for w in stack.workers]
        process = stack.process
    assert process.returncode == 0
    assert not any(pid_alive(pid) for pid in pids)
    assert stack.log_text().count("stopped") == 2


def test_workers_do_not_outlive_a_killed_serve(tmp_path: Path) -> None:
    with serve(tmp_path, [ROOT / "wrappers/echo/wrapper.py"], "--workers", "2") as stack:
        pids = [int(w["pid"]) for w in stack.workers]
        stack.process.kill()
        stack.process.wait()
        deadline = time.monotonic() + 15
        while any(pid_alive(pid) for pid in pids):
            assert time.monotonic() < deadline, "workers outlived their parent"
            time.sleep(0.1)

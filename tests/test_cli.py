"""The `athena` command a user types: help, serve, gateway + loader apart, call."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from tests.support import ABILITIES, ATHENA, ROOT, b64, pid_alive, serve, stop, wait_for_file

ECHO = ROOT / "wrappers/echo/wrapper.py"
BINARY_TEXT = ABILITIES / "binary_text/wrapper.py"
RAW = b"\xff\xfe athena \x80\x00"  # what binary_text returns as its "raw" text output


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATHENA, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_help_explains_every_command() -> None:
    top = run("--help")
    assert top.returncode == 0
    for command in ("serve", "gateway", "loader", "call", "new"):
        assert command in top.stdout
        assert run(command, "--help").returncode == 0
    serve_help = run("serve", "--help").stdout
    assert "--workers" in serve_help
    assert "--worker-port-base" in serve_help and "N+2i+1" in serve_help
    assert "--gateway-processes" in serve_help and "SO_REUSEPORT" in serve_help
    gateway_help = run("gateway", "--help").stdout
    assert "--processes" in gateway_help and "multiprocess" in gateway_help
    assert "--process-index" not in gateway_help  # the group's own flag for its members
    loader_help = run("loader", "--help").stdout
    assert "--workers" in loader_help and "B+2i+1" in loader_help
    assert "athena_supervisor_worker_restarts_total" in loader_help


def test_loader_with_workers_refuses_port_and_a_port_base_that_does_not_fit() -> None:
    with_port = run("loader", str(ECHO), "--workers", "2", "--port", "7000")
    assert with_port.returncode == 2
    assert "--port with --workers 2" in with_port.stderr
    assert "--worker-port-base" in with_port.stderr
    too_high = run("loader", str(ECHO), "--workers", "3", "--worker-port-base", "65531")
    assert too_high.returncode == 2
    assert "3 workers need the 6 ports from 65531 on" in too_high.stderr
    one = run("loader", str(ECHO), "--worker-port-base", "7000")
    assert one.returncode == 2 and "for --workers N > 1" in one.stderr


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


def test_call_prints_non_utf8_text_as_base64_and_saves_its_bytes_with_out_dir(
    tmp_path: Path,
) -> None:
    with serve(tmp_path, [BINARY_TEXT]) as stack:
        targets = {"http": (f"{stack.base}/v1/private/binary_text",),
                   "grpc": (f"grpc://{stack.grpc}", "--ability", "binary_text")}
        for transport, target in targets.items():
            printed = run("call", *target, "--text", "x")
            assert printed.returncode == 0, printed.stderr
            assert f"raw: base64:{b64(RAW)}\n" in printed.stdout, transport
            assert "note: plain words\n" in printed.stdout, transport
            assert "\ufffd" not in printed.stdout
            assert f"'raw' is not UTF-8 ({len(RAW)} bytes)" in printed.stderr

            out_dir = tmp_path / transport
            saved = run("call", *target, "--text", "x", "--out-dir", str(out_dir))
            assert saved.returncode == 0, saved.stderr
            assert (out_dir / "raw.bin").read_bytes() == RAW, transport
            assert (out_dir / "note.utf8").read_bytes() == b"plain words"
            assert f"raw (text, {len(RAW)} bytes) -> {out_dir / 'raw.bin'}" in saved.stdout


def free_port_run(count: int) -> int:
    """The first of `count` consecutive free ports, starting from ports the OS hands out for
    port 0 (so outside any range a service is configured on)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count <= 65536 and all(_free(p) for p in range(base, base + count)):
            return base
    raise RuntimeError(f"no run of {count} free ports found")


def _free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def test_worker_port_base_pins_grpc_and_metrics_ports_across_wrappers(tmp_path: Path) -> None:
    base = free_port_run(8)
    with serve(tmp_path, [ECHO, BINARY_TEXT], "--workers", "2",
               "--worker-port-base", str(base)) as stack:
        assert [(w["ability"], w["address"], w["metrics_address"]) for w in stack.workers] == [
            (ability, f"127.0.0.1:{base + 2 * i}", f"127.0.0.1:{base + 2 * i + 1}")
            for i, ability in enumerate(["echo", "echo", "binary_text", "binary_text"])]
        for worker in stack.workers:
            metrics = httpx.get(f"http://{worker['metrics_address']}/metrics")
            assert metrics.status_code == 200
            assert "athena_loader_licence" in metrics.text

        killed = int(stack.workers[2]["pid"])  # binary_text#0, on base+4 and base+5
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not _answers(f"http://127.0.0.1:{base + 5}/healthz") or pid_alive(killed):
            assert time.monotonic() < deadline, "the killed worker never came back on its ports"
            time.sleep(0.1)
        again = run("call", f"grpc://127.0.0.1:{base + 4}", "--text", "x")
        assert again.returncode == 0, again.stderr
        assert "note: plain words" in again.stdout
        restarts = httpx.get(f"{stack.base}/metrics").text  # the one gateway process's
        assert 'athena_supervisor_worker_restarts_total{ability="binary_text"} 1.0' in restarts
        assert 'athena_supervisor_worker_restarts_total{ability="echo"} 0.0' in restarts
    assert "worker binary_text#0 exited" in stack.log_text()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_refuses_a_pinned_port_in_use_naming_it_and_the_flag(tmp_path: Path) -> None:
    base = free_port_run(4)
    with socket.create_server(("127.0.0.1", base + 3)):  # worker 1's metrics port
        result = run("serve", str(ECHO), "--workers", "2", "--worker-port-base", str(base),
                     "--port", "0", "--grpc-port", "0")
    assert result.returncode == 2
    assert f"port {base + 3} (the metrics port of worker 1" in result.stderr
    assert f"--worker-port-base {base} gives the 2 workers ports {base}..{base + 3}" \
        in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_port_base_whose_ports_do_not_fit() -> None:
    result = run("serve", str(ECHO), "--workers", "3", "--worker-port-base", "65531")
    assert result.returncode == 2
    assert "--worker-port-base 65531: 3 workers need the 6 ports from 65531 on" in result.stderr

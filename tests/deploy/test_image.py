"""`athena build` for real: images of wrappers/echo built, run with podman and called over HTTP.

Minutes on a fresh machine (the base images come from the Debian mirror): `make image-test`.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.build import GRPC_PORT, HTTP_PORT, METRICS_PORT, USER_ID, WORKER_PORT
from tests.support import ATHENA, ROOT, stop, wait_for_file

pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

ECHO = ROOT / "wrappers" / "echo"
RUNC = shutil.which("runc") or "/usr/sbin/runc"
# runc: crun, Debian podman's default, cannot set up cgroups or rlimits in this sandbox
PODMAN = ["podman", "--runtime", RUNC]
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def athena(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATHENA, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def images() -> Iterator[dict[str, str]]:
    tags = {kind: f"localhost/athena-test-echo:{kind}" for kind in ("worker", "serve")}
    for kind, tag in tags.items():
        built = athena("build", str(ECHO), "-t", tag, *(["--serve"] if kind == "serve" else []))
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        assert f"built {tag} in" in built.stdout
    yield tags
    podman("rmi", "-f", *tags.values())


@contextmanager
def container(image: str, *ports: int, options: tuple[str, ...] = (),
              command: tuple[str, ...] = ()) -> Iterator[tuple[str, dict[int, int]]]:
    """The image running detached, each port published on a loopback port podman chooses
    (with `options` such as --network=host, and `command` replacing the image's)."""
    published = [f"--publish=127.0.0.1::{port}" for port in ports]
    started = podman("run", "-d", *LIMITS, *published, *options, image, *command)
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    try:
        host_ports = {}
        for port in ports:
            mapped = podman("port", cid, f"{port}/tcp").stdout.strip()
            host_ports[port] = int(mapped.rsplit(":", 1)[1])
        yield cid, host_ports
    finally:
        podman("stop", "-t", "20", cid)
        podman("rm", "-f", cid)
    assert cid not in podman("ps", "-a", "-q", "--no-trunc").stdout


def wait_http(url: str, cid: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} not ready:\n{podman('logs', cid).stderr}")
        time.sleep(0.3)


def test_worker_image_serves_echo_to_a_gateway_on_the_host(images: dict[str, str],
                                                             tmp_path: Path) -> None:
    with container(images["worker"], WORKER_PORT, METRICS_PORT) as (cid, ports):
        wait_http(f"http://127.0.0.1:{ports[METRICS_PORT]}/readyz", cid)
        assert podman("exec", cid, "id", "-u").stdout.strip() == str(USER_ID)
        no_compiler = podman("exec", cid, "sh", "-c", "command -v gcc g++ cmake cc")
        assert no_compiler.stdout == ""  # the native bridge was compiled in the build stage
        ready, log = tmp_path / "ready.json", tmp_path / "gateway.log"
        with log.open("wb") as out:
            gateway = subprocess.Popen(
                [ATHENA, "gateway", "--worker", f"127.0.0.1:{ports[WORKER_PORT]}", "--port", "0",
                 "--grpc-port", "0", "--ready-file", str(ready)],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            info = wait_for_file(ready, gateway, log)
            url = f"http://127.0.0.1:{info['http_port']}/v1/private/echo"
            called = athena("call", url, "--text", "hello from a container", timeout=60)
            assert called.returncode == 0, called.stderr + log.read_text()
            assert "text: hello from a container" in called.stdout
        finally:
            assert stop(gateway) == 0


def test_serve_image_answers_http_itself(images: dict[str, str]) -> None:
    with container(images["serve"], HTTP_PORT, GRPC_PORT) as (cid, ports):
        wait_http(f"http://127.0.0.1:{ports[HTTP_PORT]}/metrics", cid)
        url = f"http://127.0.0.1:{ports[HTTP_PORT]}/v1/private/echo"
        called = athena("call", url, "--text", "one container", timeout=60)
        assert called.returncode == 0, called.stderr + podman("logs", cid).stderr
        assert "text: one container" in called.stdout
        over_grpc = athena("call", f"grpc://127.0.0.1:{ports[GRPC_PORT]}", "--ability", "echo",
                           "--text", "over gRPC", timeout=60)
        assert "text: over gRPC" in over_grpc.stdout, over_grpc.stderr


def test_an_unknown_apt_package_fails_naming_it_and_tags_nothing(images: dict[str, str],
                                                                 tmp_path: Path) -> None:
    folder = tmp_path / "echo"
    shutil.copytree(ECHO, folder)
    (folder / "aiges.toml").write_text('[build]\napt = ["athena-no-such-package"]\n')
    tag = "localhost/athena-test-echo:unknown-apt"
    built = athena("build", str(folder), "-t", tag)
    assert built.returncode == 2
    assert "Debian has no package athena-no-such-package" in built.stderr
    assert podman("image", "exists", tag).returncode == 1


def test_a_gateway_container_finds_worker_containers_by_address(images: dict[str, str]) -> None:
    """The deploy shape without Kubernetes: the same image as two workers and as the gateway
    (its command replaced, as a pod's args do), the gateway given the workers' addresses."""
    with container(images["worker"], WORKER_PORT, METRICS_PORT) as (first, a), \
            container(images["worker"], WORKER_PORT, METRICS_PORT) as (second, b):
        for cid, ports in ((first, a), (second, b)):
            wait_http(f"http://127.0.0.1:{ports[METRICS_PORT]}/readyz", cid)
        http, grpc_port = free_port(), free_port()
        command = ("gateway", "--host", "127.0.0.1", "--port", str(http), "--grpc-port",
                   str(grpc_port), "--worker", f"127.0.0.1:{a[WORKER_PORT]}",
                   "--worker", f"127.0.0.1:{b[WORKER_PORT]}")
        with container(images["worker"], options=("--network=host",), command=command) as (
                gateway, _):
            wait_http(f"http://127.0.0.1:{http}/readyz", gateway)
            url = f"http://127.0.0.1:{http}/v1/private/echo"
            for _ in range(4):
                called = athena("call", url, "--text", "gateway in a container", timeout=60)
                assert "text: gateway in a container" in called.stdout, (
                    called.stderr + podman("logs", gateway).stderr)
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/readyz", timeout=5) as reply:
                workers = json.loads(reply.read())["workers"]
    assert [w["healthy"] for w in workers] == [True, True]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

"""{{name}} served for real: `athena serve` in its own process, called over HTTP.

Run it with the Python that has athena installed:  python -m pytest {{name}}
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
HELLO = HERE / "test_data" / "hello.txt"
SERVICE_ID = "{{name}}"


def _athena() -> str:
    beside = Path(sys.executable).parent / "athena"  # the venv this test runs in
    found = str(beside) if beside.exists() else shutil.which("athena")
    if found is None:
        pytest.fail("the athena command is not installed for this Python")
    return found


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """http://127.0.0.1:<port> of a running `athena serve {{name}}/wrapper.py`."""
    folder = tmp_path_factory.mktemp("serve")
    ready, log = folder / "ready.json", folder / "serve.log"
    command = [_athena(), "serve", str(HERE / "wrapper.py"), "--port", "0", "--grpc-port", "0",
               "--ready-file", str(ready)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if process.poll() is not None:
                pytest.fail(f"athena serve exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"athena serve was not ready in 60 s:\n{log.read_text()}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{json.loads(ready.read_text())['http_port']}"
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)  # drains, runs wrapperFini, stops the workers
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def call(base: str, text: bytes, **params: str) -> dict[str, Any]:
    """One AIGES JSON call; the reply's body."""
    body = {
        "header": {"app_id": "test", "status": 3},
        "parameter": {SERVICE_ID: {
            **params, "result": {"encoding": "utf8", "compress": "raw", "format": "json"}}},
        "payload": {"text": {"encoding": "utf8", "status": 3,
                             "text": base64.b64encode(text).decode("ascii")}},
    }
    request = urllib.request.Request(f"{base}/v1/private/{SERVICE_ID}",
                                     data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        reply: dict[str, Any] = json.load(response)
    return reply


def test_hello_comes_back_upper_cased_with_its_length_and_the_param(base: str) -> None:
    hello = HELLO.read_bytes()
    reply = call(base, hello, lang="fr")
    assert reply["header"]["code"] == 0, reply["header"]
    text = hello.decode("utf-8")
    assert json.loads(reply["payload"]["result"]["text"]) == {
        "length": len(text), "upper": text.upper(), "lang": "fr"}


def test_a_param_left_out_takes_its_default(base: str) -> None:
    reply = call(base, HELLO.read_bytes())
    assert json.loads(reply["payload"]["result"]["text"])["lang"] == "en"

"""The fuzz suite's one gateway stack (started once for the session), hypothesis settings
that make a CI run reproducible (derandomized, no example database), FUZZ_EXAMPLES to go
deeper locally, and the case counts printed at the end of the run."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.checks import COUNTS, check_http, exchange
from tests.fuzz.served import ECHO_ROUTE, Served, served
from tests.fuzz.strategies import valid_body

_DEEPER = int(os.environ.get("FUZZ_EXAMPLES", "0"))


def fuzz_settings(examples: int) -> settings:
    """`examples` cases (FUZZ_EXAMPLES instead, when set), the same ones on every run."""
    return settings(max_examples=_DEEPER or examples, derandomize=True, database=None,
                    deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="session")
def stack() -> Iterator[Served]:
    # a body that stalls is cut after 1 s (not the default 30) so a truncated upload is a
    # quick 408, and a session left half-open ends soon
    with served(body_timeout_s=1.0, ws_read_timeout_s=2.0, timeout_s=10.0,
                max_body_mb=4) as running:
        yield running


def post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: fuzz", "Connection: close",
             f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def serves_good_call(stack: Served) -> None:
    """The process (the thread serving the gateway) is alive and a good call succeeds."""
    assert stack.alive()
    answer = exchange(stack.host, stack.port, post(
        ECHO_ROUTE, json.dumps(valid_body("echo", "still alive")).encode(),
        "Content-Type: application/json"))
    reply = check_http(answer, "the good call after a batch")
    assert answer.status == 200, answer
    assert reply["payload"]["text"]["text"] == "still alive"


@pytest.fixture
def good_call_every(stack: Served) -> Iterator[Callable[[int], None]]:
    """`tick(every)` after each example: a good call every `every` examples, and at the end."""
    seen = [0]

    def tick(every: int = 10) -> None:
        seen[0] += 1
        if seen[0] % every == 0:
            serves_good_call(stack)

    yield tick
    serves_good_call(stack)


_started = time.monotonic()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COUNTS:
        return
    by_path: dict[str, dict[str, int]] = {}
    for (path, outcome), count in sorted(COUNTS.items()):
        by_path.setdefault(path, {})[outcome] = count
    terminalreporter.section("fuzz cases")
    for path, outcomes in by_path.items():
        terminalreporter.write_line(f"{path}: {sum(outcomes.values())} cases, {outcomes}")
    terminalreporter.write_line(f"total {sum(COUNTS.values())} cases in "
                                f"{time.monotonic() - _started:.1f} s")

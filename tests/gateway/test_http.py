"""AIGES JSON over HTTP through a real `athena serve`: gateway and worker processes."""
from __future__ import annotations

import ast
import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from tests.support import ABILITIES, ROOT, Stack, aiges_body, b64, serve, text_item

FAULTY = ABILITIES / "faulty" / "wrapper.py"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    wrappers = [ROOT / "wrappers/echo/wrapper.py", ROOT / "wrappers/digits/wrapper.py", FAULTY]
    with serve(tmp_path_factory.mktemp("stack"), wrappers, "--workers", "2",
               "--max-body-mb", "4") as running:
        yield running


def post(stack: Stack, path: str, body: object, **kwargs: object) -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(stack.base + path, content=content, timeout=30, **kwargs)  # type: ignore[arg-type]


def faulty(stack: Stack, mode: str, **params: str) -> httpx.Response:
    return post(stack, "/v1/private/faulty",
                aiges_body("faulty", {"text": text_item("x")}, {"mode": mode, **params}))


def assert_error(response: httpx.Response, http_status: int, code: int) -> str:
    assert response.status_code == http_status, response.text
    header = response.json()["header"]
    assert header["code"] == code, header
    assert header["message"]
    return str(header["message"])


def assert_still_serving(stack: Stack) -> None:
    response = post(stack, "/v1/private/echo", aiges_body("echo", {"text": text_item("again")}))
    assert response.status_code == 200, response.text
    assert response.json()["payload"]["text"]["text"] == "again"


def test_echo_returns_text_raw_with_a_sid(stack: Stack) -> None:
    response = post(stack, "/v1/private/echo", aiges_body("echo", {"text": text_item("héllo")}))
    assert response.status_code == 200
    body = response.json()
    assert body["header"]["code"] == 0 and body["header"]["message"] == "success"
    assert body["header"]["sid"].startswith("atn")
    item = body["payload"]["text"]
    assert item["text"] == "héllo"
    assert (item["status"], item["seq"], item["encoding"]) == ("3", "0", "utf8")


def test_echo_returns_binary_as_base64_unchanged(stack: Stack) -> None:
    blob = np.random.default_rng(1).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    payload = {"img": {"encoding": "png", "status": 3, "image": b64(blob)}}
    response = post(stack, "/v1/private/echo", aiges_body("echo", payload))
    assert response.status_code == 200, response.text
    item = response.json()["payload"]["img"]
    assert base64.b64decode(item["image"]) == blob
    assert item["encoding"] == "png"


def test_wrapper_params_carry_passed_headers_parameters_and_sid(stack: Stack) -> None:
    response = faulty(stack, "params", ctrl="abc")
    sid = response.json()["header"]["sid"]
    params = dict(ast.literal_eval(response.json()["payload"]["result"]["text"]))
    assert params == {"app_id": "test", "uid": "u1", "mode": "params", "ctrl": "abc", "sid": sid}


def test_wrapper_config_section_reaches_wrapper_init_flattened(stack: Stack) -> None:
    response = faulty(stack, "config")
    config = dict(ast.literal_eval(response.json()["payload"]["result"]["text"]))
    assert config == {"model.path": "/nowhere", "greeting": "hi", "nested.depth": "2"}


def test_digits_recognises_a_real_png(stack: Stack) -> None:
    digits = load_digits()
    index = 1234
    pixels = (digits.images[index] * (255 / 16)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((64, 64), Image.NEAREST).save(buffer, format="PNG")
    payload = {"image": {"encoding": "png", "status": 3, "image": b64(buffer.getvalue())}}
    params = {"result": {"encoding": "utf8", "compress": "raw", "format": "json"}}
    response = post(stack, "/v1/private/digits", aiges_body("digits", payload, params))
    assert response.status_code == 200, response.text
    result = json.loads(response.json()["payload"]["result"]["text"])
    assert result["digit"] == digits.target[index]


def test_body_not_json_is_400_with_10000(stack: Stack) -> None:
    assert_error(post(stack, "/v1/private/echo", b"{not json"), 400, 10000)
    assert_still_serving(stack)


def test_bad_base64_is_400_with_10001(stack: Stack) -> None:
    payload = {"text": {"encoding": "utf8", "status": 3, "text": "***not base64***"}}
    message = assert_error(post(stack, "/v1/private/echo", aiges_body("echo", payload)), 400, 10001)
    assert "base64" in message
    assert_still_serving(stack)


def test_payload_without_data_is_400_with_10001(stack: Stack) -> None:
    payload = {"text": {"encoding": "utf8", "status": 3}}
    assert_error(post(stack, "/v1/private/echo", aiges_body("echo", payload)), 400, 10001)


def test_parameter_keyed_by_another_service_is_400(stack: Stack) -> None:
    body = aiges_body("echo", {"text": text_item("x")})
    body["parameter"] = {"ecoh": {}}
    message = assert_error(post(stack, "/v1/private/echo", body), 400, 10163)
    assert "'echo'" in message


def test_unknown_route_is_404_with_10404_listing_routes(stack: Stack) -> None:
    message = assert_error(post(stack, "/v1/private/nope", aiges_body("nope", {})), 404, 10404)
    assert "/v1/private/echo" in message
    assert_still_serving(stack)


def test_body_over_the_limit_is_413_with_10413(stack: Stack) -> None:
    big = aiges_body("echo", {"text": text_item("x" * (5 * 1024 * 1024))})
    assert_error(post(stack, "/v1/private/echo", big), 413, 10413)
    assert_still_serving(stack)


def test_wrapper_error_code_is_500_with_its_code_and_wrapper_error_text(stack: Stack) -> None:
    message = assert_error(faulty(stack, "error_code"), 500, 4711)
    assert message == "the model refused this input: try a shorter text"
    assert_still_serving(stack)


def test_wrapper_raising_is_500_with_10909_naming_the_exception(stack: Stack) -> None:
    message = assert_error(faulty(stack, "raise"), 500, 10909)
    assert "KeyError" in message and "Traceback" not in message
    assert_still_serving(stack)


def test_wrapper_returning_nothing_is_500_with_10106(stack: Stack) -> None:
    assert_error(faulty(stack, "empty"), 500, 10106)
    assert_error(faulty(stack, "none"), 500, 10106)
    assert "cannot be sent" in assert_error(faulty(stack, "bad_data"), 500, 10106)
    assert_still_serving(stack)


def test_output_not_asked_for_is_500_with_10106(stack: Stack) -> None:
    body = aiges_body("faulty", {"text": text_item("x")},
                      {"mode": "undeclared", "result": {"encoding": "utf8"}})
    message = assert_error(post(stack, "/v1/private/faulty", body), 500, 10106)
    assert "surprise" in message


def test_outputs_follow_the_declared_accepts(stack: Stack) -> None:
    body = aiges_body("faulty", {"text": text_item("x")},
                      {"result": {"encoding": "utf8", "format": "plain"}})
    item = post(stack, "/v1/private/faulty", body).json()["payload"]["result"]
    assert (item["text"], item["format"]) == ("ok", "plain")


def test_licence_exhausted_on_every_worker_is_429_with_retry_after(stack: Stack) -> None:
    slow = [threading.Thread(target=faulty, args=(stack, "sleep"), kwargs={"seconds": "2"})
            for _ in range(2)]
    for thread in slow:
        thread.start()
    _wait_until_busy(stack, "faulty", 2)
    response = faulty(stack, "ok")
    assert "every worker of 'faulty' is at its licence" in assert_error(response, 429, 10110)
    assert response.headers["Retry-After"] == "1"
    for thread in slow:
        thread.join()
    assert faulty(stack, "ok").status_code == 200


def _wait_until_busy(stack: Stack, ability: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        workers = httpx.get(stack.base + "/readyz").json()["workers"]
        if sum(w["outstanding"] for w in workers if w["ability"] == ability) >= count:
            return
        time.sleep(0.02)
    raise AssertionError("the slow calls never reached the workers")


def test_worker_dying_mid_call_is_502_with_10109_and_is_restarted(stack: Stack) -> None:
    message = assert_error(faulty(stack, "exit"), 502, 10109)
    assert "worker" in message
    assert faulty(stack, "ok").status_code == 200  # the other worker answers
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready = httpx.get(stack.base + "/readyz")
        if ready.status_code == 200 and all(w["healthy"] for w in ready.json()["workers"]):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the crashed worker was not restarted:\n{stack.log_text()}")


def test_health_readiness_and_ability_list(stack: Stack) -> None:
    assert httpx.get(stack.base + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(stack.base + "/readyz")
    assert ready.status_code == 200 and len(ready.json()["workers"]) == 6
    routes = {a["route"] for a in httpx.get(stack.base + "/v1/abilities").json()["abilities"]}
    assert routes == {"/v1/private/echo", "/v1/private/digits", "/v1/private/faulty"}


def test_calls_are_spread_over_the_workers(stack: Stack) -> None:
    for _ in range(30):
        assert post(stack, "/v1/private/echo",
                    aiges_body("echo", {"text": text_item("spread")})).status_code == 200
    served = {}
    for line in httpx.get(stack.base + "/metrics").text.splitlines():
        if line.startswith('athena_gateway_upstream_requests_total{ability="echo"'):
            endpoint = line.split('endpoint="')[1].split('"')[0]
            served[endpoint] = served.get(endpoint, 0) + float(line.rsplit(" ", 1)[1])
    assert len(served) == 2 and min(served.values()) > 0, served


def test_get_on_an_ability_route_is_405(stack: Stack) -> None:
    response = httpx.get(stack.base + "/v1/private/echo")
    assert response.status_code == 405 and response.json()["header"]["code"] == 10163


def test_deadline_exceeded_is_504_with_10102(tmp_path: Path) -> None:
    with serve(tmp_path, [FAULTY], "--workers", "1", "--timeout-s", "1") as small:
        response = faulty(small, "sleep", seconds="3")
        assert_error(response, 504, 10102)
        deadline = time.monotonic() + 10
        while faulty(small, "ok").status_code != 200:  # the one instance is busy until 3 s pass
            assert time.monotonic() < deadline
            time.sleep(0.2)


def _assert_hung_worker_replaced(small: Stack) -> None:
    """The given-up call frees its licence slot at once (other calls may succeed meanwhile),
    but its thread still hangs: the watchdog ends the worker, and a new one serves."""
    deadline = time.monotonic() + 30
    while "the wrapper is hung" not in small.log_text():
        assert time.monotonic() < deadline, small.log_text()
        time.sleep(0.2)
    while faulty(small, "ok").status_code != 200:
        assert time.monotonic() < deadline, small.log_text()
        time.sleep(0.2)


def test_hung_wrapper_worker_is_replaced_and_serving_resumes(tmp_path: Path) -> None:
    env = {"ATHENA_LOADER_STUCK_AFTER_S": "1.5"}
    with serve(tmp_path, [FAULTY], "--workers", "1", "--timeout-s", "1", env=env) as small:
        assert_error(faulty(small, "sleep", seconds="3600"), 504, 10102)
        _assert_hung_worker_replaced(small)


def test_short_calls_move_inline_and_a_hung_inline_call_is_still_caught(tmp_path: Path) -> None:
    # a generous budget: on a loaded machine a trivial call can still take over 0.5 ms
    env = {"ATHENA_LOADER_STUCK_AFTER_S": "1.5", "ATHENA_LOADER_INLINE_UNDER_MS": "50"}
    with serve(tmp_path, [FAULTY], "--workers", "1", "--timeout-s", "1", env=env) as small:
        def ran_on() -> str:
            return str(faulty(small, "thread").json()["payload"]["result"]["text"])

        assert ran_on().startswith("wrapper-")  # a new wrapper's calls start on threads
        for _ in range(80):  # a streak of short calls
            assert faulty(small, "ok").status_code == 200
        assert ran_on() == "MainThread"
        # this one holds the event loop: the watchdog thread must still end the worker
        assert_error(faulty(small, "sleep", seconds="3600"), 504, 10102)
        _assert_hung_worker_replaced(small)


def test_a_lone_wrappers_config_also_sets_the_gateway_header_pass(tmp_path: Path) -> None:
    with serve(tmp_path, [FAULTY], "--workers", "1") as small:
        body = aiges_body("faulty", {"text": text_item("x")}, {"mode": "params"},
                          header={"app_id": "a1", "uid": "u1", "did": "d1"})
        response = post(small, "/v1/private/faulty", body)
        params = dict(ast.literal_eval(response.json()["payload"]["result"]["text"]))
    assert params["did"] == "d1" and params["app_id"] == "a1" and "uid" not in params


def test_message_over_the_grpc_limit_is_413_not_a_busy_worker(tmp_path: Path) -> None:
    env = {"ATHENA_GATEWAY_MAX_MESSAGE_MB": "1"}
    with serve(tmp_path, [FAULTY], "--workers", "1", env=env) as small:
        body = aiges_body("faulty", {"text": text_item("x" * 2_000_000)})
        message = assert_error(post(small, "/v1/private/faulty", body), 413, 10413)
        assert "max_message_mb" in message
        assert faulty(small, "ok").status_code == 200

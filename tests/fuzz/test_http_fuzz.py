"""HTTP bodies, headers, query strings and paths, generated and mutated, against the real
gateway in front of real echo and stream_echo workers: never a gateway fault, always an AIGES
error body, always an answer, and the next good call still served."""
from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.checks import check_http, exchange, record
from tests.fuzz.conftest import fuzz_settings, post
from tests.fuzz.served import ECHO_ROUTE, STREAM_ROUTE, Served
from tests.fuzz.strategies import (
    ENCODINGS,
    body_bytes,
    byte_mutations,
    encoded,
    hostile_text,
    mutated_bodies,
    valid_body,
)

JSON = "Content-Type: application/json"


def _send(stack: Served, path: str, raw: bytes, label: str, *headers: str) -> Any:
    answer = exchange(stack.host, stack.port, post(path, raw, *headers))
    reply = check_http(answer, raw[:400])
    record(label, answer.status if answer.status == 200 else
           f"{answer.status}/{reply['header']['code']}")
    return answer, reply


@fuzz_settings(600)
@given(raw=body_bytes())
def test_mutated_bodies_in_every_json_encoding_get_no_gateway_fault(
        stack: Served, good_call_every: Callable[[int], None], raw: bytes) -> None:
    _send(stack, ECHO_ROUTE, raw, "http body (structure)", JSON)
    good_call_every(25)


@fuzz_settings(600)
@given(data=st.data(), encoding=st.sampled_from(ENCODINGS))
def test_byte_mutated_valid_bodies_get_no_gateway_fault(
        stack: Served, good_call_every: Callable[[int], None], data: st.DataObject,
        encoding: str) -> None:
    raw = data.draw(byte_mutations(encoded(valid_body("echo", "bytes"), encoding, False, False)))
    _send(stack, ECHO_ROUTE, raw, "http body (bytes)", JSON)
    good_call_every(25)


_COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress, "deflate": zlib.compress,
    "deflate-raw": lambda data: zlib.compress(data, wbits=-15),
}


@fuzz_settings(200)
@given(data=st.data(), method=st.sampled_from(sorted(_COMPRESS)), mutate=st.booleans())
def test_compressed_bodies_mutated_before_or_after_compression_get_no_gateway_fault(
        stack: Served, good_call_every: Callable[[int], None], data: st.DataObject,
        method: str, mutate: bool) -> None:
    packed = _COMPRESS[method](data.draw(st.one_of(
        st.just(json.dumps(valid_body("echo", "packed")).encode()), body_bytes())))
    if mutate:
        packed = data.draw(byte_mutations(packed))
    encoding = "deflate" if method.startswith("deflate") else "gzip"
    _send(stack, ECHO_ROUTE, packed, "http body (compressed)", JSON,
          f"Content-Encoding: {encoding}")
    good_call_every(20)


_header_names = st.one_of(
    st.sampled_from(["Content-Type", "Content-Encoding", "Accept", "Accept-Encoding",
                     "X-Forwarded-For", "Authorization", "Expect", "Transfer-Encoding",
                     "X-Request-Id", "Cookie", "Origin", "Upgrade", "Range", "If-Match"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_0123456789!#$%&'*+.^`|~", min_size=1,
            max_size=20),
)
# visible ASCII, spaces and obs-text (latin-1 bytes 0x80-0xff), which HTTP/1.1 allows
_header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                   exclude_characters="\x7f"), max_size=60),
    st.sampled_from(["", "application/json; charset=utf-16", "text/event-stream;q=0",
                     "gzip, gzip", "chunked", "100-continue", "*/*;q=nan", "identity;q=1e999",
                     "application/json; charset=\"x\"", "bytes=0-1", "\xff\xfe"]),
)
_path_suffix = st.one_of(
    st.just(""),
    st.text(alphabet="abc/.%0123456789ABCDEF?&=#;+~", max_size=30),
    st.sampled_from(["/", "//", "/..", "/../../etc/passwd", "%2F", "%00", "%ff%fe", "?a=1&a=2",
                     "?" + "a" * 5000, ";jsessionid=1", "/%2e%2e/", "?q=%ud800", "#frag"]),
)


@fuzz_settings(500)
@given(
    method=st.sampled_from(["POST", "POST", "GET", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"]),
    route=st.sampled_from([ECHO_ROUTE, STREAM_ROUTE, "/v1/private/nope", "", "/readyz",
                           "/v1/abilities", "/healthz"]),
    suffix=_path_suffix,
    headers=st.lists(st.tuples(_header_names, _header_values), max_size=5),
    body=st.one_of(st.just(json.dumps(valid_body("echo", "h")).encode()), body_bytes()),
)
def test_odd_methods_paths_queries_and_headers_get_no_gateway_fault(
        stack: Served, good_call_every: Callable[[int], None], method: str, route: str,
        suffix: str, headers: list[tuple[str, str]], body: bytes) -> None:
    skipped = {"content-length", "connection", "host", "transfer-encoding", "expect"}
    lines = [f"{name}: {value}" for name, value in headers if name.lower() not in skipped]
    target = (route + suffix) or "/"
    if not target.startswith("/"):
        target = "/" + target
    request = "\r\n".join([f"{method} {target} HTTP/1.1", "Host: fuzz", "Connection: close",
                           f"Content-Length: {len(body)}", *lines])
    raw = request.encode("latin-1") + b"\r\n\r\n" + body
    answer = exchange(stack.host, stack.port, raw)
    record("http headers/query/path", answer.status)
    if method == "HEAD":
        assert answer.status < 500, answer
    elif route in ("/readyz", "/healthz", "/v1/abilities") and answer.status == 200:
        assert answer.json(), answer
    else:
        check_http(answer, raw[:400])
    good_call_every(25)


@fuzz_settings(300)
@given(
    body=st.one_of(mutated_bodies("stream_echo"), mutated_bodies("echo")),
    route=st.sampled_from([STREAM_ROUTE, ECHO_ROUTE]),
    accept=st.sampled_from(["text/event-stream", "application/json, text/event-stream;q=0.5",
                            "TEXT/EVENT-STREAM; q=1"]),
)
def test_sse_posts_of_mutated_bodies_end_with_results_or_one_aiges_error(
        stack: Served, good_call_every: Callable[[int], None], body: Any, route: str,
        accept: str) -> None:
    raw = json.dumps(body).encode("utf-8", "surrogatepass")
    answer, _ = _send(stack, route, raw, "sse post", JSON, f"Accept: {accept}")
    if answer.status == 200 and answer.headers["content-type"].startswith("text/event-stream"):
        events = _events(answer.body)
        assert events, answer
        for event, data in events:
            header = data["header"]
            if event == "error":
                assert header["code"] != 0 and header["message"], data
                assert header["code"] not in (10500, 10109, 10503), data
            else:
                assert event == "result" and header["code"] == 0, data
        record("sse post events", events[-1][0])
    good_call_every(20)


def _events(body: bytes) -> list[tuple[str, Any]]:
    events = []
    for block in body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


@fuzz_settings(100)
@given(key=hostile_text, where=st.sampled_from(["parameter", "payload", "desc", "header"]))
def test_hostile_keys_anywhere_in_a_valid_body_get_no_gateway_fault(
        stack: Served, good_call_every: Callable[[int], None], key: str, where: str) -> None:
    body = valid_body("echo", "k")
    target = {"parameter": body["parameter"]["echo"], "payload": body["payload"],
              "desc": body["payload"]["text"], "header": body["header"]}[where]
    target[key] = {"encoding": "utf8", "status": 3, "text": "aw=="} if where == "payload" \
        else "v"
    for encoding in ("utf-8", "utf-16"):
        raw = json.dumps(body, ensure_ascii=encoding == "utf-8").encode(encoding,
                                                                        "surrogatepass")
        _send(stack, ECHO_ROUTE, raw, "http hostile keys", JSON)
    good_call_every(10)

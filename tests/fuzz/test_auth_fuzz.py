"""Hostile credentials at an authenticating gateway (API keys and the iFlytek signature on):
API key headers, bearer tokens and query keys, `authorization` / `host` / `date` query values
from raw text to near-valid signatures with one field mutated, over HTTP and gRPC metadata.
Each is 401 (10401) or 403 (10403) in AIGES JSON (400, 10400 for a request line too long), or
served when it is in fact valid; never a 5xx; the process alive and a correctly signed call
served after."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote
from wsgiref.handlers import format_date_time

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loader.v1 import loader_pb2
from loader.v1.status import aiges_code_from
from loader.v1.wire import CALL_METHOD
from tests.fuzz.checks import TIMEOUT_S, check_http, exchange, record
from tests.fuzz.conftest import fuzz_settings, post
from tests.fuzz.served import ECHO_ROUTE, Served, served
from tests.fuzz.strategies import hostile_text, valid_body

KEY, SECRET, API_KEY = "fuzzkey", "fuzzsecret", "static-key-1"
HOST = "api.example.com"
# 400/10400: a request line over the HTTP parser's 8190 bytes (a long hostile query)
_AUTH_CODES = {401: 10401, 403: 10403, 400: 10400}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder: Path = tmp_path_factory.mktemp("auth")
    (folder / "iflytek").write_text(f"{KEY} {SECRET}\n")
    with served(api_keys=(API_KEY,), iflytek_keys_file=folder / "iflytek",
                body_timeout_s=1.0) as running:
        yield running


@pytest.fixture(scope="module")
def channel(guarded: Served) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(guarded.grpc) as open_channel:
        yield open_channel


def _signature(line: str, date: str, host: str = HOST, key: str = KEY,
               secret: str = SECRET, algorithm: str = "hmac-sha256",
               headers: str = "host date request-line") -> str:
    origin = f"host: {host}\ndate: {date}\n{line}"
    signed = base64.b64encode(hmac.new(_bytes(secret), _bytes(origin),
                                       hashlib.sha256).digest()).decode()
    fields = (f'api_key="{key}", algorithm="{algorithm}", headers="{headers}", '
              f'signature="{signed}"')
    return base64.b64encode(_bytes(fields)).decode()


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate goes out as it is


def _line() -> str:
    return f"POST {ECHO_ROUTE} HTTP/1.1"


_text = st.one_of(hostile_text, st.text(max_size=40), st.binary(max_size=40).map(
    lambda raw: base64.b64encode(raw).decode()))


@st.composite
def _signed_query(draw: st.DrawFn) -> dict[str, str]:
    """authorization, host and date: valid but for one part mutated (or left out)."""
    date = format_date_time(time.time())
    parts = {"key": KEY, "secret": SECRET, "algorithm": "hmac-sha256",
             "headers": "host date request-line", "host": HOST, "date": date}
    spoiled = draw(st.sampled_from([*parts, "authorization", "drop", "none"]))
    query = {"host": HOST, "date": date}
    if spoiled in ("date", "host"):
        query[spoiled] = draw(st.one_of(_text, st.sampled_from([
            format_date_time(time.time() - 3600), format_date_time(time.time() + 3600),
            "Mon, 99 Foo 2026 99:99:99 GMT", ""])))
    elif spoiled in parts:
        parts[spoiled] = draw(_text)
    authorization = _signature(_line(), parts["date"], parts["host"], parts["key"],
                               parts["secret"], parts["algorithm"], parts["headers"])
    if spoiled == "authorization":
        authorization = draw(_text)
    query["authorization"] = authorization
    if spoiled == "drop":
        del query[draw(st.sampled_from(sorted(query)))]
    return query


def _request(query: dict[str, str], *headers: str) -> bytes:
    encoded = "&".join(f"{quote(_bytes(k), safe='')}={quote(_bytes(v), safe='')}"
                       for k, v in query.items())
    path = ECHO_ROUTE + ("?" + encoded if encoded else "")
    return post(path, json.dumps(valid_body("echo", "auth")).encode(),
                "Content-Type: application/json", *headers)


def _check(answer: object, context: object) -> None:
    reply = check_http(answer, context)  # type: ignore[arg-type]
    status = answer.status  # type: ignore[attr-defined]
    if status == 200:
        record("http auth", 200)
        return
    assert status in _AUTH_CODES, (answer, context)
    assert reply["header"]["code"] == _AUTH_CODES[status], (answer, context)
    record("http auth", f"{status}/{reply['header']['code']}")


def _still_served(stack: Served) -> None:
    assert stack.alive()
    date = format_date_time(time.time())
    answer = exchange(stack.host, stack.port, _request(
        {"authorization": _signature(_line(), date), "host": HOST, "date": date}))
    assert answer.status == 200, answer


@fuzz_settings(300)
@given(query=_signed_query())
def test_mutated_iflytek_signatures_are_401_or_403_never_a_fault(guarded: Served,
                                                                 query: dict[str, str]) -> None:
    _check(exchange(guarded.host, guarded.port, _request(query)), query)


@fuzz_settings(200)
@given(value=st.one_of(_text, st.just(API_KEY)),
       where=st.sampled_from(["x-api-key", "bearer", "authorization", "query"]))
def test_hostile_api_keys_anywhere_are_401_or_403_never_a_fault(guarded: Served, value: str,
                                                                where: str) -> None:
    # a header value is sent as latin-1 bytes as they come: what HTTP allows there
    header = _bytes(value).decode("latin-1")
    header = header.replace("\r", " ").replace("\n", " ")
    if where == "query":
        raw = _request({"api_key": value})
    elif where == "bearer":
        raw = _request({}, f"Authorization: Bearer {header}")
    elif where == "authorization":
        raw = _request({}, f"Authorization: {header}")
    else:
        raw = _request({}, f"X-Api-Key: {header}")
    _check(exchange(guarded.host, guarded.port, raw), (where, value))


@fuzz_settings(150)
@given(query=_signed_query(), key=st.one_of(st.none(), _text))
def test_hostile_credentials_in_grpc_metadata_are_unauthenticated_or_denied(
        channel: grpc.Channel, query: dict[str, str], key: str | None) -> None:
    metadata = [("athena-ability", "echo")]
    for name, value in query.items():
        if value.isascii() and value.isprintable():  # grpc refuses other metadata values
            metadata.append((name, value))
    if key is not None and key.isascii() and key.isprintable():
        metadata.append(("x-api-key", key))
    request = loader_pb2.CallRequest(inputs=[loader_pb2.Data(
        key="text", type=0, status=3, data=b"auth")])  # type: ignore[arg-type]
    try:
        channel.unary_unary(CALL_METHOD)(request.SerializeToString(), metadata=metadata,
                                         timeout=TIMEOUT_S)
        record("grpc auth", "OK")
    except grpc.RpcError as error:
        code = aiges_code_from(error.trailing_metadata())  # type: ignore[attr-defined]
        outcome = f"{error.code().name}/{code}"  # type: ignore[attr-defined]
        if outcome == "RESOURCE_EXHAUSTED/None" and "metadata size" in str(error):
            outcome = "RESOURCE_EXHAUSTED (grpc: metadata over 8 KiB)"  # before any handler
        else:
            assert outcome in ("UNAUTHENTICATED/10401", "PERMISSION_DENIED/10403"), (
                outcome, error, metadata)
        assert error.details(), (error, metadata)  # type: ignore[attr-defined]
        record("grpc auth", outcome)


def test_a_correctly_signed_call_is_served_after_the_fuzzing(guarded: Served) -> None:
    _still_served(guarded)

"""What every fuzzed answer must be, whatever was sent: no gateway fault (a 500 only with a
wrapper's own code; no 502/503/504 while the workers are healthy), an AIGES error body (a
nonzero code and a message) for every refusal, an answer within its timeout. Each answer is
counted by path and outcome for the summary printed at the end of the run."""
from __future__ import annotations

import json
import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import grpc

from loader.v1.codes import Code
from loader.v1.status import aiges_code_from

__all__ = ["COUNTS", "GRPC_ALLOWED", "WRAPPER_CODES", "Answer", "check_error_header",
           "check_grpc_error", "check_http", "exchange", "record"]

TIMEOUT_S = 10.0  # no answer within this is a hang

# a 500 is the wrapper's when it carries one of these: 10106 is the contract's "the wrapper
# produced an output the request did not ask for" (echo answers every input under its own
# key), 109xx a wrapper method that failed, 13001 echo's own "no input"
WRAPPER_CODES = {Code.INVALID_OUTPUT, 13001, *range(Code.WRAPPER_INIT, Code.WRAPPER_EXEC_ASYNC + 1)}

COUNTS: Counter[tuple[str, str]] = Counter()


def record(path: str, outcome: str | int) -> None:
    COUNTS[(path, str(outcome))] += 1


def check_error_header(header: Any, context: object) -> int:
    """An AIGES error header: a nonzero int code and a nonempty message; the code."""
    assert isinstance(header, dict), context
    code, message = header.get("code"), header.get("message")
    assert isinstance(code, int) and code != 0, context
    assert isinstance(message, str) and message, context
    assert code != Code.GATEWAY_FAULT, context
    return code


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def check_http(answer: Answer, context: object) -> Any:
    """The answer's JSON body, after checking it is no gateway fault and, if it is an error,
    an AIGES error body."""
    assert answer.status not in (502, 503, 504), (answer, context)
    if answer.status == 200 and answer.headers.get("content-type", "").startswith(
            "text/event-stream"):
        return None
    try:
        reply = answer.json()
    except ValueError:
        raise AssertionError(f"not JSON: {answer!r} for {context!r}") from None
    assert isinstance(reply, dict), (answer, context)
    if answer.status == 200:
        assert reply["header"]["code"] == 0, (answer, context)
        return reply
    code = check_error_header(reply.get("header"), (answer, context))
    assert 400 <= answer.status < 500 or (answer.status == 500 and code in WRAPPER_CODES), (
        answer, context)
    return reply


GRPC_ALLOWED = {
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.INTERNAL,
}


def check_grpc_error(error: grpc.RpcError, context: object) -> str:
    """A refusal at the public gRPC edge: a status a client can act on, an AIGES code in the
    trailers, a message; INTERNAL only with a wrapper's own code. "STATUS/code", to count."""
    status = error.code()  # type: ignore[attr-defined]
    details = error.details()  # type: ignore[attr-defined]
    code = aiges_code_from(error.trailing_metadata())  # type: ignore[attr-defined]
    assert status in GRPC_ALLOWED, (status, details, context)
    assert code, (status, details, context)
    assert details, (status, code, context)
    assert code != Code.GATEWAY_FAULT, (status, details, context)
    if status is grpc.StatusCode.INTERNAL:
        assert code in WRAPPER_CODES, (status, code, details, context)
    return f"{status.name}/{code}"


def exchange(host: str, port: int, raw: bytes, timeout: float = TIMEOUT_S) -> Answer:
    """Send one raw HTTP/1.1 request (it should ask for Connection: close) and read the
    answer to its end; a hang past `timeout` fails."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking it all: read what it said
        chunks: list[bytes] = []
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"no complete answer within {timeout} s: "
                                     f"{b''.join(chunks)[:300]!r}") from None
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if _complete(b"".join(chunks)):
                break
    return _parse(b"".join(chunks))


def _split(data: bytes) -> tuple[int, dict[str, str], bytes] | None:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def _complete(data: bytes) -> bool:
    split = _split(data)
    if split is None:
        return False
    _, headers, body = split
    if "content-length" in headers:
        return len(body) >= int(headers["content-length"])
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return body.endswith(b"0\r\n\r\n")
    return False


def _parse(data: bytes) -> Answer:
    split = _split(data)
    assert split is not None, f"no HTTP answer: {data[:300]!r}"
    status, headers, body = split
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    elif "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return Answer(status, headers, body)


def _unchunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return b"".join(out)

"""Before a target is timed, one real call proves it echoes the payload: h2load counts HTTP
statuses, and a gRPC error is still HTTP 200, so correctness is checked here instead."""
from __future__ import annotations

import base64
import urllib.parse
import urllib.request

import grpc

from bench.bodies import Bodies, payload
from bench.targets import Target
from loader.v1.wire import message_options

__all__ = ["verify"]

_OPTIONS = message_options(128 << 20)


def verify(target: Target, bodies: Bodies) -> None:
    data = payload(bodies.size)
    body = target.body(bodies).read_bytes()
    if target.protocol == "REST":
        answer = _post(target, body)
        expected = base64.b64encode(data)
    else:
        answer = _grpc_call(target, body[5:])  # h2load sends the framed message
        expected = data
    if not target.echoes:
        if b'"code": 0' not in answer and b'"code":0' not in answer:
            raise RuntimeError(f"{target.name} failed: {answer[:300]!r}")
        return
    if expected not in answer:
        raise RuntimeError(f"{target.name} did not echo the {bodies.size}-byte payload; "
                           f"it answered {answer[:300]!r}")


def _post(target: Target, body: bytes) -> bytes:
    request = urllib.request.Request(target.url, data=body, method="POST", headers={
        "content-type": "application/json", "accept-encoding": "identity"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return bytes(reply.read())


def _grpc_call(target: Target, message: bytes) -> bytes:
    url = urllib.parse.urlsplit(target.url)
    metadata = tuple(tuple(h.split(": ", 1)) for h in target.headers)
    with grpc.insecure_channel(url.netloc, options=_OPTIONS) as channel:
        call = channel.unary_unary(url.path)
        return bytes(call(message, metadata=metadata, timeout=60))

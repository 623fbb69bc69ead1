"""Gateway codec throughput: athena_codec's base64 against binascii, and one request's JSON <->
wire conversion by the native codec against the Python path it replaced. Prints figures.

    .venv/bin/python bench/gateway_codec.py [--mib 16]
"""
from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import time
from collections.abc import Callable

import athena_codec

from gateway.translate import to_call, to_json
from loader.v1 import loader_pb2
from tests.gateway import reference_translate as reference


def best_of(fn: Callable[[], object], rounds: int = 7) -> float:
    """The fastest of a few runs, in seconds: other processes only ever add time."""
    fn()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def rate(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e9:6.2f} GB/s ({seconds * 1e3:7.2f} ms)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=16)
    size = parser.parse_args().mib * 1024 * 1024
    data = os.urandom(size)
    text = base64.b64encode(data).decode()
    body = ('{"header":{"app_id":"bench","status":3},"parameter":{"echo":{"data":{"encoding":'
            '"raw"}}},"payload":{"data":{"encoding":"raw","status":3,"audio":"' + text + '"}}}'
            ).encode()
    span = athena_codec.parse_request(body)["payload"]["data"]["audio"]
    one_input = [("data", 1, 3, {}, span)]
    print(f"payload {size} bytes, base64 {len(text)} characters")
    print("decode, GB/s of base64 text in:")
    print("  binascii.a2b_base64(str, strict) ", rate(len(text), best_of(
        lambda: binascii.a2b_base64(text, strict_mode=True))))
    print("  athena_codec.encode_call(span)    ", rate(len(text), best_of(
        lambda: athena_codec.encode_call(None, "", {}, one_input, []))))
    print("encode, GB/s of bytes in:")
    print("  base64.b64encode(bytes)           ", rate(size, best_of(
        lambda: base64.b64encode(data))))
    print("  athena_codec.render_json(bytes)   ", rate(size, best_of(
        lambda: athena_codec.render_json([data]))))

    reply = loader_pb2.CallResponse(sid="s", outputs=[
        loader_pb2.Data(key="data", type=1, status=3, desc={"encoding": "raw"}, data=data),
    ]).SerializeToString()
    accepts = to_call(athena_codec.parse_request(body), "echo", "s", ("app_id",)).accepts
    messages = [loader_pb2.Accept(key=k, attrs=a) for k, _, a in accepts]

    def old_request() -> bytes:
        return reference.to_call(json.loads(body), "echo", "s", ("app_id",)).SerializeToString()

    def old_response() -> bytes:
        result = loader_pb2.CallResponse.FromString(reply)
        return json.dumps(reference.to_json(result, messages), ensure_ascii=False).encode()

    def new_request() -> bytes:
        return to_call(athena_codec.parse_request(body), "echo", "s", ("app_id",)).request

    print("one request through the gateway's conversion (ms):")
    print(f"  request  JSON -> wire   python {best_of(old_request) * 1e3:7.2f}   native "
          f"{best_of(new_request) * 1e3:7.2f}")
    print(f"  response wire -> JSON   python {best_of(old_response) * 1e3:7.2f}   native "
          f"{best_of(lambda: to_json(reply, accepts)) * 1e3:7.2f}")


if __name__ == "__main__":
    main()

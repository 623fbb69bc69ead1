"""Smoke check for the MLServer echo peer (run with the mlserver venv's python).

    bench/.venvs/mlserver/bin/python bench/peers/mlserver/check.py \
        --http-port P --grpc-port Q --size N [--size M ...]

For each size: one REST request, one gRPC request with the payload in
``contents.bytes_contents`` and one with it in ``raw_input_contents``
(4-byte little-endian length prefix + payload). Each asserts that the echoed
output is byte-for-byte the input. Exits non-zero on the first failure.
"""

import argparse
import base64
import http.client
import json
import os
import struct
import sys
import time

import grpc
from mlserver.grpc import dataplane_pb2 as pb
from mlserver.grpc import dataplane_pb2_grpc as pb_grpc

MAX_MSG = 256 * 1024 * 1024


def check_rest(host: str, port: int, payload: bytes) -> str:
    b64 = base64.b64encode(payload).decode("ascii")
    body = json.dumps(
        {"inputs": [{"name": "INPUT", "shape": [1], "datatype": "BYTES", "data": [b64]}]}
    ).encode("ascii")
    conn = http.client.HTTPConnection(host, port, timeout=120)
    t0 = time.perf_counter()
    conn.request(
        "POST",
        "/v2/models/echo/infer",
        body=body,
        headers={"content-type": "application/json"},
    )
    resp = conn.getresponse()
    raw = resp.read()
    dt = time.perf_counter() - t0
    conn.close()
    if resp.status != 200:
        raise AssertionError(f"REST status {resp.status}: {raw[:300]!r}")
    out = json.loads(raw)["outputs"][0]
    assert out["name"] == "OUTPUT", out["name"]
    assert out["datatype"] == "BYTES", out["datatype"]
    assert out["shape"] == [1], out["shape"]
    assert out["data"][0] == b64, "REST echo mismatch"
    return (
        f"REST ok: request body {len(body)} B, response body {len(raw)} B, "
        f"content-encoding={resp.getheader('content-encoding')}, {dt * 1000:.1f} ms"
    )


def _infer(stub, req: pb.ModelInferRequest):
    t0 = time.perf_counter()
    resp = stub.ModelInfer(req, timeout=120)
    return resp, time.perf_counter() - t0


def check_grpc_contents(stub, payload: bytes) -> str:
    req = pb.ModelInferRequest(model_name="echo")
    inp = req.inputs.add()
    inp.name = "INPUT"
    inp.datatype = "BYTES"
    inp.shape.append(1)
    inp.contents.bytes_contents.append(payload)
    resp, dt = _infer(stub, req)
    out = resp.outputs[0]
    assert out.name == "OUTPUT" and out.datatype == "BYTES", (out.name, out.datatype)
    assert list(out.shape) == [1], list(out.shape)
    if len(resp.raw_output_contents):
        where = "raw_output_contents"
        (n,) = struct.unpack_from("<I", resp.raw_output_contents[0], 0)
        got = resp.raw_output_contents[0][4 : 4 + n]
    else:
        where = "outputs[0].contents.bytes_contents"
        assert len(out.contents.bytes_contents) == 1
        got = out.contents.bytes_contents[0]
    assert got == payload, "gRPC (bytes_contents) echo mismatch"
    return (
        f"gRPC bytes_contents ok: answer in {where}, "
        f"response {resp.ByteSize()} B, {dt * 1000:.1f} ms"
    )


def check_grpc_raw(stub, payload: bytes) -> str:
    req = pb.ModelInferRequest(model_name="echo")
    inp = req.inputs.add()
    inp.name = "INPUT"
    inp.datatype = "BYTES"
    inp.shape.append(1)
    req.raw_input_contents.append(struct.pack("<I", len(payload)) + payload)
    resp, dt = _infer(stub, req)
    out = resp.outputs[0]
    assert out.name == "OUTPUT" and out.datatype == "BYTES", (out.name, out.datatype)
    assert list(out.shape) == [1], list(out.shape)
    if len(resp.raw_output_contents):
        where = "raw_output_contents (4-byte LE length + payload)"
        raw = resp.raw_output_contents[0]
        (n,) = struct.unpack_from("<I", raw, 0)
        assert len(raw) == 4 + n, (len(raw), n)
        got = raw[4:]
    else:
        where = "outputs[0].contents.bytes_contents"
        got = out.contents.bytes_contents[0]
    assert got == payload, "gRPC (raw_input_contents) echo mismatch"
    return (
        f"gRPC raw_input_contents ok: answer in {where}, "
        f"response {resp.ByteSize()} B, {dt * 1000:.1f} ms"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--grpc-port", type=int, required=True)
    ap.add_argument("--size", type=int, action="append", required=True,
                    help="payload size in bytes; repeatable")
    args = ap.parse_args()

    channel = grpc.insecure_channel(
        f"{args.host}:{args.grpc_port}",
        options=[
            ("grpc.max_send_message_length", MAX_MSG),
            ("grpc.max_receive_message_length", MAX_MSG),
        ],
    )
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    failures = 0
    for size in args.size:
        payload = os.urandom(size)
        for name, fn in (
            ("rest", lambda payload=payload: check_rest(args.host, args.http_port, payload)),
            ("grpc-contents", lambda payload=payload: check_grpc_contents(stub, payload)),
            ("grpc-raw", lambda payload=payload: check_grpc_raw(stub, payload)),
        ):
            try:
                print(f"size={size} {fn()}", flush=True)
            except Exception as exc:  # report and keep going
                failures += 1
                print(f"size={size} {name} FAILED: {type(exc).__name__}: {exc}",
                      flush=True)
    channel.close()
    print("OK" if not failures else f"{failures} check(s) FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

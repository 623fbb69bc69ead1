"""Round-trip check of the "echo" model on a Triton / PyTriton server.

Run with the triton venv's interpreter (tritonclient comes with nvidia-pytriton):

    bench/.venvs/triton/bin/python bench/peers/triton/check.py \
        --http-port 8000 --grpc-port 8001 --size 1048576

Sends the same request shapes the benchmark harness uses:
  * REST (JSON, no binary extension): POST /v2/models/echo/infer with
    {"inputs":[{"name":"INPUT","shape":[1],"datatype":"BYTES","data":["<base64>"]}]}
    where <base64> is the base64 text of SIZE random bytes; the response's
    outputs[0].data[0] must be that same string.
  * gRPC ModelInfer, two input forms carrying SIZE random bytes:
      raw:   raw_input_contents = [<uint32 LE length> + payload]
      typed: inputs[0].contents.bytes_contents = [payload]
    The response must carry the payload back, either as
    raw_output_contents[0] (length-prefixed) or outputs[0].contents.bytes_contents.
Exits non-zero if any check fails.
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
from tritonclient.grpc import service_pb2, service_pb2_grpc

MODEL = "echo"
GRPC_MAX = 256 * 1024 * 1024  # client-side send/receive limit


def check_rest(host, port, payload, timeout):
    text = base64.b64encode(payload).decode("ascii")
    body = json.dumps(
        {"inputs": [{"name": "INPUT", "shape": [1], "datatype": "BYTES", "data": [text]}]}
    ).encode()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.perf_counter()
    conn.request(
        "POST",
        f"/v2/models/{MODEL}/infer",
        body=body,
        headers={"Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    raw = resp.read()
    dt = time.perf_counter() - t0
    conn.close()
    if resp.status != 200:
        return False, f"HTTP {resp.status}: {raw[:300]!r}"
    out = json.loads(raw)["outputs"][0]
    ok = out["name"] == "OUTPUT" and out["datatype"] == "BYTES" and out["data"][0] == text
    return ok, (f"status=200 req_body={len(body)}B resp_body={len(raw)}B "
                f"datatype={out['datatype']} shape={out['shape']} {dt * 1000:.1f}ms")


def check_grpc(stub, payload, form, timeout):
    req = service_pb2.ModelInferRequest(model_name=MODEL)
    inp = req.inputs.add(name="INPUT", datatype="BYTES", shape=[1])
    if form == "raw":
        req.raw_input_contents.append(struct.pack("<I", len(payload)) + payload)
    else:
        inp.contents.bytes_contents.append(payload)
    t0 = time.perf_counter()
    try:
        resp = stub.ModelInfer(req, timeout=timeout)
    except grpc.RpcError as e:
        return False, f"RPC error {e.code()}: {e.details()}"
    dt = time.perf_counter() - t0
    if resp.raw_output_contents:
        blob = resp.raw_output_contents[0]
        where = "raw_output_contents[0]"
        ok = blob == struct.pack("<I", len(payload)) + payload
    elif resp.outputs and resp.outputs[0].contents.bytes_contents:
        where = "outputs[0].contents.bytes_contents[0]"
        ok = resp.outputs[0].contents.bytes_contents[0] == payload
    else:
        return False, "response carries no output data"
    out = resp.outputs[0]
    ok = ok and out.name == "OUTPUT" and out.datatype == "BYTES"
    return ok, (f"output in {where} datatype={out.datatype} shape={list(out.shape)} "
                f"{dt * 1000:.1f}ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--grpc-port", type=int, required=True)
    ap.add_argument("--size", type=int, required=True, help="payload size in bytes")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    payload = os.urandom(args.size)
    results = []

    ok, info = check_rest(args.host, args.http_port, payload, args.timeout)
    results.append(("rest-json", ok, info))

    channel = grpc.insecure_channel(
        f"{args.host}:{args.grpc_port}",
        options=[
            ("grpc.max_send_message_length", GRPC_MAX),
            ("grpc.max_receive_message_length", GRPC_MAX),
        ],
    )
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    for form in ("raw", "bytes_contents"):
        ok, info = check_grpc(stub, payload, form, args.timeout)
        results.append((f"grpc-{form}", ok, info))
    channel.close()

    for name, ok, info in results:
        print(f"size={args.size} {name:<19} {'PASS' if ok else 'FAIL'} {info}")
    failed = [name for name, ok, _ in results if not ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

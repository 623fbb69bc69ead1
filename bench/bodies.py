"""The request each target gets, written once per payload size as files h2load sends.

Every target receives the same payload bytes; only the envelope differs:
- AIGES JSON (ours and the raw stack's REST): base64 in `payload.data.audio`.
- loader.v1 CallRequest (ours over gRPC, and the raw stack's gRPC echo, which treats it as
  opaque bytes).
- V2 / Open Inference Protocol JSON (Triton, PyTriton, MLServer): a BYTES tensor whose one
  element is the same base64 text, which the echo models hand back untouched.
- V2 ModelInferRequest over gRPC: the payload bytes in a BYTES tensor, either as
  `raw_input_contents` (Triton's fast path, 4-byte length prefix) or `contents.bytes_contents`.
"""
from __future__ import annotations

import base64
import json
import random
import struct
from dataclasses import dataclass
from pathlib import Path

from loader.v1 import loader_pb2

__all__ = ["Bodies", "payload", "write_bodies"]

ECHO_MODEL = "echo"


def payload(size: int) -> bytes:
    """Incompressible and reproducible, so no layer can cheat by compressing."""
    return random.Random(size).randbytes(size)


def _grpc_frame(message: bytes) -> bytes:
    return b"\0" + struct.pack(">I", len(message)) + message  # uncompressed gRPC frame


def aiges_json(data: bytes, service_id: str = "echo") -> bytes:
    body = {
        "header": {"app_id": "bench", "status": 3},
        "parameter": {service_id: {"data": {"encoding": "raw"}}},
        "payload": {"data": {"encoding": "raw", "status": 3,
                             "audio": base64.b64encode(data).decode("ascii")}},
    }
    return json.dumps(body).encode()


def loader_call(data: bytes) -> bytes:
    call = loader_pb2.CallRequest(
        sid="bench",
        inputs=[loader_pb2.Data(key="data", type=1, status=3, data=data)],
        accepts=[loader_pb2.Accept(key="data", type=1)],
    )
    return call.SerializeToString()


def v2_json(data: bytes) -> bytes:
    tensor = {"name": "INPUT", "shape": [1], "datatype": "BYTES",
              "data": [base64.b64encode(data).decode("ascii")]}
    return json.dumps({"inputs": [tensor]}).encode()


# V2 ModelInferRequest, encoded by hand (field numbers from the Open Inference Protocol's
# grpc_predict_v2.proto) so the harness needs neither peer's generated code.
def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def v2_infer(data: bytes, raw: bool) -> bytes:
    tensor = _field(1, b"INPUT") + _field(2, b"BYTES") + _field(3, _varint(1))  # shape [1]
    if raw:
        tensor_and_data = _field(5, tensor) + _field(7, struct.pack("<I", len(data)) + data)
    else:
        tensor_and_data = _field(5, tensor + _field(5, _field(8, data)))  # bytes_contents
    return _field(1, ECHO_MODEL.encode()) + tensor_and_data


@dataclass(frozen=True)
class Bodies:
    size: int
    aiges_json: Path
    loader_grpc: Path
    v2_json: Path
    v2_grpc_raw: Path
    v2_grpc_contents: Path
    spin_json: Path  # the CPU-bound ability of the scaling cells


def write_bodies(folder: Path, size: int) -> Bodies:
    data = payload(size)
    files = {
        "aiges_json": aiges_json(data),
        "loader_grpc": _grpc_frame(loader_call(data)),
        "v2_json": v2_json(data),
        "v2_grpc_raw": _grpc_frame(v2_infer(data, raw=True)),
        "v2_grpc_contents": _grpc_frame(v2_infer(data, raw=False)),
        "spin_json": aiges_json(data, service_id="spin"),
    }
    paths = {}
    for name, content in files.items():
        path = folder / f"{name}-{size}.bin"
        path.write_bytes(content)
        paths[name] = path
    return Bodies(size=size, **paths)

"""`athena call`: a client for one-shot calls over HTTP (AIGES JSON) or gRPC (loader.v1)."""
from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from gateway.translate import infer_type
from loader.v1.wire import ABILITY_METADATA, CALL_METHOD, DATA_KEYS, TYPE_NAMES

__all__ = ["Input", "Output", "accept_pairs", "call", "grpc_accept", "grpc_error_line",
           "json_outputs", "param_pairs",
           "parse_input", "show_outputs"]


# (name, kind, data, attributes) per output
Output: TypeAlias = tuple[str, str, bytes, dict[str, str]]
# (sid, outputs) on success, or the error line to print
_Result: TypeAlias = "tuple[str, list[Output]] | str"


@dataclass(frozen=True)
class Input:
    name: str
    kind: str  # text | audio | image | video
    data: bytes
    attrs: dict[str, str]


def parse_input(kind: str, spec: str) -> Input:
    """NAME=VALUE, NAME=@file, or VALUE alone (NAME defaults to the kind)."""
    name, sep, value = spec.partition("=")
    if not sep:
        name, value = kind, spec
    if value.startswith("@"):
        data = Path(value[1:]).read_bytes()
    else:
        data = value.encode("utf-8")
    attrs = {"encoding": "utf8"} if kind == "text" else {}
    return Input(name, kind, data, attrs)


def param_pairs(specs: Sequence[str]) -> dict[str, str]:
    """--param KEY=VALUE options as a dict."""
    pairs = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep:
            raise SystemExit(f"athena call: --param {spec!r} must look like KEY=VALUE")
        pairs[key] = value
    return pairs


def accept_pairs(specs: Sequence[str]) -> dict[str, dict[str, str]]:
    """--accept NAME[:ENCODING] options as AIGES accept objects by name."""
    accepts = {}
    for spec in specs:
        name, _, encoding = spec.partition(":")
        accepts[name] = {"encoding": encoding or "utf8", "compress": "raw", "format": "plain"}
    return accepts


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def show_outputs(outputs: Sequence[Output], out_dir: Path | None, index: int | None = None
                 ) -> None:
    """Text as text; text that is not UTF-8 as `name: base64:<base64>` (never replacement
    characters: the bytes stay recoverable); other kinds by size. With out_dir, every output
    is written there as it arrived, to `<name>.<suffix>`, or `<name>.<index>.<suffix>` when
    results are numbered (a stream's)."""
    for name, kind, data, attrs in outputs:
        text = _utf8(data) if kind == "text" else None
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            # the HTTP gateway marks non-UTF-8 text "base64": that names the transport, not
            # the bytes, which are saved decoded
            suffix = "bin" if kind == "text" and text is None else attrs.get("encoding", "bin")
            numbered = name if index is None else f"{name}.{index}"
            target = out_dir / f"{numbered}.{suffix}"
            target.write_bytes(data)
            print(f"{name} ({kind}, {len(data)} bytes) -> {target}")
        elif text is not None:
            print(f"{name}: {text}")
        elif kind == "text":
            print(f"{name}: base64:{base64.b64encode(data).decode('ascii')}")
            print(f"athena call: text output {name!r} is not UTF-8 ({len(data)} bytes): printed "
                  "as base64; --out-dir saves the bytes", file=sys.stderr)
        else:
            print(f"{name}: {kind}, {len(data)} bytes (use --out-dir to save it)")


def _call_http(url: str, inputs: Sequence[Input], params: dict[str, str],
               accepts: dict[str, dict[str, str]], timeout: float) -> _Result:
    service_id = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    body = {
        "header": {"app_id": "athena-cli", "status": 3},
        "parameter": {service_id: {**params, **accepts}},
        "payload": {
            i.name: {**i.attrs, "status": 3, i.kind: base64.b64encode(i.data).decode("ascii")}
            for i in inputs
        },
    }
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
    except urllib.error.HTTPError as error:
        return _failed(error.code, error.read())
    except urllib.error.URLError as error:
        raise SystemExit(f"athena call: cannot reach {url}: {error.reason}") from None
    return str(reply["header"].get("sid", "")), json_outputs(reply.get("payload") or {})


def json_outputs(payload: dict[str, Any]) -> list[Output]:
    """The outputs of an AIGES JSON reply's payload, data decoded."""
    outputs = []
    for name, item in payload.items():
        kind = next((k for k in DATA_KEYS if k in item), "text")
        raw = item[kind]
        text_raw = kind == "text" and item.get("encoding") != "base64"
        data = raw.encode("utf-8") if text_raw else base64.b64decode(raw)
        outputs.append((name, kind, data, {k: str(v) for k, v in item.items() if k != kind}))
    return outputs


def _failed(status: int, body: bytes) -> _Result:
    try:
        header = json.loads(body)["header"]
        return f"error {header['code']}: {header['message']} (HTTP {status})"
    except (ValueError, KeyError, TypeError):
        return f"error: HTTP {status}: {body[:500]!r}"


def _call_grpc(target: str, ability: str | None, inputs: Sequence[Input],
               params: dict[str, str], accepts: dict[str, dict[str, str]], timeout: float
               ) -> _Result:
    import grpc

    from loader.v1 import loader_pb2

    request = loader_pb2.CallRequest(
        params=params,
        inputs=[loader_pb2.Data(key=i.name, type=DATA_KEYS[i.kind], status=3,  # type: ignore[arg-type]
                                desc=i.attrs, data=i.data) for i in inputs],
        accepts=[grpc_accept(name, attrs) for name, attrs in accepts.items()],
    )
    metadata = [(ABILITY_METADATA, ability)] if ability else None
    with grpc.insecure_channel(target) as channel:
        stub = channel.unary_unary(CALL_METHOD,
                                   request_serializer=loader_pb2.CallRequest.SerializeToString,
                                   response_deserializer=loader_pb2.CallResponse.FromString)
        try:
            reply = stub(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as error:
            return grpc_error_line(error)
    return reply.sid, [(o.key, TYPE_NAMES.get(o.type, "text"), o.data, dict(o.desc))
                       for o in reply.outputs]


def grpc_error_line(error: Any) -> str:
    """What to print for a gRPC call that failed: its AIGES code (when it carries one), its
    message and its gRPC status."""
    from loader.v1.status import aiges_code_from

    code = aiges_code_from(error.trailing_metadata())
    prefix = "error" if code is None else f"error {code}"
    return f"{prefix}: {error.details()} (gRPC {error.code().name})"


def grpc_accept(name: str, attrs: dict[str, str]) -> Any:
    """An accept object as a loader.v1 Accept (its type inferred from the attributes)."""
    from loader.v1 import loader_pb2

    accept = loader_pb2.Accept(key=name, attrs=attrs)
    data_type = infer_type(attrs)
    if data_type is not None:
        accept.type = data_type  # type: ignore[assignment]  # an int of the enum
    return accept


def call(target: str, inputs: Sequence[Input], params: Sequence[str], accepts: Sequence[str],
         ability: str | None, out_dir: str | None, timeout: float) -> int:
    """Print the outputs (0), or the AIGES error (1)."""
    if not inputs:
        raise SystemExit("athena call: give at least one input (--text, --image, --audio, --video)")
    pairs, wanted = param_pairs(params), accept_pairs(accepts)
    if target.startswith("grpc://"):
        result = _call_grpc(target.removeprefix("grpc://"), ability, inputs, pairs, wanted,
                            timeout)
    else:
        # a WebSocket URL names the same route: a one-shot call POSTs to it
        url = "http" + target.removeprefix("ws") if target.startswith("ws") else target
        result = _call_http(url, inputs, pairs, wanted, timeout)
    if isinstance(result, str):
        print(result, file=sys.stderr)
        return 1
    sid, outputs = result
    print(f"sid: {sid}")
    show_outputs(outputs, Path(out_dir) if out_dir else None)
    return 0

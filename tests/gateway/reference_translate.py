"""The pure-Python translation the native codec replaced, kept as the tests' oracle: protobuf
messages built from json.loads output, and the JSON dict json.dumps rendered."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.errors import BadRequest
from gateway.translate import DATA_KEYS, infer_type
from loader.v1 import loader_pb2
from loader.v1.codes import Code

_TYPE_KEYS = {number: name for name, number in DATA_KEYS.items()}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _object(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = body.get(name, {})
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest(f"{name!r} must be a JSON object, not {type(value).__name__}")
    return value


def to_call(body: Any, service_id: str, sid: str, header_pass: Sequence[str]
            ) -> loader_pb2.CallRequest:
    if not isinstance(body, Mapping):
        raise BadRequest(f"the request body must be a JSON object, not {type(body).__name__}")
    header = _object(body, "header")
    parameter = _object(body, "parameter")
    payload = _object(body, "payload")
    strangers = [key for key in parameter if key != service_id]
    if strangers:
        raise BadRequest(
            f"parameter must be keyed by the ability's service id {service_id!r}; "
            f"got {', '.join(map(repr, strangers))}"
        )
    params = {key: _scalar(header[key]) for key in header_pass
              if header.get(key) is not None and not isinstance(header[key], (Mapping, list))}
    accepts = []
    for key, value in _object(parameter, service_id).items():
        if isinstance(value, Mapping):
            # its attributes stay at the gateway, for the reply: the worker never reads them
            accept = loader_pb2.Accept(key=key)
            data_type = infer_type(value)
            if data_type is not None:
                accept.type = data_type  # type: ignore[assignment]
            accepts.append(accept)
        elif isinstance(value, list):
            raise BadRequest(f"parameter {key!r}: a list is not a valid parameter value",
                             Code.BAD_PARAMETER)
        elif value is not None:
            params[key] = _scalar(value)
    if not payload:
        raise BadRequest("payload is empty: send at least one input", Code.REQUEST_CONVERSION)
    inputs = [_input(name, item) for name, item in payload.items()]
    return loader_pb2.CallRequest(sid=sid, params=params, inputs=inputs, accepts=accepts)


def _input(name: str, item: Any) -> loader_pb2.Data:
    if not isinstance(item, Mapping):
        raise BadRequest(f"payload {name!r} must be a JSON object", Code.REQUEST_CONVERSION)
    carried = [key for key in DATA_KEYS if key in item]
    if len(carried) != 1:
        raise BadRequest(
            f"payload {name!r} must carry exactly one of text, audio, image, video "
            f"(found {len(carried)})",
            Code.REQUEST_CONVERSION,
        )
    kind = carried[0]
    encoded = item[kind]
    if not isinstance(encoded, str):
        raise BadRequest(f"payload {name!r}: {kind} must be a base64 string",
                         Code.REQUEST_CONVERSION)
    try:
        data = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"payload {name!r}: {kind} is not valid base64",
                         Code.REQUEST_CONVERSION) from None
    status = item.get("status", 3)
    try:
        status = int(status)
    except (TypeError, ValueError):
        raise BadRequest(f"payload {name!r}: status {status!r} is not 0, 1, 2 or 3",
                         Code.REQUEST_CONVERSION) from None
    desc = {
        key: _scalar(value)
        for key, value in item.items()
        if key not in (kind, "status") and value is not None
        and not isinstance(value, (Mapping, list))
    }
    return loader_pb2.Data(
        key=name, type=DATA_KEYS[kind], status=status, desc=desc, data=data  # type: ignore[arg-type]
    )


def to_json(response: loader_pb2.CallResponse, accepts: Sequence[loader_pb2.Accept]
            ) -> dict[str, Any]:
    asked = {accept.key: dict(accept.attrs) for accept in accepts}
    payload: dict[str, Any] = {}
    for output in response.outputs:
        kind = _TYPE_KEYS.get(output.type, "text")
        item: dict[str, Any] = {**asked.get(output.key, {}), **output.desc}
        item.update(seq="0", status=str(output.status))
        if kind == "text":
            try:
                item[kind] = output.data.decode("utf-8")
            except UnicodeDecodeError:
                item["encoding"] = "base64"
        if kind not in item:
            item[kind] = base64.b64encode(output.data).decode("ascii")
        payload[output.key] = item
    header = {"code": 0, "message": "success", "sid": response.sid, "status": 3}
    return {"header": header, "payload": payload}

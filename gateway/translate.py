"""AIGES JSON <-> loader.v1 messages: pure functions, tested without a server."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.errors import BadRequest
from loader.codes import Code
from loader.v1 import loader_pb2

__all__ = ["DATA_KEYS", "infer_type", "to_call", "to_json"]

# the key inside a payload item that carries its data, and the AIGES data type it means
DATA_KEYS: dict[str, int] = {"text": 0, "audio": 1, "image": 2, "video": 3}
_TYPE_KEYS = {number: name for name, number in DATA_KEYS.items()}
_ONCE = 3

# when neither the request nor a schema gives an accept's type, its encoding usually does
_ENCODING_TYPES: dict[str, int] = {
    **dict.fromkeys(("utf8", "utf-8", "gb2312", "gbk", "plain", "json", "ascii"), 0),
    **dict.fromkeys(("raw", "pcm", "wav", "lame", "mp3", "speex", "speex-wb", "opus",
                     "opus-wb", "amr", "aac", "flac", "ico"), 1),
    **dict.fromkeys(("jpg", "jpeg", "png", "bmp", "gif", "webp", "tiff"), 2),
    **dict.fromkeys(("h264", "h265", "mp4", "avi", "flv"), 3),
}


def infer_type(attrs: Mapping[str, Any]) -> int | None:
    encoding = str(attrs.get("encoding", "")).lower()
    return _ENCODING_TYPES.get(encoding)


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


def to_call(
    body: Any, service_id: str, sid: str, header_pass: Sequence[str]
) -> loader_pb2.CallRequest:
    """The CallRequest for one AIGES JSON request body (already parsed from JSON)."""
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
    params = {key: _scalar(header[key]) for key in header_pass if key in header}
    accepts = []
    for key, value in _object(parameter, service_id).items():
        if isinstance(value, Mapping):
            accepts.append(_accept(key, value))
        elif isinstance(value, list):
            raise BadRequest(f"parameter {key!r}: a list is not a valid parameter value",
                             Code.BAD_PARAMETER)
        elif value is not None:
            params[key] = _scalar(value)
    params["sid"] = sid
    if not payload:
        raise BadRequest("payload is empty: send at least one input", Code.REQUEST_CONVERSION)
    inputs = [_input(name, item) for name, item in payload.items()]
    return loader_pb2.CallRequest(sid=sid, params=params, inputs=inputs, accepts=accepts)


def _accept(key: str, attrs: Mapping[str, Any]) -> loader_pb2.Accept:
    flat = {k: _scalar(v) for k, v in attrs.items() if not isinstance(v, (Mapping, list))}
    accept = loader_pb2.Accept(key=key, attrs=flat)
    data_type = infer_type(attrs)
    if data_type is not None:
        accept.type = data_type  # type: ignore[assignment]
    return accept


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
        # the one unavoidable copy: base64 text in JSON becomes bytes
        data = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"payload {name!r}: {kind} is not valid base64",
                         Code.REQUEST_CONVERSION) from None
    status = item.get("status", _ONCE)
    try:
        status = int(status)
    except (TypeError, ValueError):
        raise BadRequest(f"payload {name!r}: status {status!r} is not 0, 1, 2 or 3",
                         Code.REQUEST_CONVERSION) from None
    desc = {
        key: _scalar(value)
        for key, value in item.items()
        if key not in (kind, "status") and not isinstance(value, (Mapping, list))
    }
    # copy: protobuf copies data into the message
    return loader_pb2.Data(
        key=name, type=DATA_KEYS[kind], status=status, desc=desc, data=data  # type: ignore[arg-type]
    )


def to_json(
    response: loader_pb2.CallResponse, accepts: Sequence[loader_pb2.Accept]
) -> dict[str, Any]:
    """The AIGES JSON success body for a worker's CallResponse."""
    asked = {accept.key: dict(accept.attrs) for accept in accepts}
    payload: dict[str, Any] = {}
    for output in response.outputs:
        kind = _TYPE_KEYS.get(output.type, "text")
        item: dict[str, Any] = {**asked.get(output.key, {}), **output.desc}
        item.update(seq="0", status=str(output.status))
        item[kind] = _rendered(output, kind, item)
        payload[output.key] = item
    header = {"code": 0, "message": "success", "sid": response.sid, "status": _ONCE}
    return {"header": header, "payload": payload}


def _rendered(output: loader_pb2.Data, kind: str, item: dict[str, Any]) -> str:
    """Text goes back as text; everything else, and text that is not UTF-8, as base64."""
    if kind == "text":
        try:
            return output.data.decode("utf-8")
        except UnicodeDecodeError:
            item["encoding"] = "base64"
    return base64.b64encode(output.data).decode("ascii")  # copies: encode, then bytes -> str

"""AIGES JSON <-> loader.v1 messages: pure functions, tested without a server.

The bytes go through athena_codec: a request's payloads arrive as Base64Spans into the HTTP
body (parse_request) and are decoded straight into the CallRequest wire bytes (encode_call);
a response's payloads are views into the worker's reply (parse_response), base64-encoded
straight into the JSON text (render_json). Only the small dicts around them are Python's.
"""
from __future__ import annotations

import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiges_embed import Payload
from athena_codec import Base64Error, Base64Span, encode_call, parse_response, render_json

from gateway.errors import BadRequest
from loader.v1 import loader_pb2
from loader.v1.codes import Code
from loader.v1.wire import DATA_KEYS, DATA_ONCE, TYPE_NAMES

__all__ = ["DATA_END", "Accept", "Call", "infer_type", "to_call", "to_json"]

_INT32 = range(-(2**31), 2**31)
DATA_END: int = loader_pb2.DATA_STATUS_END
_LAST = (DATA_END, DATA_ONCE)  # the statuses after which no more input follows

# (key, data type or None when unknown, attributes) of one output the client asked for
Accept = tuple[str, int | None, dict[str, str]]
# (key, data type, status, desc, data) of one input, as encode_call takes it
_Input = tuple[str, int, int, dict[str, str], Base64Span | bytes]


@dataclass(frozen=True)
class Call:
    """One translated request: the CallRequest wire bytes and the outputs it asks for."""

    request: bytes
    accepts: list[Accept]


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


def _given(value: Any) -> bool:
    """Whether an attribute, header field or parameter value is one to pass on as a string:
    a JSON null is the same as leaving it out (never the text "None"), objects and lists
    are not attributes."""
    return value is not None and not isinstance(value, (Mapping, list))


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


def to_call(body: Any, service_id: str, sid: str, header_pass: Sequence[str], *,
            whole_as: int | None = None) -> Call:
    """The CallRequest for one AIGES JSON request body (already parsed from JSON, by
    parse_request or json.loads).

    `whole_as` is for a body that is the whole input at once (a server-sent events request):
    every payload item's status becomes it (DATA_END for a session, whose wrappers know
    0/1/2 only, DATA_ONCE for a once call), whether the item says 2, 3 or nothing; an item
    that says 0 or 1 (more to come) is refused with 10001, as there is no more to come."""
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
    params = {key: _scalar(header[key]) for key in header_pass if _given(header.get(key))}
    accepts: list[Accept] = []
    for key, value in _object(parameter, service_id).items():
        if isinstance(value, Mapping):
            accepts.append(_accept(key, value))
        elif isinstance(value, list):
            raise BadRequest(f"parameter {key!r}: a list is not a valid parameter value",
                             Code.BAD_PARAMETER)
        elif value is not None:
            params[key] = _scalar(value)
    if not payload:
        raise BadRequest("payload is empty: send at least one input", Code.REQUEST_CONVERSION)
    inputs: list[_Input] = []
    for name, item in payload.items():
        try:
            inputs.append(_input(name, item, whole_as))
        except BadRequest:
            _raise_if_not_base64(inputs)  # an earlier item's bad base64 is the first error
            raise
    try:
        return Call(_encode(sid, params, inputs, accepts), accepts)
    except UnicodeEncodeError:  # the wire's strings are UTF-8: a lone surrogate has none
        raise _not_unicode(header_pass, params, inputs, accepts) from None


def _accept(key: str, attrs: Mapping[str, Any]) -> Accept:
    flat = {k: _scalar(v) for k, v in attrs.items() if _given(v)}
    # never sent to the worker, but echoed into the reply's UTF-8
    for name, value in flat.items():
        if not (_encodes(name) and _encodes(value)):
            where = f"attribute key {name!r}" if not _encodes(name) else f"attribute {name!r}"
            raise _lone_surrogate(f"parameter {key!r}: {where}")
    return key, infer_type(attrs), flat


def _encodes(text: str) -> bool:
    """Whether `text` has a UTF-8 form: every str does but one holding a lone surrogate
    (\\ud800, which JSON's \\u escapes can write)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_unicode(header_pass: Sequence[str], params: Mapping[str, str],
                 inputs: list[_Input], accepts: list[Accept]) -> BadRequest:
    """Error path only: the first string encode_call could not write, named."""
    for key, value in params.items():
        field = "header field" if key in header_pass else "parameter"
        if not _encodes(key):
            return _lone_surrogate(f"{field} key {key!r}")
        if not _encodes(value):
            return _lone_surrogate(f"{field} {key!r}")
    for key, _, _ in accepts:
        if not _encodes(key):
            return _lone_surrogate(f"parameter key {key!r}")
    for name, _, _, desc, _ in inputs:
        if not _encodes(name):
            return _lone_surrogate(f"payload key {name!r}")
        for attr, value in desc.items():
            if not _encodes(attr):
                return _lone_surrogate(f"payload {name!r}: attribute key {attr!r}")
            if not _encodes(value):
                return _lone_surrogate(f"payload {name!r}: attribute {attr!r}")
    return _lone_surrogate("a string of the request")


def _lone_surrogate(where: str) -> BadRequest:
    return BadRequest(f"{where} is not Unicode text: it holds a lone surrogate (such as "
                      "\\ud800), which has no UTF-8 form", Code.REQUEST_CONVERSION)


def _encode(sid: str, params: dict[str, str], inputs: list[_Input], accepts: list[Accept]
            ) -> bytes:
    try:
        # the one pass over each payload: its base64 is decoded straight into the wire bytes
        return encode_call(None, sid, params, inputs, accepts)
    except Base64Error as error:
        # encode_call checks every span's padding before any span's alphabet, so the item it
        # names may come after another bad one: report the first in item order
        _raise_if_not_base64(inputs)
        name, data_type = inputs[error.index][:2]
        raise _not_base64(name, TYPE_NAMES[data_type]) from None


def _raise_if_not_base64(inputs: list[_Input]) -> None:
    """Error path only: spans are decoded last, but their bad base64 is reported in item
    order, before any later problem, as when every item was decoded on its own. A scan of
    each span, nothing decoded or allocated."""
    for name, data_type, _, _, data in inputs:
        if isinstance(data, Base64Span) and not data.is_valid():
            raise _not_base64(name, TYPE_NAMES[data_type])


def _not_base64(name: str, kind: str) -> BadRequest:
    return BadRequest(f"payload {name!r}: {kind} is not valid base64", Code.REQUEST_CONVERSION)


def _input(name: str, item: Any, whole_as: int | None) -> _Input:
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
    data: Base64Span | bytes
    if isinstance(encoded, Base64Span):
        data = encoded  # still base64 in the body: encode_call decodes it
    elif isinstance(encoded, str):
        try:
            # copy: a str (a body json.loads parsed) has no span to decode from
            data = binascii.a2b_base64(encoded, strict_mode=True)
        except (binascii.Error, ValueError):
            raise _not_base64(name, kind) from None
    else:
        raise BadRequest(f"payload {name!r}: {kind} must be a base64 string",
                         Code.REQUEST_CONVERSION)
    try:
        status = _status(name, item) if whole_as is None else _whole(name, item, whole_as)
    except BadRequest:
        _raise_if_not_base64([(name, DATA_KEYS[kind], 0, {}, data)])
        raise
    desc = {
        key: _scalar(value)
        for key, value in item.items()
        if key not in (kind, "status") and _given(value)
    }
    return name, DATA_KEYS[kind], status, desc, data


def _status(name: str, item: Mapping[str, Any]) -> int:
    status = item.get("status", DATA_ONCE)
    try:
        number = int(status)
    except (TypeError, ValueError, OverflowError):
        pass
    else:
        if number in _INT32:  # the wire's enum is an int32
            return number
    raise BadRequest(f"payload {name!r}: status {status!r} is not 0, 1, 2 or 3",
                     Code.REQUEST_CONVERSION)


def _whole(name: str, item: Mapping[str, Any], whole_as: int) -> int:
    """The status of an item of a body that is the whole input: `whole_as` (see to_call)."""
    status = _status(name, item)
    if status not in _LAST:
        raise BadRequest(
            f"payload {name!r}: status {status} does not end the input, but this request is "
            "the whole input: give its items status 2 or 3 (or none); 0 and 1 (more to "
            "come) are for frames of a WebSocket session", Code.REQUEST_CONVERSION)
    return whole_as


def to_json(response: bytes, accepts: Sequence[Accept], status: int | None = DATA_ONCE
            ) -> bytes:
    """The AIGES JSON success body (UTF-8) for a worker's CallResponse wire bytes. The header's
    status is `status`; None (a session's result) takes the outputs' furthest status instead
    (2 on the final result; 1 when there are no outputs)."""
    sid, outputs = parse_response(response)  # every output's data is a view into response
    asked = {key: attrs for key, _, attrs in accepts}
    payload: dict[str, Any] = {}
    if status is None:
        status = max((output[2] for output in outputs), default=1)
    for key, data_type, out_status, desc, data in outputs:
        kind = _kind_of(data_type)
        item: dict[str, Any] = {**asked.get(key, {}), **desc}
        item.update(seq="0", status=str(out_status))
        item[kind] = _rendered(data, kind, item)
        payload[key] = item
    header = {"code": 0, "message": "success", "sid": sid, "status": status}
    # the one pass over each payload: views are base64-encoded straight into the JSON bytes
    return render_json({"header": header, "payload": payload})


def _kind_of(data_type: int) -> str:
    """The payload key an output travels under (types without one, such as per, as text)."""
    name = TYPE_NAMES.get(data_type, "text")
    return name if name in DATA_KEYS else "text"


def _rendered(data: Payload, kind: str, item: dict[str, Any]) -> str | Payload:
    """Text goes back as text; everything else, and text that is not UTF-8, as base64 (which
    render_json writes for a view)."""
    if kind == "text":
        try:
            return data.decode("utf-8")  # copy: text outputs are small, and JSON wants a str
        except UnicodeDecodeError:
            item["encoding"] = "base64"
    return data

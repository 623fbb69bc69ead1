"""Test-side protobuf wire encoder, and views that compare parse_call with protobuf itself."""

from __future__ import annotations

import re
from typing import Any

import aiges_embed
from google.protobuf.message import DecodeError as ProtobufDecodeError
from hypothesis import strategies as st

from loader.v1 import loader_pb2

VARINT, FIXED64, LENGTH_DELIMITED, START_GROUP, END_GROUP, FIXED32 = range(6)


def varint(value: int, width: int = 0) -> bytes:
    """value as a varint (negative as its 64-bit two's complement), padded to width bytes."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append(value & 0x7F)
        value >>= 7
        if not value:
            break
        out[-1] |= 0x80
    while len(out) < width:
        out[-1] |= 0x80
        out.append(0)
    return bytes(out)


def tag(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def length_delimited(field: int, payload: bytes, pad: int = 0) -> bytes:
    size = varint(len(payload))
    return tag(field, LENGTH_DELIMITED) + varint(len(payload), len(size) + pad) + payload


def group(field: int, body: bytes) -> bytes:
    return tag(field, START_GROUP) + body + tag(field, END_GROUP)


CallView = tuple[Any, ...]


def protobuf_view(msg: loader_pb2.CallRequest) -> CallView:
    return (
        msg.sid,
        dict(msg.params),
        [(d.key, d.type, d.status, dict(d.desc), d.data, len(d.data)) for d in msg.inputs],
        [(a.key, a.type if a.HasField("type") else None, dict(a.attrs)) for a in msg.accepts],
        msg.usr_tag,
        msg.pers_id,
    )


def native_view(call: aiges_embed.ParsedCall) -> CallView:
    return (
        call.sid,
        call.params,
        [(n.key, n.type, n.status, n.desc, bytes(n.data), n.len) for n in call.data.list],
        call.accepts,
        call.usr_tag,
        call.pers_id,
    )


def protobuf_outcome(raw: bytes) -> CallView | None:
    try:
        return protobuf_view(loader_pb2.CallRequest.FromString(raw))
    except ProtobufDecodeError:
        return None


# "CallRequest.inputs[1].desc.key: invalid UTF-8 at byte 9": the message, the field path
# being decoded, the problem, where.
DECODE_ERROR = re.compile(r"(CallRequest|CallResponse)(\.[a-z_]+(\[\d+\])?)*: .+ at byte \d+")


def assert_names_its_path(error: aiges_embed.DecodeError, message: str) -> None:
    text = str(error)
    assert DECODE_ERROR.fullmatch(text) and text.startswith(message), text


def native_outcome(raw: bytes) -> CallView | None:
    try:
        return native_view(aiges_embed.parse_call(raw))
    except aiges_embed.DecodeError as error:
        assert_names_its_path(error, "CallRequest")
        return None


def assert_parses_like_protobuf(raw: bytes) -> CallView | None:
    """Both parsers accept raw with equal values, or both reject it; returns the view."""
    expected = protobuf_outcome(raw)
    assert native_outcome(raw) == expected, raw.hex()
    return expected


def damage(draw: st.DrawFn, message: bytes) -> bytes:
    """message with one to three random truncations, bit flips, insertions or deletions."""
    raw = bytearray(message)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        how = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        if how == "truncate":
            del raw[at:]
        elif how == "insert":
            raw.insert(at, draw(st.integers(0, 255)))
        elif at < len(raw):
            if how == "flip":
                raw[at] ^= 1 << draw(st.integers(0, 7))
            else:
                del raw[at]
    return bytes(raw)

"""parse_response against protobuf's CallResponse parser: same values, same verdict, views."""

from __future__ import annotations

import random
from typing import Any

import aiges_embed
import athena_codec
import pytest
from google.protobuf.message import DecodeError as ProtobufDecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.v1 import loader_pb2

from .test_parse import (
    DATA_FIELDS,
    map_entry,
    string_field,
    submessage,
    unknown_field,
    varint_field,
)
from .wire import (
    LENGTH_DELIMITED,
    VARINT,
    assert_names_its_path,
    damage,
    length_delimited,
    tag,
    varint,
)

texts = st.text(max_size=12)
int32s = st.integers(-(2**31), 2**31 - 1)
large = st.integers(0, 2**32).map(lambda seed: random.Random(seed).randbytes(100_000))
responses = st.builds(
    loader_pb2.CallResponse,
    sid=texts,
    outputs=st.lists(
        st.builds(loader_pb2.Data, key=texts, type=int32s, status=int32s,
                  desc=st.dictionaries(texts, texts, max_size=4),
                  data=st.binary(max_size=64) | large),
        max_size=4,
    ),
)
# Hand-built wire bytes: fields repeated, reordered and unknown, as protobuf never writes them.
raw_output = submessage(
    2,
    st.one_of(
        string_field(1), varint_field(2), varint_field(3), map_entry(4),
        st.builds(length_delimited, st.just(5), st.binary(max_size=32)),
        unknown_field(frozenset(DATA_FIELDS)),
    ),
)
raw_responses = st.lists(
    st.one_of(string_field(1), raw_output, unknown_field(frozenset({(1, 2), (2, 2)}))),
    max_size=6,
).map(b"".join)


def protobuf_outcome(raw: bytes) -> Any:
    try:
        msg = loader_pb2.CallResponse.FromString(raw)
    except ProtobufDecodeError:
        return None
    return msg.sid, [(d.key, d.type, d.status, dict(d.desc), d.data) for d in msg.outputs]


def native_outcome(raw: bytes) -> Any:
    try:
        sid, outputs = athena_codec.parse_response(raw)
    except aiges_embed.DecodeError as error:
        assert_names_its_path(error, "CallResponse")
        return None
    for *_, data in outputs:
        assert isinstance(data, aiges_embed.Payload) and data.owner is raw
    return sid, [(key, type_, status, desc, bytes(data))
                 for key, type_, status, desc, data in outputs]


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    return damage(draw, draw(raw_responses | responses.map(lambda m: m.SerializeToString())))


@settings(deadline=None)
@given(responses)
def test_serialized_responses_parse_to_protobufs_values(msg: loader_pb2.CallResponse) -> None:
    raw = msg.SerializeToString()
    assert native_outcome(raw) == protobuf_outcome(raw)


@settings(deadline=None, max_examples=300)
@given(raw_responses | damaged() | st.binary(max_size=200))
def test_any_bytes_get_protobufs_verdict(raw: bytes) -> None:
    assert native_outcome(raw) == protobuf_outcome(raw)


def test_data_are_read_only_views_into_the_response() -> None:
    raw = loader_pb2.CallResponse(sid="s", outputs=[
        loader_pb2.Data(key="pic", type=2, data=b"\x89PNG"),
    ]).SerializeToString()
    (_, _, _, _, data), = athena_codec.parse_response(raw)[1]
    view = memoryview(data)
    assert view.readonly and view.obj is data and bytes(view) == b"\x89PNG"
    assert raw.find(b"\x89PNG") >= 0 and data.owner is raw


DECODE_ERRORS = [
    # (raw, the whole DecodeError message)
    (length_delimited(1, b"\xff"), "CallResponse.sid: invalid UTF-8 at byte 2"),
    (b"\x12\x05ab", "CallResponse.outputs[0]: length 5 runs past the end of the message at byte 1"),
    (
        length_delimited(2, b"") + length_delimited(2, tag(2, VARINT) + b"\xff" * 10 + b"\x01"),
        "CallResponse.outputs[1].type: varint longer than 10 bytes at byte 5",
    ),
    (
        length_delimited(2, length_delimited(4, length_delimited(2, b"\xff"))),
        "CallResponse.outputs[0].desc.value: invalid UTF-8 at byte 6",
    ),
    (
        length_delimited(2, tag(5, LENGTH_DELIMITED) + varint(4)),
        "CallResponse.outputs[0].data: length 4 runs past the end of the message at byte 3",
    ),
]


@pytest.mark.parametrize(("raw", "message"), DECODE_ERRORS, ids=[m for _, m in DECODE_ERRORS])
def test_corrupt_response_raises_decode_error_naming_message_and_field(
    raw: bytes, message: str
) -> None:
    assert protobuf_outcome(raw) is None
    with pytest.raises(athena_codec.DecodeError) as caught:
        athena_codec.parse_response(raw)
    assert str(caught.value) == message
    assert athena_codec.DecodeError is aiges_embed.DecodeError

"""parse_call against protobuf's own parser: same verdict and same values on every input."""

from __future__ import annotations

import random
from collections.abc import Callable

import aiges_embed
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.v1 import loader_pb2

from .wire import (
    END_GROUP,
    FIXED32,
    FIXED64,
    LENGTH_DELIMITED,
    START_GROUP,
    VARINT,
    assert_parses_like_protobuf,
    damage,
    group,
    length_delimited,
    native_view,
    protobuf_outcome,
    protobuf_view,
    tag,
    varint,
)

texts = st.text(max_size=12)
int32s = st.integers(-(2**31), 2**31 - 1)
enums = st.one_of(st.sampled_from(range(5)), int32s)
string_maps = st.dictionaries(texts, texts, max_size=4)
# Hypothesis cannot draw megabytes itself; a seeded generator makes the rare large payload.
large_binary = st.integers(0, 2**32).map(lambda seed: random.Random(seed).randbytes(300_000))
payloads = st.integers(0, 19).flatmap(lambda n: large_binary if n == 0 else st.binary(max_size=64))


def _accept(key: str, type_: int | None, attrs: dict[str, str]) -> loader_pb2.Accept:
    accept = loader_pb2.Accept(key=key, attrs=attrs)
    if type_ is not None:
        accept.type = type_  # type: ignore[assignment]
    return accept


call_requests = st.builds(
    loader_pb2.CallRequest,
    sid=texts,
    params=string_maps,
    inputs=st.lists(
        st.builds(
            loader_pb2.Data, key=texts, type=enums, status=enums, desc=string_maps, data=payloads
        ),
        max_size=4,
    ),
    accepts=st.lists(st.builds(_accept, texts, st.none() | enums, string_maps), max_size=3),
    usr_tag=texts,
    pers_id=int32s,
)

# Raw wire bytes: known fields in any order, repeated, padded, with unknown fields of every
# wire type among them, built by hand so protobuf's serializer cannot normalise them.
field_numbers = st.one_of(st.integers(1, 20), st.integers(1, 2**29 - 1))
CALL_FIELDS = {(1, 2), (2, 2), (3, 2), (4, 2), (5, 2), (6, 0)}
DATA_FIELDS = {(1, 2), (2, 0), (3, 0), (4, 2), (5, 2)}
ACCEPT_FIELDS = {(1, 2), (2, 0), (3, 2)}
ENTRY_FIELDS = {(1, 2), (2, 2)}


@st.composite
def unknown_field(
    draw: st.DrawFn, known: frozenset[tuple[int, int]] = frozenset(), depth: int = 0
) -> bytes:
    field = draw(field_numbers)
    wire = draw(
        st.sampled_from(
            [VARINT, FIXED64, LENGTH_DELIMITED, FIXED32, START_GROUP][: 5 if depth < 3 else 4]
        )
    )
    if (field, wire) in known:
        field += 100
    if wire == VARINT:
        return tag(field, wire) + varint(draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 10)))
    if wire == FIXED64:
        return tag(field, wire) + draw(st.binary(min_size=8, max_size=8))
    if wire == FIXED32:
        return tag(field, wire) + draw(st.binary(min_size=4, max_size=4))
    if wire == LENGTH_DELIMITED:
        return length_delimited(field, draw(st.binary(max_size=16)))
    return group(field, b"".join(draw(st.lists(unknown_field(depth=depth + 1), max_size=3))))


def string_field(field: int) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda s, pad: length_delimited(field, s.encode(), pad), texts, st.integers(0, 2)
    )


def varint_field(field: int) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda v, width: tag(field, VARINT) + varint(v, width),
        st.one_of(int32s, st.integers(-(2**63), 2**64 - 1)),
        st.integers(0, 10),
    )


def submessage(field: int, parts: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.lists(parts, max_size=6).map(lambda chunks: length_delimited(field, b"".join(chunks)))


def map_entry(field: int) -> st.SearchStrategy[bytes]:
    return submessage(
        field, st.one_of(string_field(1), string_field(2), unknown_field(frozenset(ENTRY_FIELDS)))
    )


raw_data = submessage(
    3,
    st.one_of(
        string_field(1),
        varint_field(2),
        varint_field(3),
        map_entry(4),
        st.builds(length_delimited, st.just(5), st.binary(max_size=32)),
        unknown_field(frozenset(DATA_FIELDS)),
    ),
)
raw_accept = submessage(
    4,
    st.one_of(
        string_field(1), varint_field(2), map_entry(3), unknown_field(frozenset(ACCEPT_FIELDS))
    ),
)
raw_calls = st.lists(
    st.one_of(
        string_field(1),
        map_entry(2),
        raw_data,
        raw_accept,
        string_field(5),
        varint_field(6),
        unknown_field(frozenset(CALL_FIELDS)),
    ),
    max_size=8,
).map(b"".join)


@settings(deadline=None)
@given(call_requests)
def test_parse_call_equals_protobuf_on_serialized_messages(msg: loader_pb2.CallRequest) -> None:
    raw = msg.SerializeToString()
    assert native_view(aiges_embed.parse_call(raw)) == protobuf_view(msg)


@given(raw_calls)
def test_unknown_repeated_and_reordered_fields_parse_like_protobuf(raw: bytes) -> None:
    assert assert_parses_like_protobuf(raw) is not None


@given(st.binary(max_size=300))
def test_arbitrary_bytes_get_protobufs_verdict(raw: bytes) -> None:
    assert_parses_like_protobuf(raw)


# Tags, lengths and terminators glued at random reach decoder states that well-formed
# messages and random bytes rarely do (this is how field number 0 inside a group turned up).
wire_token = st.sampled_from(
    [bytes([b]) for b in (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x80, 0xFF)]
    + [tag(f, w) for f in (0, 1, 2, 3, 4, 5, 6) for w in range(8)]
)
wire_tokens = st.lists(
    st.recursive(
        wire_token,
        lambda inner: st.builds(
            lambda field, body: length_delimited(field, b"".join(body)),
            st.sampled_from([2, 3, 4]),
            st.lists(inner, max_size=8),
        ),
        max_leaves=30,
    ),
    max_size=20,
).map(b"".join)


@given(wire_tokens)
def test_random_tag_soup_gets_protobufs_verdict(raw: bytes) -> None:
    assert_parses_like_protobuf(raw)


@st.composite
def mutated_calls(draw: st.DrawFn) -> bytes:
    return damage(draw, draw(raw_calls | call_requests.map(lambda m: m.SerializeToString())))


@settings(deadline=None)
@given(mutated_calls())
def test_truncated_and_corrupted_messages_get_protobufs_verdict(raw: bytes) -> None:
    assert_parses_like_protobuf(raw)


PAD6 = b"\x81\x80\x80\x80\x80\x00"  # the varint 1 in six bytes
EDGE_CASES = [
    # (name, raw, protobuf accepts it)
    ("empty message", b"", True),
    ("known field with another wire type is unknown", tag(1, VARINT) + b"\x05", True),
    ("int32 keeps the low 32 bits", tag(6, VARINT) + varint(2**32 + 7), True),
    ("negative int32 as ten bytes", tag(6, VARINT) + varint(-5), True),
    (
        "ten-byte varint, high bits of the last byte dropped",
        tag(6, VARINT) + b"\x81" + b"\x80" * 8 + b"\x7f",
        True,
    ),
    ("eleven-byte varint", tag(6, VARINT) + b"\x81" + b"\x80" * 9 + b"\x00", False),
    ("tag padded to five bytes", b"\xb0\x80\x80\x80\x00\x05", True),
    ("tag padded to six bytes", b"\xb0\x80\x80\x80\x80\x00\x05", False),
    ("tag above 32 bits", b"\xb0\x80\x80\x80\x10\x05", False),
    ("largest field number", tag(2**29 - 1, VARINT) + b"\x05", True),
    ("field number 0", tag(0, VARINT) + b"\x05", False),
    ("field number 0 inside a group is skipped", group(9, tag(0, VARINT) + b"\x05"), True),
    ("group numbered 0 inside a group", group(9, group(0, b"")), True),
    ("end-group 0 closing group 9", tag(9, START_GROUP) + tag(0, END_GROUP), False),
    ("wire type 6", tag(9, 6), False),
    ("wire type 7", tag(9, 7), False),
    ("length padded to five bytes", tag(1, LENGTH_DELIMITED) + b"\x81\x80\x80\x80\x00a", True),
    ("length padded to six bytes", tag(1, LENGTH_DELIMITED) + PAD6 + b"a", False),
    ("length past the end", tag(9, LENGTH_DELIMITED) + varint(5) + b"abc", False),
    ("length of INT32_MAX", tag(9, LENGTH_DELIMITED) + varint(2**31 - 1), False),
    ("truncated fixed32", tag(9, FIXED32) + b"abc", False),
    ("truncated varint", tag(9, VARINT) + b"\x80", False),
    ("truncated tag", b"\x80", False),
    ("group", group(9, tag(10, VARINT) + b"\x01"), True),
    ("end-group tag outside a group", tag(9, END_GROUP), False),
    ("end-group closing another group", tag(9, START_GROUP) + tag(10, END_GROUP), False),
    ("unterminated group", tag(9, START_GROUP) + tag(10, VARINT) + b"\x01", False),
    (
        "group crossing its submessage's end",
        length_delimited(3, tag(9, START_GROUP)) + tag(9, END_GROUP),
        False,
    ),
    ("varint crossing its submessage's end", length_delimited(3, b"\x10\x80") + b"\x01", False),
    (
        "end-group tag inside a map entry",
        length_delimited(2, length_delimited(1, b"k") + tag(5, END_GROUP)),
        False,
    ),
    ("invalid UTF-8 in sid", length_delimited(1, b"\xff"), False),
    ("UTF-8 encoded surrogate", length_delimited(1, b"\xed\xa0\x80"), False),
    ("overlong UTF-8", length_delimited(1, b"\xc0\x80"), False),
    ("UTF-8 above U+10FFFF", length_delimited(1, b"\xf4\x90\x80\x80"), False),
    ("NUL in a string", length_delimited(1, b"a\x00b"), True),
    (
        "invalid UTF-8 overwritten later still fails",
        length_delimited(1, b"\xff") + length_delimited(1, b"ok"),
        False,
    ),
    (
        "invalid UTF-8 in a map value",
        length_delimited(2, length_delimited(1, b"k") + length_delimited(2, b"\xff")),
        False,
    ),
    (
        "invalid UTF-8 in an input's desc",
        length_delimited(3, length_delimited(4, length_delimited(2, b"\xff"))),
        False,
    ),
    ("invalid UTF-8 in bytes is fine", length_delimited(3, length_delimited(5, b"\xff")), True),
    ("map entry without value", length_delimited(2, length_delimited(1, b"k")), True),
    ("empty map entry", length_delimited(2, b""), True),
    (
        "map entry value before key",
        length_delimited(2, length_delimited(2, b"v") + length_delimited(1, b"k")),
        True,
    ),
    (
        "map entry value with another wire type",
        length_delimited(2, length_delimited(1, b"k") + tag(2, VARINT) + b"\x01"),
        True,
    ),
    ("accept type 0 is present", length_delimited(4, tag(2, VARINT) + b"\x00"), True),
    ("negative enum in an input", length_delimited(3, tag(2, VARINT) + varint(-1)), True),
    ("repeated sid, last wins", length_delimited(1, b"a") + length_delimited(1, b"b"), True),
]


@pytest.mark.parametrize(
    ("raw", "accepted"), [case[1:] for case in EDGE_CASES], ids=[c[0] for c in EDGE_CASES]
)
def test_edge_case_gets_protobufs_verdict(raw: bytes, accepted: bool) -> None:
    assert (assert_parses_like_protobuf(raw) is not None) == accepted


def _nested_groups(n: int) -> bytes:
    return tag(9, START_GROUP) * n + tag(9, END_GROUP) * n


@pytest.mark.parametrize(
    ("wrap", "deepest"),
    [
        (lambda body: body, 100),
        (lambda body: length_delimited(3, body), 99),
        (lambda body: length_delimited(3, length_delimited(4, body)), 98),
        (lambda body: length_delimited(4, length_delimited(3, body)), 98),
    ],
    ids=["top level", "in an input", "in an input's desc entry", "in an accept's attrs entry"],
)
def test_nesting_limit_is_protobufs_100(wrap: Callable[[bytes], bytes], deepest: int) -> None:
    assert assert_parses_like_protobuf(wrap(_nested_groups(deepest))) is not None
    assert assert_parses_like_protobuf(wrap(_nested_groups(deepest + 1))) is None


def _utf8_candidates() -> list[bytes]:
    two = [bytes([a, b]) for a in range(256) for b in range(256)]
    three = [bytes([a, b, 0x80]) for a in range(0xE0, 0xF0) for b in range(256)]
    four = [bytes([a, b, 0x80, 0x80]) for a in range(0xF0, 0xF8) for b in range(256)]
    return two + three + four


def test_utf8_acceptance_matches_protobuf_byte_for_byte() -> None:
    for candidate in _utf8_candidates():
        assert_parses_like_protobuf(length_delimited(1, candidate))


def test_decode_error_is_a_value_error_naming_problem_and_offset() -> None:
    raw = length_delimited(1, b"ok") + tag(9, LENGTH_DELIMITED) + varint(5) + b"abc"
    with pytest.raises(aiges_embed.DecodeError, match=r"length 5 runs past the end .* at byte 5"):
        aiges_embed.parse_call(raw)
    assert issubclass(aiges_embed.DecodeError, ValueError)


BAD_ENTRY_KEY = tag(1, LENGTH_DELIMITED) + varint(3) + b"a"  # a key longer than its entry
BAD_UTF8_VALUE = length_delimited(2, b"\xff")
DECODE_ERRORS = [
    # (raw, the whole DecodeError message)
    (b"\x80", "CallRequest: truncated tag at byte 0"),
    (length_delimited(1, b"\xff"), "CallRequest.sid: invalid UTF-8 at byte 2"),
    (
        length_delimited(2, length_delimited(1, b"\xff")),
        "CallRequest.params.key: invalid UTF-8 at byte 4",
    ),
    (
        length_delimited(3, b"") + tag(3, LENGTH_DELIMITED) + varint(9) + b"x",
        "CallRequest.inputs[1]: length 9 runs past the end of the message at byte 3",
    ),
    (
        length_delimited(3, b"") + length_delimited(3, tag(2, VARINT) + b"\x80"),
        "CallRequest.inputs[1].type: truncated varint at byte 5",
    ),
    (
        length_delimited(3, b"") + length_delimited(3, length_delimited(4, BAD_ENTRY_KEY)),
        "CallRequest.inputs[1].desc.key: length 3 runs past the end of the message at byte 7",
    ),
    (
        length_delimited(3, length_delimited(1, b"\xff")),
        "CallRequest.inputs[0].key: invalid UTF-8 at byte 4",
    ),
    (
        length_delimited(3, tag(9, FIXED32) + b"ab"),  # an unknown field names its message
        "CallRequest.inputs[0]: truncated fixed32 value at byte 3",
    ),
    (
        length_delimited(4, b"") + length_delimited(4, length_delimited(3, BAD_UTF8_VALUE)),
        "CallRequest.accepts[1].attrs.value: invalid UTF-8 at byte 8",
    ),
    (
        tag(6, VARINT) + b"\xff" * 11,
        "CallRequest.pers_id: varint longer than 10 bytes at byte 1",
    ),
]


@pytest.mark.parametrize(("raw", "message"), DECODE_ERRORS, ids=[m for _, m in DECODE_ERRORS])
def test_decode_error_names_the_message_and_field_path(raw: bytes, message: str) -> None:
    assert protobuf_outcome(raw) is None
    with pytest.raises(aiges_embed.DecodeError) as caught:
        aiges_embed.parse_call(raw)
    assert str(caught.value) == message


def test_parse_call_rejects_non_buffers_with_type_error() -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        aiges_embed.parse_call("not bytes")  # type: ignore[arg-type]


def test_parse_call_accepts_any_bytes_like() -> None:
    raw = loader_pb2.CallRequest(
        sid="s", inputs=[loader_pb2.Data(key="a", type=loader_pb2.DATA_TYPE_AUDIO, data=b"xyz")]
    ).SerializeToString()
    for owner in (raw, bytearray(raw), memoryview(raw)):
        call = aiges_embed.parse_call(owner)
        assert (call.sid, bytes(call.data.list[0].data)) == ("s", b"xyz")


def test_parsed_fields_have_the_contracts_types() -> None:
    msg = loader_pb2.CallRequest(
        sid="s",
        params={"a": "b"},
        inputs=[
            loader_pb2.Data(key="t", data=b"{}"),
            loader_pb2.Data(
                key="img", type=loader_pb2.DATA_TYPE_IMAGE, desc={"e": "jpg"}, data=b"\xff"
            ),
        ],
        accepts=[loader_pb2.Accept(key="r", attrs={"format": "json"})],
    )
    call = aiges_embed.parse_call(msg.SerializeToString())
    text, image = call.data.list
    assert type(call.params) is dict and type(image.desc) is dict
    assert type(call.data) is aiges_embed.DataListCls and type(call.data.list) is list
    assert type(text.data) is bytes  # text is copied so json.loads() accepts it
    assert type(image.data) is aiges_embed.Payload
    assert call.data.get("img") is image
    assert call.accepts == [("r", None, {"format": "json"})]


def test_copy_text_false_gives_text_as_a_view() -> None:
    raw = loader_pb2.CallRequest(inputs=[loader_pb2.Data(key="t", data=b"{}")]).SerializeToString()
    node = aiges_embed.parse_call(raw, copy_text=False).data.list[0]
    assert type(node.data) is aiges_embed.Payload and node.data == b"{}"

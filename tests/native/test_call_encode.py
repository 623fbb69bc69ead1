"""encode_call: the CallRequest protobuf builds, and binascii's strict base64 verdicts."""

from __future__ import annotations

import base64
import binascii
import json
import random
from typing import Any

import athena_codec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.v1 import loader_pb2

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
texts = st.text(max_size=12)
int32s = st.integers(-(2**31), 2**31 - 1)
string_maps = st.dictionaries(texts, texts, max_size=4)


def span_of(raw_json_string: str) -> athena_codec.Base64Span:
    """A span over raw_json_string, the text between the quotes of a JSON string."""
    body = ('{"payload": {"a": {"audio": "' + raw_json_string + '"}}}').encode()
    span = athena_codec.parse_request(body)["payload"]["a"]["audio"]
    assert isinstance(span, athena_codec.Base64Span)
    return span


def decode_one(data: Any) -> bytes:
    raw = athena_codec.encode_call(None, "", {}, [("k", 1, 3, {}, data)], [])
    return loader_pb2.CallRequest.FromString(raw).inputs[0].data


def binascii_verdict(text: str) -> bytes | None:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def codec_verdict(raw_json_string: str) -> bytes | None:
    try:
        return decode_one(span_of(raw_json_string))
    except athena_codec.Base64Error as error:
        assert error.index == 0
        return None


# Valid base64 of random bytes, mutated by edits that favour the characters that matter.
large = st.integers(0, 2**32).map(lambda seed: random.Random(seed).randbytes(49_000 + seed % 5))
encoded = (st.binary(max_size=40) | large).map(lambda b: base64.b64encode(b).decode())
edit_chars = st.sampled_from([*"A/+=z09", "==", " ", "\n", "-", "_", "é", "\u00ff"])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(encoded)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["insert", "replace", "delete", "truncate", "pad"]))
        if how == "insert":
            text = text[:at] + draw(edit_chars) + text[at:]
        elif how == "replace":
            text = text[:at] + draw(edit_chars) + text[at + 1:]
        elif how == "delete":
            text = text[:at] + text[at + 1:]
        elif how == "truncate":
            text = text[:at]
        else:
            text += "=" * draw(st.integers(1, 3))
    return text


base64_like = mutated() | st.text(ALPHABET + "=", max_size=12) | st.text(max_size=8)


@settings(deadline=None, max_examples=600)
@given(base64_like)
def test_base64_verdict_and_bytes_equal_binascii_strict(text: str) -> None:
    raw = json.dumps(text)[1:-1]  # as a JSON encoder writes it: \n, \u00ff ... escaped
    if "\\" in raw:
        assert codec_verdict(raw) is None  # an escape other than \/ is never base64
        if any(c < " " or c in '"\\' for c in text):
            return
        raw = text  # the raw characters themselves, which JSON allows
    assert codec_verdict(raw) == binascii_verdict(text)


@settings(deadline=None)
@given(mutated())
def test_escaped_slashes_decode_as_slashes(text: str) -> None:
    if any(c < " " or c in '"\\' for c in text):
        return
    assert codec_verdict(text.replace("/", "\\/")) == binascii_verdict(text)


def test_invalid_character_far_into_a_large_payload_names_its_input() -> None:
    good = span_of(base64.b64encode(b"ok").decode())
    text = base64.b64encode(random.Random(1).randbytes(300_000)).decode()
    bad = span_of(text[:-100] + "*" + text[-99:])
    with pytest.raises(athena_codec.Base64Error) as caught:
        athena_codec.encode_call(None, "s", {}, [("a", 1, 3, {}, good), ("b", 1, 3, {}, bad)], [])
    assert caught.value.index == 1
    assert isinstance(caught.value, ValueError)


def test_spans_must_point_into_the_body_when_one_is_given() -> None:
    span = span_of("QUJD")
    assert decode_one(span) == b"ABC"
    raw = athena_codec.encode_call(span.owner, "", {}, [("a", 1, 3, {}, span)], [])
    assert loader_pb2.CallRequest.FromString(raw).inputs[0].data == b"ABC"
    with pytest.raises(ValueError, match="another body"):
        athena_codec.encode_call(b"{}", "", {}, [("a", 1, 3, {}, span)], [])


@st.composite
def inputs(draw: st.DrawFn) -> tuple[tuple[Any, ...], loader_pb2.Data]:
    data = draw(st.binary(max_size=64) | large)
    as_span = draw(st.booleans())
    key, type_, status, desc = draw(texts), draw(int32s), draw(int32s), draw(string_maps)
    carried = span_of(base64.b64encode(data).decode()) if as_span else data
    expected = loader_pb2.Data(
        key=key, type=type_, status=status, desc=desc, data=data  # type: ignore[arg-type]
    )
    return (key, type_, status, desc, carried), expected


@st.composite
def accepts(draw: st.DrawFn) -> tuple[tuple[Any, ...], loader_pb2.Accept]:
    """An accept as the gateway passes it, with or without attrs, and what the worker gets."""
    key, type_ = draw(texts), draw(st.none() | int32s)
    expected = loader_pb2.Accept(key=key)  # attrs stay at the gateway
    if type_ is not None:
        expected.type = type_  # type: ignore[assignment]
    if draw(st.booleans()):
        return (key, type_, draw(string_maps)), expected
    return (key, type_), expected


@settings(deadline=None)
@given(texts, string_maps, st.lists(inputs(), max_size=4), st.lists(accepts(), max_size=3))
def test_wire_bytes_parse_to_the_message_protobuf_builds(
    sid: str, params: dict[str, str], ins: list[Any], accs: list[Any]
) -> None:
    raw = athena_codec.encode_call(None, sid, params, [i for i, _ in ins], [a for a, _ in accs])
    expected = loader_pb2.CallRequest(sid=sid, params=params, inputs=[d for _, d in ins],
                                      accepts=[a for _, a in accs])
    assert loader_pb2.CallRequest.FromString(raw) == expected
    assert len(raw) == expected.ByteSize()


def test_accept_attrs_are_not_sent_to_the_worker() -> None:
    raw = athena_codec.encode_call(
        None, "s", {}, [], [("img", 2, {"format": "png"}), ("txt", None)]
    )
    expected = loader_pb2.CallRequest(sid="s", accepts=[
        loader_pb2.Accept(key="img", type=2),  # type: ignore[arg-type]
        loader_pb2.Accept(key="txt"),
    ])
    assert raw == expected.SerializeToString()
    assert not any(a.attrs for a in loader_pb2.CallRequest.FromString(raw).accepts)


@pytest.mark.parametrize(
    ("inputs", "accepts", "error"),
    [
        ([("k", 1, 3, {}, "QUJD")], [], TypeError),  # a str is not data: decode it first
        ([("k", 1, 3, {1: "x"}, b"")], [], TypeError),
        ([("k", 2**31, 3, {}, b"")], [], ValueError),
        ([("k", 1, 3, {})], [], TypeError),
        ([], [("k", "one", {})], TypeError),
        ([], [("k",)], TypeError),
        ([], [("k", 1, {}, "extra")], TypeError),
    ],
)
def test_malformed_arguments_raise(inputs: list[Any], accepts: list[Any],
                                   error: type[Exception]) -> None:
    with pytest.raises(error):
        athena_codec.encode_call(None, "s", {}, inputs, accepts)

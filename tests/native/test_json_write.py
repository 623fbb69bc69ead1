"""render_json against json.dumps: the same bytes, and buffers as base64 strings."""

from __future__ import annotations

import base64
import enum
import json
import random
from typing import Any

import aiges_embed
import athena_codec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.v1 import loader_pb2

# Every character but lone surrogates (json.dumps writes them, .encode() then fails)
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12) | st.sampled_from(
    ['"', "\\", "\x00\x1f\x7f", "\b\f\n\r\t", "é€😀", "\u2028"]
)
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | texts
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)


def compact(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def payload_view(data: bytes) -> aiges_embed.Payload:
    raw = loader_pb2.CallResponse(outputs=[loader_pb2.Data(key="k", data=data)]).SerializeToString()
    return athena_codec.parse_response(raw)[1][0][4]


# Hypothesis cannot draw megabytes itself; a seeded generator makes the rare large buffer.
blobs = st.binary(max_size=40) | st.integers(0, 2**32).map(
    lambda seed: random.Random(seed).randbytes(70_000 + seed % 7)
)
buffers = blobs.flatmap(
    lambda data: st.sampled_from([bytes, bytearray, memoryview, payload_view]).map(
        lambda kind: (kind(data), base64.b64encode(data).decode())
    )
)


@st.composite
def documents_with_buffers(draw: st.DrawFn, depth: int = 0) -> tuple[Any, Any]:
    """A document holding buffers, and the one json.loads should read back."""
    kind = draw(st.sampled_from(["scalar", "buffer", "list", "dict"] if depth < 3 else ["buffer"]))
    if kind == "scalar":
        value = draw(st.none() | st.booleans() | st.integers() | texts)
        return value, value
    if kind == "buffer":
        return draw(buffers)
    children = draw(st.lists(documents_with_buffers(depth + 1), max_size=3))
    if kind == "list":
        return [doc for doc, _ in children], [expected for _, expected in children]
    keys = draw(st.lists(texts, min_size=len(children), max_size=len(children), unique=True))
    return ({k: doc for k, (doc, _) in zip(keys, children, strict=True)},
            {k: expected for k, (_, expected) in zip(keys, children, strict=True)})


@settings(deadline=None)
@given(documents)
def test_documents_without_buffers_render_as_json_dumps(document: Any) -> None:
    assert athena_codec.render_json(document) == compact(document)


@settings(deadline=None, max_examples=200)
@given(documents_with_buffers())
def test_buffers_render_as_base64_strings(case: tuple[Any, Any]) -> None:
    document, expected = case
    assert json.loads(athena_codec.render_json(document)) == expected


def test_numbers_render_through_int_and_float_repr_as_json_does() -> None:
    class Colour(enum.IntEnum):
        RED = 1

    class Ratio(float):
        def __repr__(self) -> str:
            return "not used"

    document = [Colour.RED, Ratio(0.5), True, 1e300, -0.0, float("nan"), float("-inf"), 10**40]
    assert athena_codec.render_json(document) == compact(document)
    assert athena_codec.render_json(document) == b"[1,0.5,true,1e+300,-0.0,NaN,-Infinity," + (
        str(10**40).encode() + b"]")


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ({1: "x"}, TypeError),
        ({"a": {None: 1}}, TypeError),
        ({"a": {1, 2}}, TypeError),
        ([object()], TypeError),
        ("\ud800", UnicodeEncodeError),
    ],
)
def test_what_json_cannot_hold_raises(document: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        athena_codec.render_json(document)


def test_a_reference_cycle_is_an_error_not_a_crash() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="nesting deeper"):
        athena_codec.render_json(cycle)


def test_a_large_payload_view_is_encoded_straight_into_the_output() -> None:
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 1)
    out = athena_codec.render_json({"audio": payload_view(data), "seq": "0"})
    assert out == compact({"audio": base64.b64encode(data).decode(), "seq": "0"})

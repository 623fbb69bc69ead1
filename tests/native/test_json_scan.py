"""parse_request against json.loads: same document, same verdict, payload data as spans."""

from __future__ import annotations

import gc
import json
from typing import Any

import athena_codec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

DATA_KEYS = ("text", "audio", "image", "video")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6) | st.sampled_from(DATA_KEYS), inner, max_size=4),
    max_leaves=20,
)
# Bodies shaped like AIGES requests, so the span rule meets payload items of every shape.
items = st.dictionaries(st.sampled_from([*DATA_KEYS, "status", "encoding"]), documents, max_size=4)
aiges_bodies = st.fixed_dictionaries(
    {"payload": st.dictionaries(st.text(max_size=4), items | documents, max_size=3)},
    optional={"header": documents, "parameter": documents},
)
dump_options = st.sampled_from([
    {"ensure_ascii": False, "separators": (",", ":")},
    {"ensure_ascii": True},
    {"indent": 2},
    {"ensure_ascii": False, "indent": "\t", "separators": (" ,", " : ")},
])


def resolved(value: Any, path: tuple[str, ...] = ()) -> Any:
    """value with every span replaced by the str json.loads makes of its raw text; asserts that
    spans sit exactly at payload.<name>.<data key>."""
    if isinstance(value, athena_codec.Base64Span):
        assert len(path) == 3 and path[0] == "payload" and path[2] in DATA_KEYS, path
        raw = value.tobytes()
        assert len(raw) == len(value) and value.escaped == (b"\\" in raw)
        return json.loads(b'"' + raw + b'"')
    if isinstance(value, str):
        at_data_key = len(path) == 3 and path[0] == "payload" and path[2] in DATA_KEYS
        assert not at_data_key, f"a str at {path}"
        return value
    if isinstance(value, dict):
        return {key: resolved(item, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [resolved(item, (*path, "[]")) for item in value]
    return value


def outcome(parse: Any, body: bytes) -> tuple[str, Any]:
    try:
        document = parse(body)
    except ValueError:
        return "error", None
    return "ok", resolved(document) if parse is athena_codec.parse_request else document


@settings(deadline=None)
@given(documents | aiges_bodies, dump_options)
def test_documents_parse_as_json_loads_does(document: Any, options: dict[str, Any]) -> None:
    body = json.dumps(document, **options).encode()
    for form in (body, bytearray(body), memoryview(body)):
        assert resolved(athena_codec.parse_request(form)) == json.loads(body)


@st.composite
def mutated_bodies(draw: st.DrawFn) -> bytes:
    raw = bytearray(json.dumps(draw(aiges_bodies | documents)).encode())
    alphabet = b'{}[]":,\\ \t\n0123456789-+.eE/=aAuUtrfnl\x00\x1f\x7f\xc3\xa9\xed\xa0\xff'
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        how = draw(st.sampled_from(["truncate", "replace", "insert", "delete"]))
        byte = draw(st.sampled_from(alphabet))
        if how == "truncate":
            del raw[at:]
        elif how == "insert":
            raw.insert(at, byte)
        elif at < len(raw):
            if how == "replace":
                raw[at] = byte
            else:
                del raw[at]
    return bytes(raw)


@settings(deadline=None, max_examples=500)
@given(mutated_bodies() | st.binary(max_size=40))
def test_damaged_bodies_get_json_loads_verdict(body: bytes) -> None:
    assert outcome(athena_codec.parse_request, body) == outcome(json.loads, body)


@pytest.mark.parametrize(
    "body",
    [
        rb'"\ud83d\ude00 \ud83d \ude00 \ud800\ud800 \udc00\ud800x"',
        b'"\xed\xa0\xbd\xed\xb8\x80"',  # encoded surrogates, as json.loads(bytes) keeps them
        rb'{"a": 1, "a": 2, "b": {"a": 3}}',
        b'\xef\xbb\xbf{"bom": true}',
        '{"utf16": "\u00e9"}'.encode("utf-16"),
        '["utf32"]'.encode("utf-32-le"),
        b"[NaN, Infinity, -Infinity, -0, 0.5e-3, 1E400, 12345678901234567890]",
        b' \t\r\n{"x" : [ ] , "y" : { } }\n',
    ],
)
def test_edge_cases_match_json_loads(body: bytes) -> None:
    got, expected = athena_codec.parse_request(body), json.loads(body)
    assert repr(got) == repr(expected)  # repr: NaN != NaN, and -0 vs 0 must match too


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "Expecting value: line 1 column 1 (byte 0)"),
        (b'{"a": }', "Expecting value: line 1 column 7 (byte 6)"),
        (b'{"a": 1}x', "Extra data: line 1 column 9 (byte 8)"),
        (b'{\n"a" 1}', "Expecting ':' delimiter: line 2 column 5 (byte 6)"),
        (b'[1 2]', "Expecting ',' delimiter: line 1 column 4 (byte 3)"),
        (b'{1: 2}', "Expecting property name enclosed in double quotes: line 1 column 2 (byte 1)"),
        (b'"abc', "Unterminated string starting at: line 1 column 1 (byte 0)"),
        (b'"a\x01"', "Invalid control character at: line 1 column 3 (byte 2)"),
        (b'"\\x"', "Invalid \\escape: line 1 column 2 (byte 1)"),
        (b'"\\u12"', "Invalid \\uXXXX escape: line 1 column 2 (byte 1)"),
        (b'"\xff"', "Invalid UTF-8: line 1 column 2 (byte 1)"),
        (b"[" * 600, "Nesting deeper than 512 levels"),
    ],
)
def test_malformed_json_raises_json_error_naming_the_byte(body: bytes, message: str) -> None:
    with pytest.raises(athena_codec.JSONError) as caught:
        athena_codec.parse_request(body)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_only_strings_at_payload_item_data_keys_become_spans() -> None:
    body = json.dumps({
        "header": {"text": "h"},
        "parameter": {"s": {"audio": "p"}},
        "payload": {
            "a": {"audio": "QUJD", "text": "eA==", "encoding": "raw", "more": {"image": "i"}},
            "b": {"video": 5, "image": ["x"]},
            "c": "not an item",
        },
    }).encode()
    doc = athena_codec.parse_request(body)
    spans = doc["payload"]["a"]
    assert isinstance(spans["audio"], athena_codec.Base64Span)
    assert isinstance(spans["text"], athena_codec.Base64Span)
    assert (spans["encoding"], spans["more"]) == ("raw", {"image": "i"})
    assert doc["payload"]["b"] == {"video": 5, "image": ["x"]}
    assert (doc["header"], doc["parameter"]) == ({"text": "h"}, {"s": {"audio": "p"}})
    assert json.loads(b"[" + body + b"]")[0]["payload"]["a"]["audio"] == "QUJD"
    nested = athena_codec.parse_request(b"[" + body + b"]")  # not the top-level object
    assert nested[0]["payload"]["a"]["audio"] == "QUJD"


def test_a_span_points_into_the_body_and_keeps_it_alive() -> None:
    body = bytearray(b'{"payload": {"a": {"audio": "QU\\/D"}}}')
    span = athena_codec.parse_request(body)["payload"]["a"]["audio"]
    assert (len(span), span.offset, span.escaped) == (5, body.index(b"QU"), True)
    assert span.owner is body
    with pytest.raises(BufferError):
        body.extend(b" ")  # the span holds the body's buffer: it cannot move
    del body
    gc.collect()
    assert span.tobytes() == b"QU\\/D"
    assert "5 characters" in repr(span)


def test_body_must_be_bytes_like() -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        athena_codec.parse_request('{"a": 1}')

"""Coverage-guided fuzz targets for the native parsers (atheris + libFuzzer).

Each target feeds untrusted bytes to public entry points and checks the answer against a
reference (json.loads and json.dumps for parse_request and render_json, binascii for base64,
protobuf for the wire parsers and encode_call, bytes for Payload), so a target finds wrong
answers as well as memory errors. Run through tests/native/fuzz/run.py (make
native-fuzz), which loads the instrumented ASan build:

    python tests/native/fuzz/use_build.py BUILD_DIR tests/native/fuzz/fuzz.py TARGET [flags]
"""

from __future__ import annotations

import binascii
import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import aiges_embed
import athena_codec
import atheris

from loader.v1 import loader_pb2
from tests.native import test_response_parse
from tests.native.wire import assert_parses_like_protobuf

__all__ = ["TARGETS"]


def _outcome(operation: Callable[[], object]) -> tuple[str, object]:
    try:
        return "ok", operation()
    except Exception as error:  # the same exception type as bytes raises is the verdict
        return "raised", type(error)


def _with_spans_as_str(value: object) -> object:
    if isinstance(value, athena_codec.Base64Span):
        return json.loads(b'"' + value.tobytes() + b'"')
    if isinstance(value, dict):
        return {key: _with_spans_as_str(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_spans_as_str(item) for item in value]
    return value


def _spans(document: object) -> list[athena_codec.Base64Span]:
    payload = document.get("payload") if isinstance(document, dict) else None
    if not isinstance(payload, dict):
        return []
    return [value for item in payload.values() if isinstance(item, dict)
            for value in item.values() if isinstance(value, athena_codec.Base64Span)]


def json_scan(data: bytes) -> None:
    """parse_request on any body: json.loads's verdict and document (spans read as str); each
    span checked and encoded as the gateway does; render_json of the document as json.dumps."""
    try:
        expected: str | None = repr(json.loads(data))
    except RecursionError:
        return  # nested past Python's recursion limit: parse_request stops at 512 levels
    except ValueError:
        expected = None
    try:
        document = athena_codec.parse_request(data)
    except athena_codec.JSONError as error:
        assert expected is None or "Nesting deeper" in str(error), (data, error)
        return
    assert repr(_with_spans_as_str(document)) == expected, data
    spans = _spans(document)
    inputs = [("k", 1, 3, {}, span) for span in spans]
    for span in spans:
        span.is_valid()
    try:
        athena_codec.encode_call(data, "sid", {}, inputs, [])
    except athena_codec.Base64Error:
        pass
    if spans:
        return  # a span is not a buffer render_json takes
    text = functools.partial(json.dumps, document, ensure_ascii=False, separators=(",", ":"))
    dumps = _outcome(lambda: text().encode())
    assert _outcome(functools.partial(athena_codec.render_json, document)) == dumps, data


def base64_span(data: bytes) -> None:
    """The fuzz bytes as one payload's JSON string: is_valid and encode_call agree with binascii.

    Input starting with '*' is repeated past 17,000 characters: the escaped decoder works in
    4,096-character blocks and the fast one checks for bad characters every 1,024 quads.
    """
    if data.startswith(b"*") and len(data) > 1:
        data = data[1:] * (17_000 // (len(data) - 1) + 1)
    body = b'{"payload":{"a":{"audio":"' + data + b'"}}}'
    try:
        span = athena_codec.parse_request(body)["payload"]["a"]["audio"]
    except (athena_codec.JSONError, TypeError, KeyError):
        return  # the bytes closed the string or broke the document
    if not isinstance(span, athena_codec.Base64Span):
        return
    text = span.tobytes()
    try:
        # "\/" is the only escape the native decoder takes, as the gateway documents
        expected: bytes | None = (
            None
            if b"\\" in text.replace(b"\\/", b"")
            else binascii.a2b_base64(text.replace(b"\\/", b"/"), strict_mode=True)
        )
    except binascii.Error:
        expected = None
    assert span.is_valid() == (expected is not None), text
    try:
        raw = athena_codec.encode_call(body, "", {}, [("a", 1, 3, {}, span)], [])
    except athena_codec.Base64Error:
        assert expected is None, text
        return
    assert expected is not None, text
    got = aiges_embed.parse_call(raw).data.list
    assert bytes(got[0].data) == expected if got else expected == b"", text


def parse(data: bytes) -> None:
    """parse_call on any bytes: protobuf's verdict and values."""
    assert_parses_like_protobuf(data)


def response_parse(data: bytes) -> None:
    """parse_response on any bytes: protobuf's verdict and values."""
    assert test_response_parse.native_outcome(data) == test_response_parse.protobuf_outcome(data)


def call_encode(data: bytes) -> None:
    """encode_call on fuzzed fields: protobuf parses the bytes back to the same values."""
    fdp = atheris.FuzzedDataProvider(data)

    def text() -> str:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12))

    def int32() -> int:
        return fdp.ConsumeIntInRange(-(2**31), 2**31 - 1)

    sid = text()
    params = {text(): text() for _ in range(fdp.ConsumeIntInRange(0, 3))}
    inputs = [
        (text(), int32(), int32(), {text(): text() for _ in range(fdp.ConsumeIntInRange(0, 2))},
         fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)))
        for _ in range(fdp.ConsumeIntInRange(0, 3))
    ]
    accepts = [(text(), int32() if fdp.ConsumeBool() else None)
               for _ in range(fdp.ConsumeIntInRange(0, 3))]
    raw = athena_codec.encode_call(None, sid, params, inputs, accepts)
    view = assert_parses_like_protobuf(raw)
    assert view is not None
    assert view[0] == sid and view[1] == params
    assert [(k, t, s, d, b) for k, t, s, d, b, _ in view[2]] == inputs
    assert [(k, t) for k, t, _ in view[3]] == accepts


Affix = bytes | tuple[bytes, ...]


def _bytes_operation(
    op: int, i: int | None, j: int | None, step: int | None, affix: Affix, b: Any
) -> object:
    """One bytes operation on b (bytes or Payload), chosen by op."""
    if op == 0:
        return b[i or 0]
    if op == 1:
        return b[i:j:step]
    if op == 2:
        return b.startswith(affix, i, j)
    if op == 3:
        return b.endswith(affix, i, j)
    return (i or 0) + 128 in b if step else (affix if isinstance(affix, bytes) else b"") in b


def payload(data: bytes) -> None:
    """Payload's bytes API with fuzzed indices, slices and affixes: what bytes would answer."""
    fdp = atheris.FuzzedDataProvider(data)
    blob = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    raw = athena_codec.encode_call(None, "", {}, [("k", 1, 0, {}, blob)], [])
    view = aiges_embed.parse_call(raw).data.list[0].data
    assert isinstance(view, aiges_embed.Payload) and bytes(view) == blob and len(view) == len(blob)
    assert view == blob and hash(view) == hash(blob) and list(view) == list(blob)

    def index() -> int | None:
        return None if fdp.ConsumeProbability() < 0.1 else fdp.ConsumeIntInRange(-80, 80)

    for _ in range(fdp.ConsumeIntInRange(1, 8)):
        op = fdp.ConsumeIntInRange(0, 4)
        i, j = index(), index()
        step = fdp.ConsumeIntInRange(-3, 3) or None
        affix: Affix = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4))
        if fdp.ConsumeBool():
            affix = (affix, fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4)))
        on_view = _outcome(functools.partial(_bytes_operation, op, i, j, step, affix, view))
        on_bytes = _outcome(functools.partial(_bytes_operation, op, i, j, step, affix, blob))
        assert on_view == on_bytes, (op, i, j, step, affix, blob)


class _Output:
    """A wrapper's output as serialize_response reads it: by attribute, any of them missing."""

    def __init__(self, **fields: object) -> None:
        self.__dict__.update(fields)


def serialize(data: bytes) -> None:
    """serialize_response on fuzzed outputs: byte for byte protobuf's deterministic encoding."""
    fdp = atheris.FuzzedDataProvider(data)

    def text() -> str:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 6))

    sid = text()
    override = fdp.ConsumeIntInRange(-(2**31), 2**31 - 1) if fdp.ConsumeBool() else None
    outputs, expected = [], []
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        fields: dict[str, object] = {}
        for name in ("key", "type", "status", "desc", "data"):
            if fdp.ConsumeProbability() < 0.15:
                continue  # missing: the proto3 default
            if name == "key":
                fields[name] = text()
            elif name in ("type", "status"):
                fields[name] = fdp.ConsumeIntInRange(-(2**31), 2**31 - 1)
            elif name == "desc":
                # short keys over a small alphabet: many share a prefix ("ab" and "a")
                fields[name] = {
                    "".join("ab"[b & 1] for b in fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 3)))
                    if fdp.ConsumeBool() else text(): text()
                    for _ in range(fdp.ConsumeIntInRange(0, 4))
                }
            else:
                choice = fdp.ConsumeIntInRange(0, 3)
                blob = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 32))
                fields[name] = (None, blob, bytearray(blob), text())[choice]
        outputs.append(_Output(**fields))
        value = fields.get("data")
        expected.append(loader_pb2.Data(
            key=fields.get("key", ""), type=fields.get("type", 0),
            status=override if override is not None else fields.get("status", 0),
            desc=fields.get("desc", {}),
            data=value.encode() if isinstance(value, str) else bytes(value or b""),
        ))
    want = loader_pb2.CallResponse(sid=sid, outputs=expected).SerializeToString(deterministic=True)
    assert aiges_embed.serialize_response(sid, outputs, override) == want, data


TARGETS: dict[str, Callable[[bytes], None]] = {
    "json_scan": json_scan,
    "base64_span": base64_span,
    "parse": parse,
    "response_parse": response_parse,
    "call_encode": call_encode,
    "payload": payload,
    "serialize": serialize,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        raise SystemExit(f"usage: fuzz.py {{{','.join(TARGETS)}}} [libFuzzer flags]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

"""Coverage-guided fuzz targets for the native parsers (atheris + libFuzzer).

Each target feeds untrusted bytes to one public entry point and checks the verdict against a
reference where one exists (protobuf for the wire parsers, binascii for base64), so a target
finds wrong answers as well as memory errors. Run through tests/native/fuzz/run.py (make
native-fuzz), which loads the instrumented ASan build:

    python tests/native/fuzz/use_build.py BUILD_DIR tests/native/fuzz/fuzz.py TARGET [libFuzzer flags]
"""

from __future__ import annotations

import binascii
import sys
from collections.abc import Callable

import atheris
import aiges_embed
import athena_codec

from tests.native import test_response_parse
from tests.native.wire import assert_parses_like_protobuf

__all__ = ["TARGETS"]


def json_scan(data: bytes) -> None:
    """parse_request on any body; every span it finds is checked and encoded as the gateway does."""
    try:
        document = athena_codec.parse_request(data)
    except athena_codec.JSONError:
        return
    payload = document.get("payload") if isinstance(document, dict) else None
    if not isinstance(payload, dict):
        return
    inputs = []
    for item in payload.values():
        if not isinstance(item, dict):
            continue
        for value in item.values():
            if isinstance(value, athena_codec.Base64Span):
                value.is_valid()
                inputs.append(("k", 1, 3, {}, value))
    try:
        athena_codec.encode_call(data, "sid", {}, inputs, [])
    except athena_codec.Base64Error:
        pass
    if inputs:
        return  # a span is not a buffer render_json takes
    try:
        athena_codec.render_json(document)
    except UnicodeEncodeError:
        pass  # a lone surrogate ("\\ud800"), as json.dumps(...).encode() refuses it


def base64_span(data: bytes) -> None:
    """The fuzz bytes as one payload's JSON string: is_valid and encode_call agree with binascii."""
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


TARGETS: dict[str, Callable[[bytes], None]] = {
    "json_scan": json_scan,
    "base64_span": base64_span,
    "parse": parse,
    "response_parse": response_parse,
    "call_encode": call_encode,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        raise SystemExit(f"usage: fuzz.py {{{','.join(TARGETS)}}} [libFuzzer flags]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

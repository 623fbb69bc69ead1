"""Base64Span.is_valid: encode_call's verdict on a span, without decoding it."""

from __future__ import annotations

import base64
import json
import random

import athena_codec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .test_call_encode import base64_like, encoded, span_of

# Escapes a JSON encoder may write that are never allowed in base64, "\u002f" ('/') included.
OTHER_ESCAPES = ["\\n", "\\\\", '\\"', "\\u0041", "\\u002f", "\\t"]


def encode_call_accepts(span: athena_codec.Base64Span) -> bool:
    try:
        athena_codec.encode_call(None, "", {}, [("k", 1, 3, {}, span)], [])
    except athena_codec.Base64Error:
        return False
    return True


@st.composite
def json_strings(draw: st.DrawFn) -> str:
    """Base64-like text as a JSON encoder may write it between the quotes: some or all of its
    '/' as "\\/", now and then another escape."""
    text = draw(encoded | base64_like)  # valid text too, so escaped valid spans are common
    rng = random.Random(draw(st.integers(0, 2**32)))
    share = draw(st.sampled_from([0.0, 0.5, 1.0]))  # of the '/' written escaped
    out = []
    for c in text:
        if c < " " or c in '"\\':
            out.append(json.dumps(c)[1:-1])
        elif c == "/" and rng.random() < share:
            out.append("\\/")
        else:
            out.append(c)
    if draw(st.integers(0, 4)) == 0:
        out.insert(draw(st.integers(0, len(out))), draw(st.sampled_from(OTHER_ESCAPES)))
    return "".join(out)


@settings(deadline=None, max_examples=600)
@given(json_strings())
def test_is_valid_is_encode_calls_verdict(raw: str) -> None:
    span = span_of(raw)
    assert span.is_valid() == encode_call_accepts(span)


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        ("", True),
        ("QUJD", True),
        ("QUI=", True),
        ("QQ==", True),
        ("Pz8\\/", True),  # "??/" with its '/' escaped
        ("\\/\\/\\/\\/", True),
        ("QQ=", False),
        ("QU=D", False),
        ("QUJD\\n", False),
        ("Pz8\\u002f", False),  # only "\/" may stand for '/'
        ("QUJ*", False),
        ("Q", False),
    ],
)
def test_is_valid_on_known_text(raw: str, valid: bool) -> None:
    span = span_of(raw)
    assert span.is_valid() is valid
    assert encode_call_accepts(span) is valid


@pytest.mark.parametrize("escaped", [False, True])
def test_large_span_is_checked_to_its_last_character(escaped: bool) -> None:
    text = base64.b64encode(random.Random(2).randbytes(300_000)).decode()
    if escaped:
        text = text.replace("/", "\\/")
    assert span_of(text).is_valid()
    bad = span_of(text[:-10] + "*" + text[-9:])
    assert not bad.is_valid() and not encode_call_accepts(bad)

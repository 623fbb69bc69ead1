"""Hypothesis strategies for hostile AIGES input: valid bodies mutated field by field (any
JSON value of any type in place of any field, fields removed, hostile keys added), rendered
in any encoding JSON allows (with duplicate keys and out-of-range numbers JSON text can
carry), then optionally mutated byte by byte."""
from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

__all__ = ["ENCODINGS", "aiges_bodies", "body_bytes", "byte_mutations", "encoded", "hostile_text",
           "json_values", "mutated_bodies", "valid_body"]

ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
             "utf-32-be"]

# strings a careless or hostile client sends: lone surrogates, NULs, control characters,
# non-BMP characters, very long ones
hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["\ud800", "\udfff", "a\ud800b", "\x00", "a\x00b", "\u2028", "\ufeff",
                     "\U0001f600", "..", "/", "%00", "\\", "\"", "' or 1=1", " ", ""]),
    st.text(alphabet=st.characters(codec="utf-16", exclude_categories=()), max_size=8),
    st.integers(1000, 70000).map(lambda n: "k" * n),
)

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(10 ** 40), 10 ** 40),
    st.floats(allow_nan=False, allow_infinity=False), hostile_text,
)

json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(hostile_text, children, max_size=4)),
    max_leaves=12,
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def valid_body(service_id: str = "echo", text: str = "hello", status: int = 3
               ) -> dict[str, Any]:
    return {
        "header": {"app_id": "fuzz", "uid": "u1", "status": status},
        "parameter": {service_id: {"mode": "x", "result": {"encoding": "utf8"}}
                      if service_id == "stream_echo" else {"mode": "x"}},
        "payload": {"text": {"encoding": "utf8", "status": status, "text": b64(text.encode())}},
    }


_base64_garbage = st.one_of(
    st.text(max_size=40), st.binary(max_size=30).map(lambda b: b64(b)[:-1]),
    st.sampled_from(["====", "a", "ab=", "a===", "YQ", "Y Q==", "YQ==\n", "-_-_", "\x00YQ==",
                     "*" * 9]),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _set(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    copy = dict(body) if isinstance(body, dict) else list(body)
    copy[head] = _set(copy[head], tuple(rest), value)
    return copy


def _drop(body: Any, path: tuple[Any, ...]) -> Any:
    head, *rest = path
    copy = dict(body) if isinstance(body, dict) else list(body)
    if rest:
        copy[head] = _drop(copy[head], tuple(rest))
    else:
        del copy[head]
    return copy


@st.composite
def mutated_bodies(draw: st.DrawFn, service_id: str = "echo") -> Any:
    """A valid body with 1-3 field mutations: a field's value replaced (any JSON type, base64
    garbage where data goes), a field removed, or a hostile key added to an object."""
    body: Any = valid_body(service_id, draw(st.text(max_size=20)), draw(st.sampled_from([3, 2])))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "drop", "add", "base64"]))
        if action == "drop" and path:
            body = _drop(body, path)
        elif action == "add":
            target = _get(body, path)
            if isinstance(target, dict):
                body = _set(body, path, {**target, draw(hostile_text): draw(json_values)})
        elif action == "base64":
            body = _set(body, ("payload", "text", "text"), draw(_base64_garbage)) \
                if _has_text(body) else body
        else:
            body = _set(body, path, draw(json_values))
    return body


def _get(body: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        body = body[step]
    return body


def _has_text(body: Any) -> bool:
    try:
        return "text" in body["payload"]["text"]
    except (KeyError, TypeError, IndexError):
        return False


aiges_bodies = st.one_of(mutated_bodies(), json_values)


def encoded(body: Any, encoding: str, ensure_ascii: bool, duplicate: bool) -> bytes:
    """`body` as JSON text in `encoding`: lone surrogates raw (surrogatepass) where the text
    is not ASCII-only; with `duplicate`, the top object's first key repeated with null."""
    text = json.dumps(body, ensure_ascii=ensure_ascii)
    if duplicate and text.startswith("{") and len(text) > 2:
        first_key = text[1:].split(":", 1)[0]
        text = "{" + first_key + ": null, " + text[1:]
    return text.encode(encoding, "surrogatepass")


@st.composite
def body_bytes(draw: st.DrawFn, bodies: st.SearchStrategy[Any] = aiges_bodies) -> bytes:
    return encoded(draw(bodies), draw(st.sampled_from(ENCODINGS)), draw(st.booleans()),
                   draw(st.booleans()))


@st.composite
def byte_mutations(draw: st.DrawFn, raw: bytes) -> bytes:
    """`raw` with 1-4 byte-level edits: a byte flipped, bytes inserted, a range deleted or
    duplicated, the end cut off."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            data += draw(st.binary(min_size=1, max_size=8))
            continue
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from(
                [b"\x00", b"{", b"[", b"\"", b"\\u", b"\\ud800", b"1e99999", b",,", b"\xff"])))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 32))]
        else:
            del data[at:]
    return bytes(data)

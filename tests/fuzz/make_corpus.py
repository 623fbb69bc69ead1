"""Writes tests/fuzz/corpus/: hostile HTTP bodies as files, each sent to the echo route by
test_corpus.py. A file's last suffix says how it is sent: `.json` as it is, `.gz` with
Content-Encoding: gzip, `.deflate` with Content-Encoding: deflate. Run it again
(`.venv/bin/python -m tests.fuzz.make_corpus`) after adding a case; the files are committed."""
from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

from tests.fuzz.strategies import valid_body

CORPUS = Path(__file__).resolve().parent / "corpus"
MIB = 1024 * 1024


def _json(body: Any, encoding: str = "utf-8", ensure_ascii: bool = True) -> bytes:
    return json.dumps(body, ensure_ascii=ensure_ascii).encode(encoding, "surrogatepass")


def _with(path: tuple[str, ...], value: Any) -> Any:
    body: Any = valid_body("echo", "corpus")
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


def cases() -> dict[str, bytes]:
    good = _json(valid_body("echo", "corpus"))
    nested = "[" * 2000 + "]" * 2000
    found: dict[str, bytes] = {
        "empty.json": b"", "whitespace.json": b" \r\n\t ", "null.json": b"null",
        "array.json": b"[]", "string.json": b"\"header\"", "bom_only.json": b"\xef\xbb\xbf",
        "nul_bytes.json": b"\x00" * 64, "nul_inside.json": good[:20] + b"\x00" + good[20:],
        "nul_escaped_keys.json": _json(_with(("parameter", "echo", "a\x00b"), "\x00")),
        "utf8_bom.json": b"\xef\xbb\xbf" + good,
        "invalid_utf8.json": good.replace(b"fuzz", b"\xc3\x28\xff\xfe"),
        "overlong_utf8.json": good.replace(b"fuzz", b"\xc0\xaf"),
        "duplicate_top_keys.json": b'{"header": {"status": 3}, ' + good[1:],
        "duplicate_payload_keys.json": good.replace(
            b'"payload": {', b'"payload": {"text": {"text": "!!"}, '),
        "huge_integer.json": good.replace(b'"status": 3}', b'"status": ' + b"9" * 5000 + b"}"),
        "huge_float.json": good.replace(b'"status": 3}', b'"status": 1e999}'),
        "tiny_float.json": good.replace(b'"status": 3}', b'"status": -1e-999}'),
        "nan_literal.json": good.replace(b'"status": 3}', b'"status": NaN}'),
        "infinity_literal.json": good.replace(b'"status": 3}', b'"status": -Infinity}'),
        "status_out_of_int32.json": _json(_with(("payload", "text", "status"), 2 ** 40)),
        "status_negative.json": _json(_with(("payload", "text", "status"), -1)),
        "base64_garbage.json": _json(_with(("payload", "text", "text"), "!!not base64**")),
        "base64_bad_padding.json": _json(_with(("payload", "text", "text"), "YQ=")),
        "base64_url_alphabet.json": _json(_with(("payload", "text", "text"), "-_-_")),
        "base64_nul.json": _json(_with(("payload", "text", "text"), "YQ\x00==")),
        "surrogate_param_key.json": _json(_with(("parameter", "echo", "\ud800"), "v")),
        "surrogate_desc_key.json": _json(_with(("payload", "text", "\udfff"), "v")),
        "surrogate_header_value.json": _json(_with(("header", "app_id"), "\ud800")),
        "surrogate_utf16_raw.json": _json(_with(("header", "app_id"), "a\ud800"), "utf-16",
                                          ensure_ascii=False),
        "surrogate_payload_key_utf32.json": _json(
            {**valid_body(), "payload": {"\ud800": valid_body()["payload"]["text"]}},
            "utf-32", ensure_ascii=False),
        "truncated_bodies_at_half.json": good[:len(good) // 2],
        "truncated_in_string.json": good[:good.index(b'"fuzz') + 3],
        "truncated_after_key.json": good[:good.index(b'"payload"') + 9],
        "truncated_utf16.json": good.decode().encode("utf-16")[:-3],
        "unterminated_escape.json": good[:-10] + b'\\u12',
    }
    for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"):
        found[f"nested_{encoding.replace('-', '')}.json"] = nested.encode(encoding)
    found["nested_objects_utf8.json"] = b'{"a":' * 2000 + b"1" + b"}" * 2000
    found["nested_in_parameter.json"] = good.replace(
        b'"mode": "x"', b'"mode": ' + b"[" * 1000 + b"]" * 1000)
    for level, path in {"header": ("header",), "parameter": ("parameter",),
                        "parameter_echo": ("parameter", "echo"), "payload": ("payload",),
                        "payload_item": ("payload", "text"),
                        "payload_data": ("payload", "text", "text"),
                        "header_status": ("header", "status"),
                        "param_value": ("parameter", "echo", "mode"),
                        "desc_value": ("payload", "text", "encoding")}.items():
        for kind, value in {"list": [1, "a"], "string": "x", "number": 7.5, "null": None,
                            "bool": True, "object": {"k": {"k": []}}}.items():
            found[f"wrong_type_{level}_{kind}.json"] = _json(_with(path, value))
    found["gzip_bomb_64mib.gz"] = gzip.compress(bytes(64 * MIB), 9)
    found["gzip_truncated.gz"] = gzip.compress(good)[:-9]
    found["gzip_of_garbage.gz"] = gzip.compress(b"\xff" * 100)
    found["gzip_not_gzip.gz"] = good
    found["deflate_bomb.deflate"] = zlib.compress(b" " * (64 * MIB), 9)
    found["gzip_good.gz"] = gzip.compress(good)
    return found


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for name, data in cases().items():
        (CORPUS / name).write_bytes(data)
    print(f"{len(cases())} files in {CORPUS}")


if __name__ == "__main__":
    main()

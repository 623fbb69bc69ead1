"""Every body in tests/fuzz/corpus/ (written by make_corpus.py: nesting in UTF-16/32, lone
surrogates, compression bombs, truncations, huge numbers, duplicate keys, wrong types at
every level, base64 garbage, NUL bytes) sent to the echo route: a 4xx with an AIGES error
body, or a 200 where the body is in fact acceptable, never a gateway fault."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.checks import check_http, exchange, record
from tests.fuzz.conftest import post, serves_good_call
from tests.fuzz.served import ECHO_ROUTE, Served

CORPUS = Path(__file__).resolve().parent / "corpus"
_ENCODING = {".gz": "gzip", ".deflate": "deflate"}
# what a few must get, beyond "no gateway fault"
EXPECTED = {"gzip_bomb_64mib.gz": (413, 10413), "deflate_bomb.deflate": (413, 10413),
            "gzip_good.gz": (200, 0), "nested_utf16.json": (400, 10000),
            "nested_utf32be.json": (400, 10000), "surrogate_param_key.json": (400, 10001),
            "surrogate_utf16_raw.json": (400, 10001), "empty.json": (400, 10000)}


@pytest.mark.parametrize("path", sorted(CORPUS.iterdir()), ids=lambda p: p.name)
def test_corpus_body_gets_an_aiges_answer_and_no_gateway_fault(stack: Served, path: Path
                                                                ) -> None:
    headers = ["Content-Type: application/json"]
    if path.suffix in _ENCODING:
        headers.append(f"Content-Encoding: {_ENCODING[path.suffix]}")
    answer = exchange(stack.host, stack.port, post(ECHO_ROUTE, path.read_bytes(), *headers))
    reply = check_http(answer, path.name)
    record("http corpus", f"{answer.status}/{reply['header']['code']}")
    if path.name in EXPECTED:
        assert (answer.status, reply["header"]["code"]) == EXPECTED[path.name], reply
    serves_good_call(stack)

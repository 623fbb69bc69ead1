"""HTTP request bodies in: read as their bytes arrive, within a deadline and a per-process
budget of memory promised to bodies, decoded from gzip or deflate within the size limit, and
UTF-16/UTF-32 JSON turned into the UTF-8 the native parser reads."""
from __future__ import annotations

import asyncio
import json
import zlib

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.errors import (
    BadRequest,
    BodiesInFlight,
    BodyTimeout,
    TooLarge,
    UnsupportedEncoding,
)
from gateway.settings import GatewaySettings
from loader.v1.codes import Code

__all__ = ["BodyBudget", "as_utf8", "read_body"]

_PIECE = 256 * 1024  # decoded bytes per zlib step: a bomb is stopped within one piece
# Content-Encoding -> zlib wbits (deflate's is chosen by its first bytes, see _wbits)
_DECODED = {"gzip": 31, "x-gzip": 31, "deflate": 0}


class BodyBudget:
    """The bytes promised to the bodies this process is receiving: a declared Content-Length
    is taken whole before the body is read, a chunked body's bytes as they arrive."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def take(self, size: int) -> bool:
        if self.taken + size > self.limit:
            return False
        self.taken += size
        return True

    def give(self, size: int) -> None:
        self.taken -= size


async def read_body(request: web.Request, settings: GatewaySettings, budget: BodyBudget
                    ) -> bytes | bytearray:
    """The request body, decoded, with memory growing only as bytes really arrive."""
    wbits = _content_coding(request)  # refused before a byte is read
    limit = settings.max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise TooLarge(f"request body is {length} bytes; the limit is {limit}", close=True)
    promised = length or 0
    if not budget.take(promised):
        raise _busy(settings, budget)
    held = [promised]  # what this body holds of the budget, given back at the end
    try:
        async with asyncio.timeout(settings.body_timeout_s) as deadline:
            try:
                body = await _receive(request, length, limit, settings, budget, held)
            except (ConnectionError, HttpProcessingError):
                raise BadRequest("the request body ended before its end (the connection "
                                 "broke or its framing was wrong)", Code.BODY_NOT_JSON) from None
    except TimeoutError:
        if not deadline.expired():
            raise
        raise BodyTimeout(f"the request body did not arrive within {settings.body_timeout_s} s"
                          " (body_timeout_s)") from None
    finally:
        budget.give(held[0])
    return body if wbits is None else _decoded(body, wbits, limit)


async def _receive(request: web.Request, length: int | None, limit: int,
                   settings: GatewaySettings, budget: BodyBudget, held: list[int]
                   ) -> bytes | bytearray:
    # readchunk, not readany: readany joins whatever chunks are buffered (a copy)
    chunks: list[bytes] = []
    received = 0
    while True:
        chunk, _ = await request.content.readchunk()
        if not chunk:
            break
        received += len(chunk)
        if received > limit:  # chunked (a declared length was checked before)
            raise TooLarge(f"request body exceeds the {limit}-byte limit", close=True)
        if length is None:
            if not budget.take(len(chunk)):
                raise _busy(settings, budget)
            held[0] += len(chunk)
        chunks.append(chunk)
    if length is not None and received != length:
        raise BadRequest(f"request body ended after {received} of its {length} bytes",
                         Code.BODY_NOT_JSON)
    if len(chunks) == 1:
        return chunks[0]  # it came in one piece: parse it where it is
    # copy: the one the gateway keeps, of aiohttp's chunks into one buffer the parser reads;
    # joined only once all arrived, so memory follows the bytes sent, never the length declared
    return b"".join(chunks)


def _busy(settings: GatewaySettings, budget: BodyBudget) -> BodiesInFlight:
    return BodiesInFlight(
        f"the gateway is receiving its limit of request bodies ({budget.limit} bytes declared "
        f"at once, max_bodies_in_flight_mb); retry after {settings.retry_after_s} s",
        headers={"Retry-After": str(settings.retry_after_s)})


def _content_coding(request: web.Request) -> int | None:
    """zlib's wbits for the body's Content-Encoding, None for none (or identity)."""
    codings = [c.strip().lower() for c in request.headers.getall("Content-Encoding", ())
               for c in c.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in _DECODED:
        raise UnsupportedEncoding(
            f"Content-Encoding {', '.join(codings)!r} is not decoded here: send gzip, deflate "
            "or an uncompressed body")
    return _DECODED[codings[0]]


def _decoded(body: bytes | bytearray, wbits: int, limit: int) -> bytearray:
    """The body decompressed a piece at a time, stopped with 413 one piece past `limit`: a
    bomb never gets its decoded size allocated."""
    if wbits == 0:  # deflate: RFC 9110 means zlib-wrapped, some clients send it raw
        wbits = 15 if len(body) >= 2 and (body[0] & 0x0F) == 8 and \
            ((body[0] << 8) | body[1]) % 31 == 0 else -15
    # copy: the decoded body is a new buffer, grown as zlib writes it
    out = bytearray()
    data: bytes | bytearray = body
    decoder = zlib.decompressobj(wbits)
    try:
        while True:
            piece = decoder.decompress(data, _PIECE)
            out += piece
            if len(out) > limit:
                raise TooLarge(f"request body decodes to more than its {limit}-byte limit")
            data = decoder.unconsumed_tail
            if decoder.eof:
                data = decoder.unused_data
                if data and wbits == 31:  # gzip may hold several members, one after another
                    decoder = zlib.decompressobj(wbits)
                    continue
                if data:
                    raise BadRequest("request body: bytes after the end of its compressed "
                                     "stream", Code.BODY_NOT_JSON)
                return out
            if not data and not piece:  # all input taken, nothing more out, no end: cut short
                raise BadRequest(f"request body: its {_name(wbits)} stream is cut short",
                                 Code.BODY_NOT_JSON)
    except zlib.error as error:
        raise BadRequest(f"request body is not valid {_name(wbits)}: {error}",
                         Code.BODY_NOT_JSON) from None


def _name(wbits: int) -> str:
    return "gzip" if wbits == 31 else "deflate"


def as_utf8(body: bytes | bytearray) -> bytes | bytearray:
    """The body as UTF-8 JSON text. JSON may come as UTF-16 or UTF-32 (json.detect_encoding
    says which); such a body is decoded here, as json.loads would, and handed on as UTF-8 so
    the native parser, which bounds nesting, reads it rather than json.loads, which does not."""
    encoding = json.detect_encoding(body[:4])  # copy: 4 bytes
    if encoding in ("utf-8", "utf-8-sig"):
        return body
    try:
        # copy, twice: such bodies are rare over HTTP; surrogatepass as json.loads does
        text = bytes(body).decode(encoding, "surrogatepass")
    except UnicodeDecodeError as error:
        raise BadRequest(f"request body is not valid {encoding}: {error.reason} at byte "
                         f"{error.start}", Code.BODY_NOT_JSON) from None
    if "\x00" in text[:2]:  # would read as UTF-16 again; a JSON text never starts so
        raise BadRequest("request body is not JSON: it starts with a NUL character",
                         Code.BODY_NOT_JSON)
    return text.encode("utf-8", "surrogatepass")

"""Fake music-recognition API: a real local HTTP server speaking the ACRCloud identify protocol.

It checks requests the way the real service does (known access key, HMAC-SHA1 signature,
timestamp within 300 s) and "recognises" a sample when the SHA-256 of its bytes is in its
catalogue. The default catalogue holds one track, the tone ``demo_sample()`` generates, so
tests and demos can send a sample that is known to match.

    python wrappers/music/fake_api.py --port 8299 --access-key K --access-secret S
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import math
import struct
import time
import wave
from collections.abc import Mapping
from typing import Any, NamedTuple

from aiohttp import web

__all__ = ["DEFAULT_CATALOGUE", "DEMO_TRACK", "demo_sample", "make_app"]

_PATH = "/v1/identify"
_MAX_SKEW_S = 300
_MAX_SAMPLE_BYTES = 5 * 1024 * 1024  # a long recording; larger bodies get HTTP 413
_REQUIRED = ("access_key", "data_type", "signature_version", "signature", "timestamp")

DEMO_TRACK: dict[str, Any] = {
    "title": "A440 Calibration Tone",
    "artists": [{"name": "Athena Mesh"}],
    "album": {"name": "Test Signals"},
}


def demo_sample() -> bytes:
    """Half a second of a 440 Hz sine, 8 kHz 16-bit mono WAV: the same bytes on every call."""
    rate, frames = 8000, 4000
    samples = (round(12000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(frames))
    pcm = struct.pack(f"<{frames}h", *samples)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


# keyed by the SHA-256 (hex) of the sample's bytes
DEFAULT_CATALOGUE: dict[str, dict[str, Any]] = {
    hashlib.sha256(demo_sample()).hexdigest(): DEMO_TRACK,
}


class _Account(NamedTuple):
    access_key: str
    access_secret: str


_ACCOUNT = web.AppKey("account", _Account)
_CATALOGUE = web.AppKey("catalogue", Mapping[str, Mapping[str, Any]])


def make_app(
    access_key: str,
    access_secret: str,
    catalogue: Mapping[str, Mapping[str, Any]] = DEFAULT_CATALOGUE,
) -> web.Application:
    """The API as an aiohttp application: one account, one catalogue."""
    app = web.Application(client_max_size=_MAX_SAMPLE_BYTES + 64 * 1024)
    app[_ACCOUNT] = _Account(access_key, access_secret)
    app[_CATALOGUE] = catalogue
    app.router.add_post(_PATH, _identify)
    return app


def _status(code: int, msg: str, **extra: Any) -> web.Response:
    # like the real API, errors are HTTP 200 with the outcome in the JSON status
    return web.json_response({"status": {"code": code, "msg": msg, "version": "1.0"}, **extra})


def _expected_signature(secret: str, form: Mapping[str, Any], method: str, path: str) -> str:
    fields = ("access_key", "data_type", "signature_version", "timestamp")
    text = "\n".join([method, path, *(form[name] for name in fields)])
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _authenticate(request: web.Request, form: Mapping[str, Any]) -> web.Response | None:
    """The real API's credential checks; None when the request may proceed.

    An expired timestamp is refused like a bad signature: the signature covers it.
    """
    account = request.app[_ACCOUNT]
    if form.get("access_key") != account.access_key:
        return _status(3001, "Missing/Invalid Access Key")
    if any(not isinstance(form.get(name), str) for name in _REQUIRED):
        return _status(3006, "Invalid arguments: missing " + ", ".join(_REQUIRED))
    expected = _expected_signature(account.access_secret, form, request.method, request.path)
    if not hmac.compare_digest(expected.encode(), form["signature"].encode()):
        return _status(3014, "Invalid signature")
    try:
        skew = abs(time.time() - int(form["timestamp"]))
    except ValueError:
        return _status(3006, "Invalid arguments: timestamp")
    if skew > _MAX_SKEW_S:
        return _status(3014, "Invalid signature: timestamp expired")
    return None


async def _identify(request: web.Request) -> web.Response:
    try:
        form = await request.post()
    except ValueError:
        return _status(3006, "Invalid arguments: body is not multipart/form-data")
    refused = _authenticate(request, form)
    if refused is not None:
        return refused
    sample = form.get("sample")
    if not isinstance(sample, web.FileField):
        return _status(3006, "Invalid arguments: sample must be a file")
    data = sample.file.read()
    if form.get("sample_bytes") != str(len(data)):
        return _status(3006, "Invalid arguments: sample_bytes does not match sample")
    if not data:
        return _status(2004, "Can't generate fingerprint")
    track = request.app[_CATALOGUE].get(hashlib.sha256(data).hexdigest())
    if track is None:
        return _status(1001, "No result")
    metadata = {"music": [{**track, "score": 100}], "timestamp_utc": _utc_now()}
    return _status(0, "Success", metadata=metadata, result_type=0)


def _utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8299)
    # the same demo credentials as wrappers/music/aiges.toml
    parser.add_argument("--access-key", default="demo-key")
    parser.add_argument("--access-secret", default="demo-secret")
    args = parser.parse_args()
    web.run_app(make_app(args.access_key, args.access_secret), host=args.host, port=args.port)


if __name__ == "__main__":
    main()

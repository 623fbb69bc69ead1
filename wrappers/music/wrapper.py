"""Music ability: identifies a song by posting the audio to an ACRCloud-style signed HTTP API.

The pattern for wrapping any third-party API: settings from [wrapper], a request signed
with HMAC-SHA1 over the method, path, key and timestamp, and every way the API or the
network can fail mapped to one of this wrapper's own codes with a message that says what
to change. The client is the standard library only; the audio is handed to the socket
straight from the request's buffer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

from aiges_embed import DataListCls, Response, ResponseData

__all__ = [
    "ENDPOINT",
    "ERR_ACCESS_KEY",
    "ERR_API",
    "ERR_BAD_ANSWER",
    "ERR_BAD_CONFIG",
    "ERR_FINGERPRINT",
    "ERR_LIMIT",
    "ERR_NO_AUDIO",
    "ERR_SIGNATURE",
    "ERR_TIMEOUT",
    "ERR_UNREACHABLE",
    "Wrapper",
]

log = logging.getLogger(__name__)

ENDPOINT = "/v1/identify"
INPUT_KEY = "audio"
OUTPUT_KEY = "result"
DATA_TEXT = 0
DATA_ONCE = 3

# This wrapper's own error codes (12001-12099).
ERR_NO_AUDIO = 12001
ERR_ACCESS_KEY = 12002
ERR_SIGNATURE = 12003
ERR_LIMIT = 12004
ERR_FINGERPRINT = 12005
ERR_API = 12006
ERR_UNREACHABLE = 12007
ERR_TIMEOUT = 12008
ERR_BAD_ANSWER = 12009
ERR_BAD_CONFIG = 12010

# the API's status codes: 0 match, 1001 no match, anything else an error
_API_OK = 0
_API_NO_RESULT = 1001
_API_ERRORS = {
    3001: ERR_ACCESS_KEY,  # missing or invalid access key
    3014: ERR_SIGNATURE,  # invalid signature (also a timestamp too far from the API's clock)
    3003: ERR_LIMIT,  # account limit exceeded
    3015: ERR_LIMIT,  # requests-per-second limit exceeded
    2004: ERR_FINGERPRINT,  # cannot generate a fingerprint from the sample
}


class _Failed(Exception):
    """A call that cannot produce a result; carries the wrapper's error code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# a NamedTuple rather than a dataclass: dataclasses need the module registered in
# sys.modules, which a loader importing wrapper.py by path may not do
class _Settings(NamedTuple):
    api_url: str
    access_key: str
    access_secret: str
    timeout_s: float

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> _Settings:
        missing = [k for k in ("api_url", "access_key", "access_secret") if not config.get(k)]
        if missing:
            raise ValueError(f"[wrapper] needs {', '.join(missing)}")
        if not config["api_url"].startswith(("http://", "https://")):
            raise ValueError("[wrapper] api_url must start with http:// or https://")
        timeout_s = float(config.get("timeout_s", "10"))
        if timeout_s <= 0:
            raise ValueError("[wrapper] timeout_s must be positive")
        return cls(
            config["api_url"].rstrip("/"), config["access_key"], config["access_secret"], timeout_s
        )

    @property
    def endpoint(self) -> str:
        return self.api_url + ENDPOINT


class Wrapper:
    """Identifies the music in input "audio"; answers JSON matches in output "result"."""

    serviceId = "music"
    version = "v1"

    def __init__(self) -> None:
        self._settings: _Settings | None = None

    def wrapperInit(self, config: dict[str, str]) -> int:
        try:
            self._settings = _Settings.from_config(config)
        except ValueError as exc:
            log.error("music: bad [wrapper] config: %s", exc)
            return ERR_BAD_CONFIG
        log.info("music: identifying through %s", self._settings.endpoint)
        return 0

    def wrapperFini(self) -> int:
        return 0

    def wrapperVersion(self) -> str:
        return "music 1.0.0"

    def wrapperError(self, code: int) -> str:
        url = self._settings.endpoint if self._settings else "the [wrapper] api_url"
        return _message(code, url)

    def wrapperOnceExec(
        self,
        params: dict[str, str],
        reqData: DataListCls,
        usrTag: str = "",
        persId: int = 0,
    ) -> Response:
        assert self._settings is not None, "wrapperInit must succeed before wrapperOnceExec"
        node = reqData.get(INPUT_KEY)
        if node is None:
            return Response().response_err(ERR_NO_AUDIO)
        try:
            answer = _identify(self._settings, memoryview(node.data))
            matches = _matches(answer)
        except _Failed as failed:
            return Response().response_err(failed.code)
        response = Response()
        response.list = [_result(matches)]
        return response


def _message(code: int, url: str) -> str:
    messages = {
        ERR_NO_AUDIO: f"the request has no input named {INPUT_KEY!r}: send the recording as "
        f'"payload": {{"{INPUT_KEY}": {{"encoding": "wav", "audio": "<base64>"}}}}',
        ERR_ACCESS_KEY: "music API does not accept the access key: check [wrapper] access_key",
        ERR_SIGNATURE: "music API rejected the request signature: check [wrapper] "
        "access_secret, and that this host's clock is within 300 s of the API's",
        ERR_LIMIT: "music API limit exceeded for this access key: retry later or raise the "
        "account's quota",
        ERR_FINGERPRINT: "music API could not fingerprint the audio: send a few seconds or "
        "more of a common format (WAV, MP3, AAC)",
        ERR_API: f"music API at {url} answered with an error status (the ability's log has "
        "its code and message)",
        ERR_UNREACHABLE: f"cannot reach the music API at {url}: check [wrapper] api_url and "
        "that the API is up (the ability's log has the cause)",
        ERR_TIMEOUT: f"music API at {url} did not answer within [wrapper] timeout_s: retry, "
        "or raise timeout_s",
        ERR_BAD_ANSWER: f"music API at {url} answered with something other than its JSON "
        "status: check that [wrapper] api_url points at the API itself",
        ERR_BAD_CONFIG: "[wrapper] needs api_url (an http:// or https:// URL), access_key and "
        "access_secret, and a positive timeout_s",
    }
    return messages.get(code, f"music: unknown error code {code}")


def _sign(access_secret: str, access_key: str, timestamp: str) -> str:
    """The API's signature: base64 HMAC-SHA1 over method, path, key, data type, version, time."""
    text = f"POST\n{ENDPOINT}\n{access_key}\naudio\n1\n{timestamp}"
    digest = hmac.new(access_secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _form(settings: _Settings, sample: memoryview) -> tuple[str, list[Any], int]:
    """Builds the multipart/form-data body as chunks; the sample is not copied into it.

    Returns the content type, the chunks and their total length.
    """
    timestamp = str(int(time.time()))
    fields = {
        "access_key": settings.access_key,
        "data_type": "audio",
        "signature_version": "1",
        "signature": _sign(settings.access_secret, settings.access_key, timestamp),
        "sample_bytes": str(sample.nbytes),
        "timestamp": timestamp,
    }
    # 122 random bits: a boundary that cannot plausibly occur inside the audio
    boundary = uuid.uuid4().hex
    text = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    )
    text += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="sample"; filename="sample"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    head = text.encode()
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    length = len(head) + sample.nbytes + len(tail)
    return f"multipart/form-data; boundary={boundary}", [head, sample, tail], length


def _identify(settings: _Settings, sample: memoryview) -> dict[str, Any]:
    """POSTs the sample and returns the API's decoded JSON answer."""
    content_type, chunks, length = _form(settings, sample)
    # http.client sends a list body chunk by chunk with sendall(): the audio goes from the
    # request's buffer to the socket without a copy (a joined body would copy it once)
    request = urllib.request.Request(
        settings.endpoint,
        data=chunks,
        headers={"Content-Type": content_type, "Content-Length": str(length)},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout_s) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:
        # an error status may still carry the API's JSON status; parsed below
        log.warning("music: %s answered HTTP %d", settings.endpoint, exc.code)
        body = exc.read()
    except TimeoutError as exc:
        raise _Failed(ERR_TIMEOUT) from exc
    except urllib.error.URLError as exc:
        log.warning("music: cannot reach %s: %s", settings.endpoint, exc.reason)
        code = ERR_TIMEOUT if isinstance(exc.reason, TimeoutError) else ERR_UNREACHABLE
        raise _Failed(code) from exc
    except (OSError, http.client.HTTPException) as exc:
        log.warning("music: connection to %s failed: %r", settings.endpoint, exc)
        raise _Failed(ERR_UNREACHABLE) from exc
    try:
        answer_json = json.loads(body)
    except ValueError as exc:
        log.warning("music: %s answered non-JSON: %.200r", settings.endpoint, body)
        raise _Failed(ERR_BAD_ANSWER) from exc
    if not isinstance(answer_json, dict):
        raise _Failed(ERR_BAD_ANSWER)
    return answer_json


def _matches(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Checks the API's status and flattens its music metadata into matches."""
    status = answer.get("status")
    if not isinstance(status, dict) or not isinstance(status.get("code"), int):
        log.warning("music: answer without a status code: %.200r", answer)
        raise _Failed(ERR_BAD_ANSWER)
    code = status["code"]
    if code == _API_NO_RESULT:
        return []
    if code != _API_OK:
        log.warning("music: API status %d: %s", code, status.get("msg", ""))
        raise _Failed(_API_ERRORS.get(code, ERR_API))
    try:
        music = (answer.get("metadata") or {}).get("music") or []
        return [
            {
                "title": track.get("title", ""),
                "artists": [artist.get("name", "") for artist in track.get("artists") or []],
                "album": (track.get("album") or {}).get("name", ""),
                "score": track.get("score"),
            }
            for track in music
        ]
    except (AttributeError, TypeError) as exc:  # metadata not shaped as documented
        log.warning("music: malformed metadata: %.200r", answer.get("metadata"))
        raise _Failed(ERR_BAD_ANSWER) from exc


def _result(matches: list[dict[str, Any]]) -> ResponseData:
    out = ResponseData()
    out.key = OUTPUT_KEY
    out.type = DATA_TEXT
    out.status = DATA_ONCE
    out.desc = {"encoding": "utf8", "format": "json"}
    out.setData(json.dumps({"matches": matches}, ensure_ascii=False).encode())
    return out

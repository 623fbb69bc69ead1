"""Authentication at the edge: static API keys and the iFlytek open platform signature, checked
for every HTTP request (a middleware) and every call on the public gRPC port (its metadata).

Both are off until configured. An API key comes in `X-Api-Key`, `Authorization: Bearer KEY` or
the `api_key` query parameter (gRPC: `x-api-key` or `authorization: Bearer KEY` metadata). The
signature is iFlytek's: query parameters (gRPC: metadata) `authorization`, `host` and `date`,
`authorization` being base64 of `api_key="K", algorithm="hmac-sha256", headers="host date
request-line", signature="S"` and S base64(HMAC-SHA256(APISecret, "host: H\\ndate: D\\nLINE")),
LINE the request line: `GET /v1/ability HTTP/1.1` over HTTP (the request's own method and
path), `POST /loader.v1.Loader/Call HTTP/2` over gRPC. A `date` further than
`signature_skew_s` from the gateway's clock is refused, and so is a signature already accepted
while its date is within that window (per gateway process).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Generic, Literal, TypeVar

from aiohttp import web

from gateway.docs import DOCS_PATHS
from gateway.errors import Forbidden, Unauthenticated
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from loader.config import ConfigError, file_stamp

__all__ = ["AUTH", "Authenticator", "auth_middleware"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Reason = Literal["missing", "malformed", "unknown_key", "bad_signature", "expired", "replay"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_OPEN_ROUTES = frozenset({"/healthz"})  # liveness never depends on credentials
# exempt unless [gateway] auth_admin_routes = true: probes and scrapers rarely carry keys
_ADMIN_ROUTES = frozenset({"/readyz", "/metrics", "/v1/abilities", *DOCS_PATHS})
_RELOAD_EVERY_S = 1.0
_REPLAY_CACHE = 65536  # signatures remembered; past it the oldest is forgotten
_FIELD = re.compile(r'\s*(\w+)\s*=\s*["\']([^"\']*)["\']\s*')


def _key_lines(text: str) -> frozenset[str]:
    return frozenset(line.strip() for line in text.splitlines()
                     if line.strip() and not line.strip().startswith("#"))


def _secret_lines(text: str) -> dict[str, bytes]:
    secrets: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"line {number}: expected `APIKey APISecret`")
        secrets[parts[0]] = parts[1].encode()
    return secrets


class _Reloaded(Generic[T]):
    """A file's parsed content, read again when it changes (checked at most once a second).
    An unreadable or malformed new version is logged and the last good one kept."""

    def __init__(self, path: Path, parse: Callable[[str], T]) -> None:
        self._path = path
        self._parse = parse
        self._checked = time.monotonic()
        try:
            self._stamp = file_stamp(path)
            self.value = parse(path.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"key file {str(path)!r}: {e}") from None

    def current(self) -> T:
        now = time.monotonic()
        if now - self._checked >= _RELOAD_EVERY_S:
            self._checked = now
            try:
                stamp = file_stamp(self._path)
                if stamp != self._stamp:
                    self.value = self._parse(self._path.read_text())
                    self._stamp = stamp
                    log.info("key file %s re-read", self._path)
            except (OSError, ValueError) as e:
                log.error("key file %s not re-read, the last version stays in use: %s",
                          self._path, e)
        return self.value


class _Seen:
    """Signatures accepted while their date is in the window: a second use is a replay."""

    def __init__(self, size: int = _REPLAY_CACHE) -> None:
        self._until: OrderedDict[str, float] = OrderedDict()
        self._size = size

    def first_use(self, signature: str, until: float, now: float) -> bool:
        while self._until and next(iter(self._until.values())) < now:
            self._until.popitem(last=False)
        if self._until.get(signature, 0.0) >= now:
            return False
        self._until[signature] = until
        if len(self._until) > self._size:
            self._until.popitem(last=False)
        return True


class Authenticator:
    """The credentials a request must carry, from [gateway] settings; `check` raises
    Unauthenticated (none, or malformed) or Forbidden (not accepted) and counts the reason."""

    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics) -> None:
        self._metrics = metrics
        self._env_keys = frozenset(settings.api_keys)
        self._key_file = (_Reloaded(settings.api_keys_file, _key_lines)
                          if settings.api_keys_file else None)
        self._secrets = (_Reloaded(settings.iflytek_keys_file, _secret_lines)
                         if settings.iflytek_keys_file else None)
        self._skew_s = settings.signature_skew_s
        self._admin = settings.auth_admin_routes
        self._seen = _Seen()

    @property
    def keys_on(self) -> bool:
        return bool(self._env_keys) or self._key_file is not None

    @property
    def enabled(self) -> bool:
        return self.keys_on or self._secrets is not None

    def guards(self, path: str) -> bool:
        if not self.enabled or path in _OPEN_ROUTES:
            return False
        return self._admin or path not in _ADMIN_ROUTES

    def check(self, transport: str, fields: Mapping[str, str], request_line: str) -> None:
        """`fields`: the credentials sent, by lower-case name (x-api-key, authorization,
        host, date, api_key), from headers, query or metadata."""
        try:
            self._check(fields, request_line)
        except (Unauthenticated, Forbidden) as refusal:
            self._metrics.auth_failures.labels(transport, refusal.reason).inc()
            log.debug("%s request refused (%s): %s", transport, refusal.reason, request_line)
            raise

    def _check(self, fields: Mapping[str, str], request_line: str) -> None:
        authorization = fields.get("authorization", "")
        scheme, _, bearer = authorization.partition(" ")
        key = fields.get("x-api-key") or (bearer.strip() if scheme.lower() == "bearer" else "")
        key = key or fields.get("api_key", "")
        if self._secrets is not None and authorization and scheme.lower() != "bearer":
            self._check_signature(authorization, fields, request_line)
        elif self.keys_on and key:
            self._check_key(key)
        else:
            raise Unauthenticated(self._wanted(), reason="missing")

    def _wanted(self) -> str:
        ways = []
        if self.keys_on:
            ways.append("send an API key in the X-Api-Key header (or Authorization: Bearer "
                        "KEY, or the api_key query parameter; gRPC: x-api-key metadata)")
        if self._secrets is not None:
            ways.append("sign the request as iFlytek's WebAPIs are signed (authorization, host "
                        "and date query parameters; gRPC: metadata)")
        return "authentication required: " + ", or ".join(ways)

    def _check_key(self, key: str) -> None:
        keys = self._env_keys | (self._key_file.current() if self._key_file else frozenset())
        sent = _sent(key)
        matched = False
        for known in keys:  # every key compared, in constant time: no early exit to time
            matched |= hmac.compare_digest(sent, known.encode())
        if not matched:
            raise Forbidden("the API key was not accepted", reason="unknown_key")

    def _check_signature(self, authorization: str, fields: Mapping[str, str],
                         request_line: str) -> None:
        assert self._secrets is not None
        host, date = fields.get("host", ""), fields.get("date", "")
        parts = _signature_fields(authorization)
        if parts is None or not host or not date or parts.get("algorithm") != "hmac-sha256" \
                or parts.get("headers") != "host date request-line":
            raise Unauthenticated(
                "authorization is not an iFlytek signature: send authorization (base64 of "
                'api_key="...", algorithm="hmac-sha256", headers="host date request-line", '
                'signature="...") with host and date', reason="malformed")
        refused = ("the request's signature was not accepted: sign host, date (RFC 1123, "
                   f"within {self._skew_s:g} s of now) and the request line with your "
                   "APISecret, once per request")
        secret = self._secrets.current().get(parts.get("api_key", ""))
        origin = _sent(f"host: {host}\ndate: {date}\n{request_line}")
        # a secret is computed with even for an unknown key, so both take the same time
        digest = hmac.new(secret or b"\0", origin, hashlib.sha256).digest()
        expected = base64.b64encode(digest).decode()
        if not hmac.compare_digest(expected.encode(), _sent(parts.get("signature", ""))) \
                or secret is None:
            raise Forbidden(refused, reason="bad_signature")
        signed_at = _epoch(date)
        now = time.time()
        if signed_at is None or abs(now - signed_at) > self._skew_s:
            raise Forbidden(refused, reason="expired")
        if not self._seen.first_use(expected, signed_at + self._skew_s, now):
            raise Forbidden(refused, reason="replay")


def _sent(text: str) -> bytes:
    """A client's text as bytes to compare or sign: UTF-8, with surrogates passed as they are
    (aiohttp reads header bytes that are not UTF-8 as surrogate escapes) rather than failing
    the request; such text never matches a key or a signature, so it is refused as any other."""
    return text.encode("utf-8", "surrogatepass")


def _signature_fields(authorization: str) -> dict[str, str] | None:
    try:
        # a client that did not URL-encode its query sent "+" that arrived as a space
        text = base64.b64decode(authorization.replace(" ", "+"), validate=True).decode()
    except (binascii.Error, ValueError):
        return None
    fields: dict[str, str] = {}
    for part in text.split(","):
        found = _FIELD.fullmatch(part)
        if found is None:
            return None
        fields[found[1]] = found[2]
    return fields if "api_key" in fields and "signature" in fields else None


def _epoch(date: str) -> float | None:
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return None
    # "-0000" (no zone given) is read as UTC, as RFC 1123's GMT is
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


AUTH = web.AppKey("auth", Authenticator)


def http_fields(request: web.Request) -> dict[str, str]:
    headers, query = request.headers, request.query
    fields = {name: query[name] for name in ("authorization", "host", "date", "api_key")
              if name in query}
    if "X-Api-Key" in headers:
        fields["x-api-key"] = headers["X-Api-Key"]
    if "authorization" not in fields and "Authorization" in headers:
        fields["authorization"] = headers["Authorization"]
    return fields


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuses a guarded route's request without accepted credentials (inside
    error_middleware, which turns the refusal into a 401/403 AIGES body)."""
    auth = request.app[AUTH]
    if auth.guards(request.path):
        line = f"{request.method} {request.rel_url.raw_path} HTTP/1.1"
        auth.check("http", http_fields(request), line)
    return await handler(request)

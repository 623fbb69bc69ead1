"""The API docs at the HTTP edge: /openapi.json, made once per ability set, and Swagger UI at
/docs from files the gateway itself serves (no CDN: gateways run on private networks)."""
from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from aiohttp import web

from gateway.declared import JSON
from gateway.openapi import document, path_item
from loader.v1 import loader_pb2

__all__ = ["DOCS_PATHS", "Docs"]

ASSETS = Path(__file__).with_name("docs_assets")
# served file -> content type: Swagger UI from the npm package swagger-ui-dist (vendored, see
# docs_assets/README.md), its licences, and our own start-up script
_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "athena-docs.js": "text/javascript",
    "favicon-32x32.png": "image/png",
    "LICENSE": "text/plain",
    "NOTICE": "text/plain",
    "swagger-ui-bundle.js.LICENSE.txt": "text/plain",
}
DOCS_PATHS = ("/openapi.json", "/docs", "/docs/", *(f"/docs/{name}" for name in _FILES))

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Athena Mesh API</title>
<link rel="stylesheet" href="docs/swagger-ui.css?v={css}">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png?v={icon}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js?v={bundle}"></script>
<script src="docs/athena-docs.js?v={init}"></script>
</body>
</html>
"""
# everything from this origin: a page that tried to reach a CDN would fail visibly
_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'")
_IMMUTABLE = "public, max-age=31536000, immutable"  # the URL carries the content's hash
_REVALIDATE = "no-cache"  # may be kept, but asked again (ETag) before each use


@dataclass(frozen=True)
class _Body:
    raw: bytes
    gzipped: bytes
    content_type: str
    digest: str

    @classmethod
    def of(cls, raw: bytes, content_type: str) -> _Body:
        # compressed once: the bundle is 1.7 MB raw, 0.46 MB gzipped
        return cls(raw, gzip.compress(raw, 6), content_type,
                   hashlib.sha256(raw).hexdigest()[:20])

    @property
    def etag(self) -> str:
        return f'W/"{self.digest}"'  # weak: the raw and the gzipped body share it

    def respond(self, request: web.Request, cache_control: str,
                headers: dict[str, str] | None = None) -> web.Response:
        common = {"Cache-Control": cache_control, "ETag": self.etag,
                  "Vary": "Accept-Encoding", **(headers or {})}
        if f'"{self.digest}"' in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=common)
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(body=self.gzipped, content_type=self.content_type,
                                headers={**common, "Content-Encoding": "gzip"})
        return web.Response(body=self.raw, content_type=self.content_type, headers=common)


@functools.cache
def _assets() -> tuple[dict[str, _Body], _Body]:
    """The files and the page that names them by content hash; read once, on first use."""
    files = {name: _Body.of((ASSETS / name).read_bytes(), kind) for name, kind in _FILES.items()}
    version = {key: files[name].digest for key, name in (
        ("css", "swagger-ui.css"), ("bundle", "swagger-ui-bundle.js"), ("init", "athena-docs.js"),
        ("icon", "favicon-32x32.png"))}
    return files, _Body.of(_PAGE.format(**version).encode(), "text/html")


def _version() -> str:
    try:
        return metadata.version("athena-mesh")
    except metadata.PackageNotFoundError:
        return "0"


class Docs:
    """The docs routes over a source of the abilities currently served."""

    def __init__(self, abilities: Callable[[], Sequence[loader_pb2.Ability]], *,
                 metrics: bool = True) -> None:
        self._abilities = abilities
        self._metrics = metrics  # /metrics on this port (not when an admin port has it)
        self._version = _version()
        self._items: dict[bytes, JSON] = {}  # path items by the ability's whole Describe
        self._key: tuple[bytes, ...] | None = None
        self._document: _Body | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/openapi.json", self.openapi),
            web.get("/docs", self.page),
            web.get("/docs/", self.to_page),
            *(web.get(f"/docs/{name}", functools.partial(self.asset, name)) for name in _FILES),
        ]

    def document(self) -> _Body:
        """The document for the abilities served now: remade only when they changed, and
        then each ability's path only when that ability is new or different."""
        by_identity = {a.SerializeToString(deterministic=True): a for a in self._abilities()}
        key = tuple(sorted(by_identity))
        if self._document is None or key != self._key:
            self._items = {k: self._items.get(k) or path_item(a) for k, a in by_identity.items()}
            made = document(by_identity.values(), version=self._version, make_item=self._item,
                            metrics=self._metrics)
            self._document = _Body.of(json.dumps(made).encode(), "application/json")
            self._key = key
        return self._document

    def _item(self, ability: loader_pb2.Ability) -> JSON:
        return self._items[ability.SerializeToString(deterministic=True)]

    async def openapi(self, request: web.Request) -> web.Response:
        return self.document().respond(request, _REVALIDATE)

    async def page(self, request: web.Request) -> web.Response:
        _, page = await _loaded()
        return page.respond(request, _REVALIDATE, {"Content-Security-Policy": _CSP})

    async def to_page(self, request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": "../docs"})

    async def asset(self, name: str, request: web.Request) -> web.Response:
        files, _ = await _loaded()
        body = files[name]
        versioned = request.query.get("v") == body.digest
        return body.respond(request, _IMMUTABLE if versioned else _REVALIDATE)


async def _loaded() -> tuple[dict[str, _Body], _Body]:
    if _assets.cache_info().currsize:
        return _assets()
    # off the loop the first time: reading and compressing 1.9 MB takes ~60 ms
    return await asyncio.to_thread(_assets)

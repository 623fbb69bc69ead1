"""HTTP routes: AIGES JSON one-shot calls, server-sent events, WebSocket sessions, health,
readiness and metrics.

How much /readyz tells is the app's READYZ: "status" (ready or not, nothing else: the public
port when [gateway] admin_port gives /metrics and the details a listener of their own,
gateway/admin.py), "details" (each ability's and worker's state, workers by index: the public
port otherwise) or "admin" (the same with each worker's address: the admin listener only)."""
from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from time import perf_counter

import grpc
from aiohttp import web
from athena_codec import JSONError, parse_request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.body import BodyBudget, as_utf8, read_body
from gateway.docs import DOCS_PATHS, Docs
from gateway.errors import (
    BadRequest,
    GatewayError,
    GatewayFault,
    MethodNotAllowed,
    NotFound,
    NoWorker,
    from_worker,
)
from gateway.events import one_event, serve_events, serves_sessions, wants_events, whole_as
from gateway.metrics import GatewayMetrics
from gateway.sessions import is_websocket, serve_session
from gateway.settings import GatewaySettings
from gateway.translate import to_call, to_json
from gateway.upstream import Upstreams
from loader.v1 import loader_pb2
from loader.v1.codes import Code

__all__ = [
    "METRICS", "READYZ", "SETTINGS", "UPSTREAMS", "abilities", "ability_readyz", "add_routes",
    "error_middleware", "healthz", "metrics", "readyz",
]

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", GatewaySettings)
METRICS = web.AppKey("metrics", GatewayMetrics)
UPSTREAMS = web.AppKey("upstreams", Upstreams)
BODIES = web.AppKey("bodies", BodyBudget)  # the memory promised to bodies being received
READYZ = web.AppKey("readyz", str)  # "status", "details" or "admin" (see the docstring)
# per request: the ability an ability route resolved to (set by the middleware), and the sid
ABILITY = web.RequestKey("ability", loader_pb2.Ability)
SID = web.RequestKey("sid", str)

_FIXED_ROUTES = ("/healthz", "/readyz", "/metrics", "/v1/abilities", *DOCS_PATHS)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_body(code: int, message: str, sid: str = "") -> dict[str, object]:
    return {"header": {"code": int(code), "message": message, "sid": sid}}


def _route_label(request: web.Request) -> str:
    """The route's pattern for metrics (raw paths would explode their cardinality); an
    ability route's ability is kept on the request, so the handler need not look it up again."""
    if request.path in _FIXED_ROUTES:
        return request.path
    if request.path.startswith("/readyz/"):
        return "/readyz/{service_id}"
    ability = request.app[UPSTREAMS].by_route(request.path)
    if ability is None:
        return "unmatched"
    request[ABILITY] = ability
    return ability.route


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Measures every request and turns every failure into an AIGES error body, once."""
    metrics = request.app[METRICS]
    route = _route_label(request)
    in_flight = metrics.http_in_flight.labels(route)
    in_flight.inc()
    started = perf_counter()
    try:
        response = await handler(request)
    except GatewayError as error:
        response = web.json_response(
            error_body(error.code, error.message, request.get(SID, "")),
            status=error.http_status, headers=error.headers,
        )
        if error.close:
            await _close_after(request, response)
    except web.HTTPException as error:  # aiohttp's own refusals carry an HTTP status only
        code = Code.ROUTE_NOT_FOUND if error.status == 404 else Code.REQUEST_JSON
        response = web.json_response(error_body(code, error.reason), status=error.status)
    except Exception:
        log.exception("unexpected gateway failure on %s", request.path)
        fault = GatewayFault("internal gateway error; see the gateway log")
        response = web.json_response(error_body(fault.code, fault.message, request.get(SID, "")),
                                     status=fault.http_status)
    finally:
        in_flight.dec()
    metrics.http_requests.labels(route, request.method, str(response.status)).inc()
    metrics.http_duration.labels(route, request.method).observe(perf_counter() - started)
    return response


async def _close_after(request: web.Request, response: web.StreamResponse) -> None:
    """Send the answer, then close the connection at once: aiohttp would otherwise wait up
    to 10 s (lingering) for the rest of a body nobody will read."""
    response.force_close()
    with contextlib.suppress(ConnectionError):  # the client may be gone already
        await response.prepare(request)
        await response.write_eof()
    if request.protocol is not None:
        request.protocol.force_close()


async def _read_json(request: web.Request) -> object:
    body = await read_body(request, request.app[SETTINGS], request.app[BODIES])
    request.app[METRICS].payload_bytes.labels("in").inc(len(body))
    try:
        # no copy of the payloads: their base64 stays in body, as Base64Spans
        return parse_request(as_utf8(body))
    except JSONError as e:
        raise BadRequest(f"request body is not JSON: {e}", Code.BODY_NOT_JSON) from None


async def ability_call(request: web.Request) -> web.StreamResponse:
    upstreams = request.app[UPSTREAMS]
    settings = request.app[SETTINGS]
    ability = request.get(ABILITY)  # looked up once, by the middleware
    if ability is None:
        gone = upstreams.known_route(request.path)
        if gone is not None:  # served before: its pool is empty now, not the route unknown
            raise NoWorker(
                f"ability {gone.service_id!r} at {gone.route} has no worker serving it now "
                f"(its workers went away); retry after {settings.retry_after_s} s",
                headers={"Retry-After": str(settings.retry_after_s)})
        unreached = upstreams.unreached()
        if unreached:  # the route may well be served: no worker has said what it serves
            raise NoWorker(
                f"no ability at {request.path} is known, but {unreached} of the gateway's "
                "workers, which may serve it, cannot be spoken to (a TLS handshake fails; "
                f"the gateway's log says what to set); retry after {settings.retry_after_s} s",
                headers={"Retry-After": str(settings.retry_after_s)})
        known = ", ".join(sorted(a.route for a in upstreams.abilities())) or "none yet"
        raise NotFound(f"no ability at {request.path}; abilities served: {known}")
    sid = f"atn{uuid.uuid4().hex}"
    if is_websocket(request):
        request[SID] = sid
        return await serve_session(request, ability, sid, settings, upstreams,
                                   request.app[METRICS])
    if request.method != "POST":
        raise MethodNotAllowed(
            f"{request.method} is not supported on {request.path}: POST an AIGES JSON request"
            " (or open a WebSocket session with GET and Upgrade: websocket)",
            headers={"Allow": "POST"},
        )
    request[SID] = sid
    events = wants_events(request)  # text/event-stream: see gateway/events.py for the rules
    body = await _read_json(request)
    # the payloads' base64 is decoded straight into the CallRequest bytes (the decode is
    # the only pass over them)
    call = to_call(body, ability.service_id, sid, settings.header_pass,
                   whole_as=whole_as(ability) if events else None)
    del body  # the request text is not needed while the worker runs
    if events and serves_sessions(ability):
        return await serve_events(request, call, ability.service_id, sid, settings, upstreams,
                                  request.app[METRICS])
    try:
        reply = await upstreams.call(ability.service_id, call.request, settings.timeout_s)
    except grpc.aio.AioRpcError as error:
        raise from_worker(error, settings.retry_after_s,
                          expose_wrapper_errors=settings.expose_wrapper_errors) from None
    # outputs are views into reply, base64-encoded straight into the JSON bytes (the encode
    # is the only pass over them)
    text = to_json(reply, call.accepts)
    del reply
    request.app[METRICS].payload_bytes.labels("out").inc(len(text))
    if events:
        return await one_event(request, text)
    return await _answer(request, text)


_JSON = "application/json"
_SLICE = 256 * 1024  # a body this size or larger goes out in slices of this size


async def _answer(request: web.Request, body: bytes) -> web.StreamResponse:
    """Send a big body in slices of one view, waiting for each to drain: asyncio's transport
    copies whatever the socket does not take at once into its buffer, so handing it 22 MB at
    once meant copying most of it (and Python 3.11 first joins headers and body: one more)."""
    if len(body) < _SLICE:
        return web.Response(body=body, content_type=_JSON, charset="utf-8")
    response = web.StreamResponse()
    response.content_type = _JSON
    response.charset = "utf-8"
    response.content_length = len(body)
    await response.prepare(request)
    with memoryview(body) as view:
        for start in range(0, len(body), _SLICE):
            await response.write(view[start:start + _SLICE])
    await response.write_eof()
    return response


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    upstreams = request.app[UPSTREAMS]
    ready = upstreams.ready(request.app[SETTINGS].ready_abilities)
    body: dict[str, object] = {"status": "ready" if ready else "not ready"}
    shown = request.app[READYZ]
    if shown != "status":
        body["abilities"] = {a.service_id: {"ready": upstreams.ability_ready(a.service_id)}
                             for a in upstreams.abilities()}
        body["workers"] = [
            {"worker": index, "ability": e.service_id, "healthy": e.healthy,
             "outstanding": e.outstanding, **({"address": e.address} if shown == "admin" else {})}
            for index, e in enumerate(upstreams.endpoints)
        ]
        # they name the wrappers' files: for operators, on the admin listener
        body["conflicts"] = upstreams.conflicts if shown == "admin" else len(upstreams.conflicts)
    return web.json_response(body, status=200 if ready else 503)


async def ability_readyz(request: web.Request) -> web.Response:
    """One ability's readiness: 200 while a worker of it takes calls, 503 while none does,
    404 for an ability never served here (a Kubernetes probe or a load balancer per route)."""
    upstreams = request.app[UPSTREAMS]
    service_id = request.match_info["service_id"]
    known = upstreams.by_service(service_id) or upstreams.known_service(service_id)
    if known is None:
        served = ", ".join(sorted(a.service_id for a in upstreams.abilities())) or "none yet"
        raise NotFound(f"no ability {service_id!r} is served here; served: {served}")
    ready = upstreams.ability_ready(service_id)
    return web.json_response({"ability": service_id, "status": "ready" if ready else
                              "not ready"}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def abilities(request: web.Request) -> web.Response:
    listed = [
        {"service_id": a.service_id, "version": a.version, "route": a.route,
         "licence": a.licence, "operations": list(a.operations),
         "wrapper_version": a.wrapper_version}
        for a in request.app[UPSTREAMS].abilities()
    ]
    return web.json_response({"abilities": listed})


def add_routes(app: web.Application) -> None:
    app[BODIES] = BodyBudget(app[SETTINGS].max_bodies_in_flight_bytes)
    admin_elsewhere = app[SETTINGS].admin_port is not None
    app[READYZ] = "status" if admin_elsewhere else "details"
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/readyz/{service_id}", ability_readyz)
    if not admin_elsewhere:  # else on the admin listener alone (an ability route here: 404)
        app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/abilities", abilities)
    # /openapi.json and /docs (Swagger UI); the document follows the abilities learned
    app.router.add_routes(Docs(lambda: app[UPSTREAMS].abilities(),
                               metrics=not admin_elsewhere).routes())
    # ability routes are learned from the workers at run time, so one catch-all resolves them
    app.router.add_route("*", "/{path:.*}", ability_call)

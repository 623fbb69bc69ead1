"""Server-sent events: an AIGES POST answered as a text/event-stream, each result as it comes.

`POST <route>` whose Accept header lists `text/event-stream` (anywhere among other types,
with any q-value above 0; otherwise the answer is JSON, as ever) and whose body is an AIGES
JSON request. The body is the whole input. Which call it makes:

- An ability that serves sessions (`stream` among its operations, whether or not it serves
  once calls too) gets a worker Session: the body is its one and only frame, then the gateway
  half-closes. Every payload item goes as status 2 (last), whether it says 2, 3 or nothing:
  AIGES stream wrappers know 0/1/2 only, and one status-2 frame is how AIGES clients send a
  short input. Each result is an `event: result` the moment it arrives, its data the result
  frame the WebSocket path sends (header.status 2 on the final one); then the response ends.
- A once-only ability gets the ordinary Call: one `event: result` whose data is the JSON
  answer a plain POST gets (header.status 3), then the end. So a client that always asks for
  events works with every ability.
- Items saying status 0 or 1 (more to come) are refused on either path, 400 with code 10001,
  before anything is called: there is no more to come (streamed input is a WebSocket's).

The response (200, these headers) starts with its first event. Until then a failure is an
ordinary HTTP error answer, exactly as for a JSON POST (the error middleware writes it): a bad
body, no such route, no worker (503), every worker at its licence (429, Retry-After), and a
wrapper that fails before its first result. After it, a failure is one `event: error` whose
data is `{"header": {"code", "message", "sid"}}`, then the end: the wrapper's error code, the
worker lost (10109), a timeout (10114).

Every event has an `id:` (1, 2, ... within the response) and one `data:` line: render_json
writes no whitespace and JSON escapes line breaks inside strings. Timeouts: [ws]
sessionTimeout bounds the whole session, as it bounds a WebSocket session; each result, the
first included, must come within [gateway] timeout_s of the one before (the time a one-shot
answer may take). A client that disconnects cancels the worker's Session stream, so the
worker destroys the session. Sessions are counted with transport "sse"; a once-only ability's
answer is a one-shot call, counted as such.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import hdrs, web

from gateway.errors import DeadlineExceeded, GatewayError, GatewayFault
from gateway.metrics import GatewayMetrics, SessionMeter
from gateway.sessions import Pump, end_reason
from gateway.settings import GatewaySettings
from gateway.translate import DATA_END, Call, to_json
from gateway.upstream import Upstreams
from loader.v1 import loader_pb2
from loader.v1.codes import Code
from loader.v1.wire import DATA_ONCE

__all__ = ["MEDIA_TYPE", "EventStream", "one_event", "serve_events", "serves_sessions",
           "wants_events", "whole_as"]

log = logging.getLogger(__name__)

MEDIA_TYPE = "text/event-stream"
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx would otherwise hold events back to fill its buffer
}
_WATCH_S = 0.1  # how often a stream waiting on the worker checks its client is still there
_ONE_WRITE = 64 * 1024  # an event smaller than this goes out in one write
_SLICE = 256 * 1024  # a bigger one in slices of this size (see routes._answer)


def wants_events(request: web.Request) -> bool:
    """Whether the Accept header lists text/event-stream with a q-value above 0."""
    for value in request.headers.getall(hdrs.ACCEPT, ()):
        for media_range in value.split(","):
            media, *params = media_range.split(";")
            if media.strip().lower() == MEDIA_TYPE and _quality(params) > 0:
                return True
    return False


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 1.0  # a q-value that is no number is ignored (RFC 9110 weights it 1)
    return 1.0


def serves_sessions(ability: loader_pb2.Ability) -> bool:
    return "stream" in ability.operations


def whole_as(ability: loader_pb2.Ability) -> int:
    """The status every payload item of an events request goes with (to_call's `whole_as`)."""
    return DATA_END if serves_sessions(ability) else DATA_ONCE


class _ClientGone(Exception):
    """The client disconnected before the stream's end."""


class EventStream:
    """The SSE response to one request: it starts (200 and headers) with its first event."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._response: web.StreamResponse | None = None
        self._count = 0

    @property
    def started(self) -> bool:
        return self._response is not None

    async def send(self, data: bytes, event: str = "result") -> None:
        """One event whose data is `data` (one line); ConnectionError if the client left."""
        response = self._response or await self._start()
        self._count += 1
        head = f"id: {self._count}\nevent: {event}\ndata: ".encode()
        if len(data) < _ONE_WRITE:
            # copy: a small event goes out in one write (one packet), not three
            await response.write(b"".join((head, data, b"\n\n")))
            return
        await response.write(head)
        with memoryview(data) as view:
            for start in range(0, len(data), _SLICE):
                await response.write(view[start:start + _SLICE])
        await response.write(b"\n\n")

    async def fail(self, error: GatewayError, sid: str) -> None:
        header = {"code": int(error.code), "message": error.message, "sid": sid}
        with contextlib.suppress(ConnectionError):
            await self.send(json.dumps({"header": header}).encode(), "error")

    async def finish(self) -> web.StreamResponse:
        """The response for aiohttp to finish: the stream, ended; or, when the client left
        before the first event, an empty 499 that no one will read."""
        if self._response is None:
            return web.Response(status=499, reason="Client Closed Request")
        with contextlib.suppress(ConnectionError):
            await self._response.write_eof()
        return self._response

    async def _start(self) -> web.StreamResponse:
        response = web.StreamResponse(headers=_HEADERS)
        response.content_type = MEDIA_TYPE
        await response.prepare(self._request)
        self._response = response
        return response


async def one_event(request: web.Request, text: bytes) -> web.StreamResponse:
    """A once call's answer as the one event of a stream."""
    stream = EventStream(request)
    with contextlib.suppress(ConnectionError):
        await stream.send(text)
    return await stream.finish()


async def serve_events(request: web.Request, call: Call, service_id: str, sid: str,
                       settings: GatewaySettings, upstreams: Upstreams,
                       metrics: GatewayMetrics) -> web.StreamResponse:
    """`call` (translated with whole_as) as a worker Session whose results are events.
    Raises a GatewayError only while nothing has been sent (see the module's docstring)."""
    stream = EventStream(request)
    with metrics.session(service_id, "sse") as meter:
        relay = _relay(stream, call, service_id, settings, upstreams, metrics, meter)
        try:
            await _while_connected(request, relay)
            meter.reason = "completed"
        except (_ClientGone, ConnectionError):
            meter.reason = "client_gone"
        except GatewayError as error:
            meter.reason = end_reason(error)
            if not stream.started:
                raise
            await stream.fail(error, sid)
        except Exception:
            if not stream.started:
                raise  # the error middleware logs it and answers 500
            log.exception("unexpected gateway failure in the event stream of %s", sid)
            await stream.fail(GatewayFault("internal gateway error; see the gateway log"), sid)
    return await stream.finish()


async def _relay(stream: EventStream, call: Call, service_id: str, settings: GatewaySettings,
                 upstreams: Upstreams, metrics: GatewayMetrics, meter: SessionMeter) -> None:
    async with upstreams.lifetimes.bound(), upstreams.session(service_id) as rpc:
        pump = Pump(rpc, service_id, settings.retry_after_s, metrics, meter,
                    expose_wrapper_errors=settings.expose_wrapper_errors)
        await pump.write(call.request)
        await pump.done_writing()
        while (reply := await _next_within(pump, settings.timeout_s)) is not None:
            # the header's status is the outputs' own (2 on the final), as on a WebSocket
            text = to_json(reply, call.accepts, status=None)
            metrics.payload_bytes.labels("out").inc(len(text))
            await stream.send(text)


async def _next_within(pump: Pump, wait_s: float) -> bytes | None:
    try:
        async with asyncio.timeout(wait_s):
            return await pump.next_result()
    except TimeoutError:
        # only this wait's own expiry: the session's arrives here as a cancellation
        raise DeadlineExceeded(f"no result within [gateway] timeout_s ({wait_s:g} s)",
                               Code.SESSION_TIMEOUT) from None


async def _while_connected(request: web.Request, work: Coroutine[Any, Any, None]) -> None:
    """Run `work`, cancelled if the client disconnects first: aiohttp does not cancel a
    handler whose client has gone, and a stream waiting on its worker writes nothing that
    would fail, so it looks at the connection itself."""
    task = asyncio.create_task(work)
    try:
        while not (await asyncio.wait({task}, timeout=_WATCH_S))[0]:
            transport = request.transport
            if transport is None or transport.is_closing():
                raise _ClientGone
        task.result()
    finally:
        if not task.done():
            task.cancel()  # leaves upstreams.session, which cancels the worker's stream
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

"""Stream sessions at the gateway: the pump any transport drives one worker's Session stream
with, and WebSocket sessions on it (server-sent events, gateway/events.py, use it too).

Every client text frame is an AIGES request (the first opens the session with its `header` /
`parameter`; later ones usually carry `payload` only). Each becomes a CallRequest on the
worker's Session stream; after the frame whose payload is final (status 2, or 3) the gateway
half-closes. Each CallResponse goes back as a result frame; when the worker ends the stream
(after the final result) the gateway closes with 1000. A failure is one error frame
`{"header": {"code", "message", "sid"}}`, then a close: 1008 for the client's fault, 1011
otherwise. A client that goes away cancels the stream, so the worker destroys the session.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any

import grpc
from aiohttp import WSCloseCode, WSMsgType, web

from gateway.errors import (
    BadRequest,
    DeadlineExceeded,
    GatewayError,
    ShuttingDown,
    TooLarge,
    WorkerLost,
    from_worker,
)
from gateway.metrics import EndReason, GatewayMetrics, SessionMeter
from gateway.settings import GatewaySettings
from gateway.translate import Accept, to_call, to_json
from gateway.upstream import Upstreams
from loader.v1 import loader_pb2
from loader.v1.codes import Code

__all__ = ["Pump", "end_reason", "is_websocket", "serve_session"]

log = logging.getLogger(__name__)

_FINAL = frozenset({2, 3})  # payload statuses after which the client sends nothing more


def is_websocket(request: web.Request) -> bool:
    return (request.method == "GET"
            and request.headers.get("Upgrade", "").lower() == "websocket")


class Pump:
    """One worker's Session stream, for any client transport: frames written and results read,
    each counted; a worker's failure raised as the GatewayError its client hears."""

    def __init__(self, call: grpc.aio.StreamStreamCall, service_id: str, retry_after_s: int,
                 metrics: GatewayMetrics, meter: SessionMeter, *,
                 expose_wrapper_errors: bool = False) -> None:
        self._call = call
        self._service_id = service_id
        self._retry_after_s = retry_after_s
        self._expose = expose_wrapper_errors
        self._metrics = metrics
        self._meter = meter

    async def write(self, request: bytes) -> None:
        self._metrics.payload_bytes.labels("in").inc(len(request))
        self._meter.frame_in()
        try:
            await self._call.write(request)
        except grpc.aio.AioRpcError as error:
            raise self._worker_error(error) from None

    async def done_writing(self) -> None:
        """Half-close: the worker has every frame (a no-op once the stream has ended)."""
        await self._call.done_writing()

    async def next_result(self) -> bytes | None:
        """The worker's next result (CallResponse wire bytes), or None once it ended the
        stream after its final one."""
        try:
            reply = await self._call.read()
        except grpc.aio.AioRpcError as error:
            raise self._worker_error(error) from None
        if reply is grpc.aio.EOF:
            return None
        self._meter.frame_out()
        return reply  # bytes: the stream is raw, nothing was parsed

    def _worker_error(self, error: grpc.aio.AioRpcError) -> GatewayError:
        if error.code() is grpc.StatusCode.UNAVAILABLE:
            return WorkerLost(f"the worker of {self._service_id!r} went away during the session")
        return from_worker(error, self._retry_after_s, expose_wrapper_errors=self._expose)


class _ClientGone(Exception):
    """The client closed the WebSocket (or its connection dropped)."""


async def serve_session(request: web.Request, ability: loader_pb2.Ability, sid: str,
                        settings: GatewaySettings, upstreams: Upstreams,
                        metrics: GatewayMetrics) -> web.WebSocketResponse:
    ws = _SessionSocket(sid, max_msg_size=settings.max_body_bytes)
    await ws.prepare(request)
    with metrics.session(ability.service_id, "websocket") as meter:
        try:
            async with upstreams.lifetimes.bound():
                await _Session(ws, ability.service_id, sid, settings, metrics, meter).run(
                    upstreams)
            meter.reason = "completed"
        except GatewayError as error:
            meter.reason = end_reason(error)
            await _fail(ws, sid, error)
        except _ClientGone:
            meter.reason = "client_gone"
            log.debug("session %s: the client went away", sid)
        finally:
            if not ws.closed:
                await ws.close()
    return ws


class _SessionSocket(web.WebSocketResponse):
    """aiohttp refuses a frame over max_msg_size (1009), a text frame that is not UTF-8 (1007)
    or one breaking the WebSocket protocol (1002) by closing at once, before the handler hears
    of it: this socket sends the AIGES error frame just before that close, so the client
    learns what happened as for any other failure."""

    def __init__(self, sid: str, *, max_msg_size: int) -> None:
        super().__init__(max_msg_size=max_msg_size)
        self._sid = sid
        self._limit = max_msg_size

    def _refusal(self, code: int) -> GatewayError | None:
        if code == WSCloseCode.MESSAGE_TOO_BIG:
            return TooLarge(f"a frame is over the {self._limit}-byte limit "
                            "([gateway] max_body_mb): send the input in smaller frames")
        if code == WSCloseCode.INVALID_TEXT:
            return BadRequest("a text frame is not UTF-8: frames are AIGES JSON text",
                              Code.FRAME_JSON)
        if code == WSCloseCode.PROTOCOL_ERROR:
            return BadRequest("a frame broke the WebSocket protocol", Code.FRAME_JSON)
        return None

    async def close(self, *, code: int = WSCloseCode.OK, message: bytes = b"",
                    drain: bool = True) -> bool:
        refusal = self._refusal(code)
        if refusal is not None and not self.closed:
            header = {"code": int(refusal.code), "message": refusal.message, "sid": self._sid}
            with contextlib.suppress(ConnectionError):
                await self.send_str(json.dumps({"header": header}))
        return await super().close(code=code, message=message, drain=drain)


def end_reason(error: GatewayError) -> EndReason:
    """How a session that failed with `error` ended, for athena_gateway_session_ends."""
    if isinstance(error, WorkerLost):
        return "worker_lost"
    if isinstance(error, ShuttingDown):
        return "shutdown"
    if error.code == Code.SESSION_TIMEOUT:
        return "timeout"
    return "error"


async def _fail(ws: web.WebSocketResponse, sid: str, error: GatewayError) -> None:
    if ws.closed:
        return
    header = {"code": int(error.code), "message": error.message, "sid": sid}
    close = (WSCloseCode.GOING_AWAY if isinstance(error, ShuttingDown)
             else WSCloseCode.POLICY_VIOLATION if error.http_status < 500
             else WSCloseCode.INTERNAL_ERROR)
    with contextlib.suppress(ConnectionError):
        await ws.send_str(json.dumps({"header": header}))
        await ws.close(code=close)


class _Session:
    def __init__(self, ws: web.WebSocketResponse, service_id: str, sid: str,
                 settings: GatewaySettings, metrics: GatewayMetrics, meter: SessionMeter) -> None:
        self._ws = ws
        self._service_id = service_id
        self._sid = sid
        self._settings = settings
        self._metrics = metrics
        self._meter = meter

    async def run(self, upstreams: Upstreams) -> None:
        body = await self._next_frame()
        opening = to_call(body, self._service_id, self._sid, self._settings.header_pass)
        async with upstreams.session(self._service_id) as call:
            pump = Pump(call, self._service_id, self._settings.retry_after_s, self._metrics,
                        self._meter,
                        expose_wrapper_errors=self._settings.expose_wrapper_errors)
            await pump.write(opening.request)
            final = _is_final(body)
            if final:
                await pump.done_writing()
            feed = asyncio.create_task(self._feed(pump, final))
            drain = asyncio.create_task(self._drain(pump, opening.accepts))
            try:
                done, _ = await asyncio.wait({feed, drain}, return_when=asyncio.FIRST_COMPLETED)
                # the worker ended the stream (results sent, or its error), or the client's
                # side failed (a bad frame, a timeout, gone): either way the session is over
                (drain if drain in done else feed).result()
            finally:
                for task in (feed, drain):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        if not self._ws.closed:
            await self._ws.close()  # 1000: the final result went out

    async def _feed(self, pump: Pump, final: bool) -> None:
        """Client frames to the worker until the final one; then only watch for the close."""
        while not final:
            body = await self._next_frame()
            # later frames carry payload only: no parameter means no params and no accepts
            frame = to_call(body, self._service_id, "", self._settings.header_pass)
            await pump.write(frame.request)
            final = _is_final(body)
        await pump.done_writing()
        while True:
            message = await self._ws.receive()
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                WSMsgType.ERROR):
                raise _ClientGone
            log.debug("session %s: a frame after the final one is ignored", self._sid)

    async def _drain(self, pump: Pump, accepts: list[Accept]) -> None:
        while (reply := await pump.next_result()) is not None:
            # the header's status is the outputs' own (2 on the final), not a call's 3
            text = to_json(reply, accepts, status=None)
            self._metrics.payload_bytes.labels("out").inc(len(text))
            try:
                await self._ws.send_frame(text, WSMsgType.TEXT)
            except ConnectionError:
                raise _ClientGone from None

    async def _next_frame(self) -> Any:
        timeout = self._settings.ws_read_timeout_s
        try:
            message = await self._ws.receive(timeout=timeout)
        except TimeoutError:
            raise DeadlineExceeded(
                f"no frame within [ws] readTimeout ({timeout:g} s)", Code.SESSION_TIMEOUT
            ) from None
        if message.type is WSMsgType.TEXT:
            try:
                # copy: the frame is a str, so its base64 is decoded from a str (no spans)
                return json.loads(message.data)
            except ValueError as e:
                raise BadRequest(f"frame is not JSON: {e}", Code.FRAME_JSON) from None
            except RecursionError:
                raise BadRequest("frame is nested too deeply to be an AIGES request",
                                 Code.FRAME_JSON) from None
        if message.type is WSMsgType.BINARY:
            raise BadRequest("frames are AIGES JSON text, not binary", Code.FRAME_JSON)
        raise _ClientGone


def _is_final(body: Mapping[str, Any]) -> bool:
    """Whether the frame's payload is the last (to_call has checked its statuses)."""
    payload = body.get("payload") or {}
    return any(int(item.get("status", 3)) in _FINAL for item in payload.values())

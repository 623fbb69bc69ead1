"""Public gRPC edge: loader.v1 calls and Session streams from clients, forwarded to a worker
as raw bytes.

A Session is relayed to one worker of the ability, frame for frame in both directions and never
re-parsed: the client's CallRequest bytes (its sid included; the worker makes one when it is
empty) go to the worker as they came, the worker's CallResponse bytes come back as they are.
The client half-closing half-closes the worker's stream; a client that cancels (or whose
deadline passes) cancels it, so the worker destroys the session. The worker's own failure
status reaches the client as it came, as for Call (but for the message, which
gateway.errors.relayed rewrites as for HTTP clients: a wrapper exception's type and sid, not
its text); a worker that goes away mid-session is UNAVAILABLE with 10109; `[ws]
sessionTimeout` bounds a session here as on WebSocket (10114). A Describe request that is
not a DescribeRequest is INVALID_ARGUMENT with 10001, as the worker answers Call and Session
bytes that are not a CallRequest.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from time import perf_counter

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.auth import Authenticator
from gateway.errors import (
    BadRequest,
    GatewayError,
    GatewayFault,
    NotFound,
    NoWorker,
    WorkerLost,
    relayed,
)
from gateway.metrics import GatewayMetrics, SessionMeter
from gateway.sessions import end_reason
from gateway.settings import GatewaySettings
from gateway.upstream import Upstreams
from loader.v1 import loader_pb2
from loader.v1.codes import Code
from loader.v1.wire import ABILITY_METADATA, SERVICE, message_options

__all__ = ["start_edge"]

log = logging.getLogger(__name__)


class _Edge:
    def __init__(self, upstreams: Upstreams, settings: GatewaySettings,
                 metrics: GatewayMetrics, auth: Authenticator) -> None:
        self._upstreams = upstreams
        self._settings = settings
        self._metrics = metrics
        self._auth = auth

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                # no deserializer: the bytes a client sent are the bytes the worker gets
                "Call": grpc.unary_unary_rpc_method_handler(self.call),
                "Session": grpc.stream_stream_rpc_method_handler(self.session),
                # parsed in the handler: grpc would answer bytes it cannot parse with UNKNOWN
                "Describe": grpc.unary_unary_rpc_method_handler(
                    self.describe, response_serializer=loader_pb2.Ability.SerializeToString),
            },
        )

    def _ability(self, context: grpc.aio.ServicerContext, method: str,
                 request: bytes | None = None) -> loader_pb2.Ability:
        """The ability the call is for, once its credentials are accepted (and `request`, a
        Describe's, read as a DescribeRequest)."""
        metadata = {str(k): str(v) for k, v in context.invocation_metadata() or ()}
        if self._auth.enabled:
            self._auth.check("grpc", metadata, f"POST /{SERVICE}/{method} HTTP/2")
        if request is not None:
            try:
                loader_pb2.DescribeRequest.FromString(request)
            except DecodeError:
                raise BadRequest("the request is not a valid loader.v1.DescribeRequest",
                                 Code.REQUEST_CONVERSION) from None
        wanted = metadata.get(ABILITY_METADATA)
        abilities = self._upstreams.abilities()
        if wanted:
            found = self._upstreams.by_service(str(wanted))
            if found is not None:
                return found
            if self._upstreams.known_service(str(wanted)) is not None:
                raise NoWorker(f"ability {str(wanted)!r} has no worker serving it now (its "
                               f"workers went away); retry after {self._settings.retry_after_s} s")
        elif len(abilities) == 1:
            return abilities[0]
        names = ", ".join(sorted(a.service_id for a in abilities)) or "none yet"
        raise NotFound(f"name the ability in the {ABILITY_METADATA!r} metadata; served: {names}")

    async def call(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        started = perf_counter()
        code = "OK"
        try:
            ability = self._ability(context, "Call")
            remaining = context.time_remaining()
            timeout = self._settings.timeout_s if remaining is None else remaining
            return await self._upstreams.call(ability.service_id, request, timeout)
        except Exception as error:
            code = _status_name(error)  # before the abort, which raises
            await _abort(context, error, self._settings.expose_wrapper_errors)
            raise
        finally:
            self._metrics.grpc_requests.labels("Call", code).inc()
            self._metrics.grpc_duration.labels("Call").observe(perf_counter() - started)

    async def describe(self, request: bytes,
                       context: grpc.aio.ServicerContext) -> loader_pb2.Ability:
        code = "OK"
        try:
            described = loader_pb2.Ability()
            described.CopyFrom(self._ability(context, "Describe", request))
            described.ClearField("wrapper")  # a path on the worker's machine: not for clients
            return described
        except Exception as error:
            code = _status_name(error)  # before the abort, which raises
            await _abort(context, error, self._settings.expose_wrapper_errors)
            raise
        finally:
            self._metrics.grpc_requests.labels("Describe", code).inc()

    async def session(self, requests: AsyncIterator[bytes],
                      context: grpc.aio.ServicerContext) -> None:
        started = perf_counter()
        code = "OK"
        try:
            ability = self._ability(context, "Session")
            with self._metrics.session(ability.service_id, "grpc") as meter:
                await self._metered_session(ability.service_id, requests, context, meter)
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except Exception as error:
            code = _status_name(error)  # before the abort, which raises
            await _abort(context, error, self._settings.expose_wrapper_errors)
            raise
        finally:
            self._metrics.grpc_requests.labels("Session", code).inc()
            self._metrics.grpc_duration.labels("Session").observe(perf_counter() - started)

    async def _metered_session(self, service_id: str, requests: AsyncIterator[bytes],
                               context: grpc.aio.ServicerContext, meter: SessionMeter) -> None:
        """Relay the session, and say how it ended (meter.reason); failures go on as
        exceptions for `session` to turn into the client's status."""
        try:
            async with self._upstreams.lifetimes.bound():
                await self._relay(service_id, requests, context, meter)
            meter.reason = "completed"
        except asyncio.CancelledError:
            remaining = context.time_remaining()
            meter.reason = "timeout" if remaining is not None and remaining <= 0 else "client_gone"
            raise
        except grpc.aio.AioRpcError as error:
            # CANCELLED while our client is still here: the worker's server ended the stream
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                meter.reason = "worker_lost"
                raise WorkerLost(f"the worker of {service_id!r} went away during the session; "
                                 "it is being restarted") from None
            meter.reason = "error"
            raise
        except GatewayError as error:
            meter.reason = end_reason(error)
            raise

    async def _relay(self, service_id: str, requests: AsyncIterator[bytes],
                     context: grpc.aio.ServicerContext, meter: SessionMeter) -> None:
        async with self._upstreams.session(service_id) as call:
            feed = asyncio.create_task(self._feed(requests, call, meter))
            drain = asyncio.create_task(self._drain(call, context, meter))
            try:
                done, _ = await asyncio.wait({feed, drain}, return_when=asyncio.FIRST_COMPLETED)
                if drain not in done:
                    feed.result()  # the client half-closed; its results are still to come
                    await drain
                # the worker ended the stream (after the final result, or with its error):
                # the session is over even if the client has not half-closed
                drain.result()
            finally:
                for task in (feed, drain):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _feed(self, requests: AsyncIterator[bytes], call: grpc.aio.StreamStreamCall,
                    meter: SessionMeter) -> None:
        """The client's frames to the worker as they came, then the half-close."""
        try:
            async for request in requests:
                self._metrics.payload_bytes.labels("in").inc(len(request))
                meter.frame_in()
                await call.write(request)
            await call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            return  # the worker's stream has ended: _drain reports how

    async def _drain(self, call: grpc.aio.StreamStreamCall, context: grpc.aio.ServicerContext,
                     meter: SessionMeter) -> None:
        """The worker's results to the client as they come, until the worker ends the stream
        (AioRpcError when it ends with a failure)."""
        async for reply in call:
            self._metrics.payload_bytes.labels("out").inc(len(reply))
            meter.frame_out()
            await context.write(reply)


def _status_name(error: Exception) -> str:
    """The gRPC status the client gets for `error`, for metrics."""
    if isinstance(error, grpc.aio.AioRpcError):
        return str(error.code().name)
    kind = error if isinstance(error, GatewayError) else GatewayFault
    return str(kind.grpc_status.name)


async def _abort(context: grpc.aio.ServicerContext, error: Exception, expose: bool) -> None:
    """End the client's RPC for `error` (raises): the one place the edge maps errors. A
    worker's status passes on as it came, AIGES code details included, its message as
    gateway.errors.relayed allows ([gateway] expose_wrapper_errors: `expose`)."""
    if isinstance(error, grpc.aio.AioRpcError):
        await context.abort(*relayed(error, expose))
    await context.abort_with_status(_as_gateway_error(error).rpc_status())


def _as_gateway_error(error: Exception) -> GatewayError:
    if isinstance(error, GatewayError):
        return error
    log.exception("unexpected gateway failure in a gRPC call")
    return GatewayFault("internal gateway error; see the gateway log")


def _connection_options(settings: GatewaySettings, max_connections: int
                        ) -> list[tuple[str, int]]:
    """At most `max_connections` client connections (grpc core closes one over it at once:
    the client's channel sees UNAVAILABLE and reconnects with backoff), each given
    header_timeout_s for its HTTP/2 handshake (grpc's own default is 120 s: a socket that sends
    nothing would hold a descriptor that long). A connection with no RPC for
    keepalive_timeout_s is sent GOAWAY (its channel reconnects when next used); one older than
    grpc_max_connection_age_s is too, so clients spread over gateway replicas added since, its
    RPCs given as long as a call or session may last to finish."""
    grace = max(settings.timeout_s, settings.ws_session_timeout_s)
    return [("grpc.max_allowed_incoming_connections", max_connections),
            ("grpc.server_handshake_timeout_ms", int(settings.header_timeout_s * 1000)),
            ("grpc.max_connection_idle_ms", int(settings.keepalive_timeout_s * 1000)),
            ("grpc.max_connection_age_ms", int(settings.grpc_max_connection_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms", int(grace * 1000))]


async def start_edge(
    upstreams: Upstreams, settings: GatewaySettings, metrics: GatewayMetrics,
    auth: Authenticator | None = None, max_connections: int | None = None,
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """`auth`: the HTTP app's, so both share key reloads and the replay cache.
    `max_connections`: [gateway] grpc_max_connections as RLIMIT_NOFILE leaves room for
    (gateway.connections.connection_limits); the setting itself when not given."""
    auth = auth or Authenticator(settings, metrics)
    cap = settings.grpc_max_connections if max_connections is None else max_connections
    server = grpc.aio.server(options=[*message_options(settings.max_message_bytes),
                                      *_connection_options(settings, cap)])
    server.add_generic_rpc_handlers((_Edge(upstreams, settings, metrics, auth).handler(),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


"""Public gRPC edge: loader.v1 calls from clients, forwarded to a worker as raw bytes."""
from __future__ import annotations

import logging
from time import perf_counter

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.errors import GatewayError, GatewayFault, NotFound
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from gateway.upstream import Upstreams
from loader.v1 import loader_pb2
from loader.v1.wire import ABILITY_METADATA, SERVICE, message_options

__all__ = ["start_edge"]

log = logging.getLogger(__name__)


class _Edge:
    def __init__(self, upstreams: Upstreams, settings: GatewaySettings,
                 metrics: GatewayMetrics) -> None:
        self._upstreams = upstreams
        self._settings = settings
        self._metrics = metrics

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                # no deserializer: the bytes a client sent are the bytes the worker gets
                "Call": grpc.unary_unary_rpc_method_handler(self.call),
                "Describe": grpc.unary_unary_rpc_method_handler(
                    self.describe,
                    request_deserializer=loader_pb2.DescribeRequest.FromString,
                    response_serializer=loader_pb2.Ability.SerializeToString,
                ),
            },
        )

    def _ability(self, context: grpc.aio.ServicerContext) -> loader_pb2.Ability:
        wanted = dict(context.invocation_metadata() or ()).get(ABILITY_METADATA)
        abilities = self._upstreams.abilities()
        if wanted:
            found = self._upstreams.by_service(str(wanted))
            if found is not None:
                return found
        elif len(abilities) == 1:
            return abilities[0]
        names = ", ".join(sorted(a.service_id for a in abilities)) or "none yet"
        raise NotFound(f"name the ability in the {ABILITY_METADATA!r} metadata; served: {names}")

    async def call(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        started = perf_counter()
        code = "OK"
        try:
            ability = self._ability(context)
            remaining = context.time_remaining()
            timeout = self._settings.timeout_s if remaining is None else remaining
            return await self._upstreams.call(ability.service_id, request, timeout)
        except grpc.aio.AioRpcError as error:
            code = error.code().name
            # pass the worker's status on untouched, AIGES code details included
            await context.abort(error.code(), error.details() or "",
                                tuple(error.trailing_metadata() or ()))
            raise
        except Exception as error:
            failure = _as_gateway_error(error)
            code = failure.grpc_status.name
            await context.abort_with_status(failure.rpc_status())
            raise
        finally:
            self._metrics.grpc_requests.labels("Call", code).inc()
            self._metrics.grpc_duration.labels("Call").observe(perf_counter() - started)

    async def describe(self, request: loader_pb2.DescribeRequest,
                       context: grpc.aio.ServicerContext) -> loader_pb2.Ability:
        code = "OK"
        try:
            return self._ability(context)
        except Exception as error:
            failure = _as_gateway_error(error)
            code = failure.grpc_status.name
            await context.abort_with_status(failure.rpc_status())
            raise
        finally:
            self._metrics.grpc_requests.labels("Describe", code).inc()


def _as_gateway_error(error: Exception) -> GatewayError:
    if isinstance(error, GatewayError):
        return error
    log.exception("unexpected gateway failure in a gRPC call")
    return GatewayFault("internal gateway error; see the gateway log")


async def start_edge(
    upstreams: Upstreams, settings: GatewaySettings, metrics: GatewayMetrics
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    server = grpc.aio.server(options=message_options(settings.max_message_bytes))
    server.add_generic_rpc_handlers((_Edge(upstreams, settings, metrics).handler(),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


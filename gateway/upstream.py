"""The worker set: channels, health, least-outstanding choice, retries on another worker."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from time import perf_counter

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.errors import AllBusy, GatewayError, NoWorker, WorkerLost
from gateway.identity import claims_of
from gateway.lifetimes import SessionLifetimes
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from loader.v1 import loader_pb2
from loader.v1.codes import Code
from loader.v1.status import aiges_code_from
from loader.v1.wire import (
    CALL_METHOD,
    DESCRIBE_METHOD,
    SERVICE,
    SESSION_METHOD,
    message_options,
)

__all__ = ["Endpoint", "Upstreams"]

log = logging.getLogger(__name__)


def _worker_full(error: grpc.aio.AioRpcError) -> bool:
    """The worker refused at its licence: the call never ran there, so another may take it.
    (gRPC also says RESOURCE_EXHAUSTED for an oversized message: that one is not retried.)"""
    return (error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            and aiges_code_from(error.trailing_metadata()) == Code.NO_FREE_INSTANCE)


def _never_connected(error: grpc.aio.AioRpcError) -> bool:
    """UNAVAILABLE before the request left (connection refused) rather than mid-call."""
    return "failed to connect" in (error.details() or "").lower()


@dataclass(eq=False)
class Endpoint:
    address: str
    channel: grpc.aio.Channel
    ability: loader_pb2.Ability | None = None
    healthy: bool = False
    outstanding: int = 0
    call_raw: grpc.aio.UnaryUnaryMultiCallable = field(init=False, repr=False)
    session_raw: grpc.aio.StreamStreamMultiCallable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # raw bytes both ways: the gateway never re-parses what it forwards
        self.call_raw = self.channel.unary_unary(CALL_METHOD)
        self.session_raw = self.channel.stream_stream(SESSION_METHOD)
        self._describe = self.channel.unary_unary(
            DESCRIBE_METHOD,
            request_serializer=loader_pb2.DescribeRequest.SerializeToString,
            response_deserializer=loader_pb2.Ability.FromString,
        )
        self._health = health_pb2_grpc.HealthStub(self.channel)

    @property
    def service_id(self) -> str:
        return self.ability.service_id if self.ability else ""

    async def probe(self, timeout: float) -> None:
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=timeout
            )
            serving = reply.status == health_pb2.HealthCheckResponse.SERVING
            if serving and self.ability is None:
                self.ability = await self._describe(loader_pb2.DescribeRequest(), timeout=timeout)
        except grpc.aio.AioRpcError:
            serving = False
        if serving != self.healthy:
            log.info("worker %s (%s) is now %s", self.address, self.service_id or "?",
                     "healthy" if serving else "unhealthy")
        self.healthy = serving


class Upstreams:
    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics) -> None:
        self._settings = settings
        self._metrics = metrics
        options = message_options(settings.max_message_bytes)
        self.endpoints = [
            Endpoint(address, grpc.aio.insecure_channel(address, options=options))
            for address in settings.workers
        ]
        self._health_task: asyncio.Task[None] | None = None
        self._by_service: dict[str, loader_pb2.Ability] = {}
        self._by_route: dict[str, loader_pb2.Ability] = {}
        self._pools: dict[str, list[Endpoint]] = {}  # the endpoints serving each ability
        self.conflicts: list[str] = []  # claims refused (gateway.identity), for people
        # the sessions open on these workers, whichever transport opened them
        self.lifetimes = SessionLifetimes(settings.ws_session_timeout_s)

    async def start(self) -> None:
        await self._probe_all()
        self._health_task = asyncio.create_task(self._watch_health())

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        await asyncio.gather(*(e.channel.close() for e in self.endpoints))

    def abilities(self) -> list[loader_pb2.Ability]:
        return list(self._by_service.values())

    def by_route(self, path: str) -> loader_pb2.Ability | None:
        return self._by_route.get(path)

    def by_service(self, service_id: str) -> loader_pb2.Ability | None:
        return self._by_service.get(service_id)

    def _index_abilities(self) -> None:
        """Abilities change only when a probe learns one: index them then, not per request."""
        claims = claims_of(e.ability for e in self.endpoints)
        self._by_service, self._by_route = claims.by_service, claims.by_route
        pools: dict[str, list[Endpoint]] = {}
        for index, endpoint in enumerate(self.endpoints):
            if endpoint.ability is not None and index not in claims.refused:
                pools.setdefault(endpoint.service_id, []).append(endpoint)
        self._pools = pools
        for conflict in claims.conflicts:
            if conflict not in self.conflicts:
                log.error("%s (serving the first claim, leaving the other out)", conflict)
        self.conflicts = claims.conflicts

    def ready(self) -> bool:
        abilities = self.abilities()
        return bool(abilities) and all(
            any(e.healthy for e in self._serving(a.service_id)) for a in abilities
        )

    async def call(
        self,
        service_id: str,
        request: bytes,
        timeout: float,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> bytes:
        """Forward raw CallRequest bytes to the least-loaded healthy worker of an ability."""
        deadline = perf_counter() + timeout
        tried: set[Endpoint] = set()
        last_error: grpc.aio.AioRpcError | None = None
        while True:
            endpoint = self._pick(service_id, tried)
            if endpoint is None:
                raise self._exhausted(service_id, tried, last_error)
            tried.add(endpoint)
            remaining = deadline - perf_counter()
            try:
                return await self._call_one(endpoint, request, remaining, metadata)
            except grpc.aio.AioRpcError as error:
                if error.code() is grpc.StatusCode.UNAVAILABLE:
                    endpoint.healthy = False  # the health loop re-admits it once it answers
                    if not _never_connected(error):
                        # it died holding this request: retrying could kill the next one too
                        raise WorkerLost(
                            f"worker {endpoint.address} of {service_id!r} went away during "
                            "the call (its wrapper may have crashed the process); it is being "
                            "restarted"
                        ) from None
                elif not _worker_full(error) or remaining <= 0:
                    raise
                last_error = error

    @contextlib.asynccontextmanager
    async def session(self, service_id: str) -> AsyncIterator[grpc.aio.StreamStreamCall]:
        """A raw-bytes Session stream on one healthy worker of an ability (the same choice as
        `call`), counted in its outstanding while open; cancelled on leaving if not ended, so
        the worker destroys the session."""
        endpoint = self._pick(service_id, set())
        if endpoint is None:
            raise self._exhausted(service_id, set(), None)
        call = endpoint.session_raw()
        endpoint.outstanding += 1
        try:
            yield call
        finally:
            endpoint.outstanding -= 1
            call.cancel()  # a no-op once the stream has ended

    def _exhausted(self, service_id: str, tried: set[Endpoint],
                   last_error: grpc.aio.AioRpcError | None) -> GatewayError:
        """What the client hears when no worker could take the call."""
        retry_after = {"Retry-After": str(self._settings.retry_after_s)}
        if last_error is not None and _worker_full(last_error):
            return AllBusy(
                f"every worker of {service_id!r} is at its licence ({len(tried)} tried); "
                f"retry after {self._settings.retry_after_s} s", headers=retry_after)
        detail = f" (last tried: {last_error.details()})" if last_error is not None else ""
        return NoWorker(f"no worker of {service_id!r} is reachable right now{detail}",
                        headers=retry_after)

    async def _call_one(
        self, endpoint: Endpoint, request: bytes, timeout: float,
        metadata: Sequence[tuple[str, str]] | None,
    ) -> bytes:
        started = perf_counter()
        endpoint.outstanding += 1
        code = "OK"
        try:
            reply: bytes = await endpoint.call_raw(request, timeout=timeout, metadata=metadata)
            return reply
        except grpc.aio.AioRpcError as error:
            code = error.code().name
            raise
        finally:
            endpoint.outstanding -= 1
            labels = (endpoint.service_id, endpoint.address)
            self._metrics.upstream_requests.labels(*labels, code).inc()
            self._metrics.upstream_duration.labels(*labels).observe(perf_counter() - started)

    def _serving(self, service_id: str) -> list[Endpoint]:
        return self._pools.get(service_id, [])

    def _pick(self, service_id: str, tried: set[Endpoint]) -> Endpoint | None:
        """Power of two choices on outstanding requests (cheap, and avoids herding)."""
        candidates = [e for e in self._serving(service_id) if e.healthy and e not in tried]
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        first, second = random.sample(candidates, 2)
        return first if first.outstanding <= second.outstanding else second

    async def _probe_all(self) -> None:
        timeout = max(self._settings.health_interval_s, 1.0)
        await asyncio.gather(*(e.probe(timeout) for e in self.endpoints))
        self._index_abilities()
        counts: dict[tuple[str, str], int] = {}
        for endpoint in self.endpoints:
            key = (endpoint.service_id, "healthy" if endpoint.healthy else "unhealthy")
            counts[key] = counts.get(key, 0) + 1
        for service_id in {e.service_id for e in self.endpoints}:
            for state in ("healthy", "unhealthy"):
                self._metrics.endpoints.labels(service_id, state).set(
                    counts.get((service_id, state), 0)
                )

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(self._settings.health_interval_s)
            await self._probe_all()

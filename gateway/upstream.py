"""The worker set: channels, health, least-outstanding choice, retries on another worker.

Its addresses come from gateway.discovery and follow it: an address that appears gets an
endpoint (its own channel), probed at once, joining its ability's pool when healthy; one that
goes takes no new call at once and its channel closes once its calls and sessions end.
Abilities seen since start are remembered (`known_route`): a route whose last worker went
answers 503 naming the ability rather than 404, until the gateway restarts."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.admission import Admission, QueueFull, Ticket, WaitedTooLong
from gateway.balancer import Balancer
from gateway.channels import Channels
from gateway.discovery import Discovery, Resolver
from gateway.errors import AllBusy, DeadlineExceeded, GatewayError, NoWorker, WorkerLost
from gateway.identity import claims_of
from gateway.lifetimes import SessionLifetimes
from gateway.metrics import GatewayMetrics
from gateway.opening import ReopeningSession
from gateway.settings import GatewaySettings
from loader.v1 import loader_pb2
from loader.v1.codes import Code
from loader.v1.status import aiges_code_from
from loader.v1.wire import (
    CALL_METHOD,
    DESCRIBE_METHOD,
    SERVICE,
    SESSION_METHOD,
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
    target: str = ""  # the workers entry it was found by (metrics)
    # what a failed TLS handshake means (gateway.channels), None for other failures
    diagnose: Callable[[str], str | None] = field(default=lambda _: None, repr=False)
    last_failure: str = ""  # why its last health probe failed, "" once one succeeds
    handshake_failed: bool = False  # ... and it failed in (or for want of) a TLS handshake
    call_raw: grpc.aio.UnaryUnaryMultiCallable = field(init=False, repr=False)
    session_raw: grpc.aio.StreamStreamMultiCallable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.use(self.channel)

    def use(self, channel: grpc.aio.Channel) -> None:
        """Send from now on over `channel` (calls begun on the one before finish on it)."""
        self.channel = channel
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

    @property
    def licence(self) -> int:
        """The calls it admits at once, as its Describe said (1 until it has)."""
        return self.ability.licence if self.ability and self.ability.licence > 0 else 1

    async def probe(self, timeout: float) -> None:
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=timeout
            )
            serving = reply.status == health_pb2.HealthCheckResponse.SERVING
            if serving and self.ability is None:
                self.ability = await self._describe(loader_pb2.DescribeRequest(), timeout=timeout)
        except grpc.aio.AioRpcError as error:
            serving = False
            details = error.details() or error.code().name
            hint = self.diagnose(details)
            if details != self.last_failure:  # once per reason, not at every probe
                log.warning("worker %s: health probe failed: %s%s", self.address, details,
                            f" ({hint})" if hint else "")
            self.last_failure, self.handshake_failed = details, hint is not None
        else:
            self.last_failure, self.handshake_failed = "", False
        if serving != self.healthy:
            log.info("worker %s (%s) is now %s", self.address, self.service_id or "?",
                     "healthy" if serving else "unhealthy")
        self.healthy = serving


class Upstreams:
    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._channels = Channels(settings)  # every channel to a worker is opened there
        self.discovery = Discovery(settings.workers, Resolver(settings.dns_server), metrics)
        self.endpoints: list[Endpoint] = []
        self.balancer: Balancer[Endpoint] = Balancer()
        self.admission = Admission(
            settings.queue_size, settings.queue_wait_s, settings.retry_after_s,
            depth=metrics.queue_depth, waited=metrics.queue_wait, clock=perf_counter)
        self._retiring: set[asyncio.Task[None]] = set()  # removed endpoints, closing when idle
        self._health_task: asyncio.Task[None] | None = None
        self._discovery_task: asyncio.Task[None] | None = None
        self._known_routes: dict[str, loader_pb2.Ability] = {}  # every ability seen since start
        self._published: set[tuple[str, str]] = set()  # endpoint gauge labels set so far
        self._by_service: dict[str, loader_pb2.Ability] = {}
        self._by_route: dict[str, loader_pb2.Ability] = {}
        self._pools: dict[str, list[Endpoint]] = {}  # the endpoints serving each ability
        self.conflicts: list[str] = []  # claims refused (gateway.identity), for people
        # the sessions open on these workers, whichever transport opened them
        self.lifetimes = SessionLifetimes(settings.ws_session_timeout_s)

    async def start(self) -> None:
        self._follow(await self.discovery.refresh())
        await self._probe_all()
        self._health_task = asyncio.create_task(self._watch_health())
        if self.discovery.dynamic:
            self._discovery_task = asyncio.create_task(self._watch_names())

    async def close(self) -> None:
        for task in (self._health_task, self._discovery_task, *self._retiring):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await asyncio.gather(*(e.channel.close() for e in self.endpoints))

    def known_route(self, path: str) -> loader_pb2.Ability | None:
        """The ability once served at `path`, whether or not any worker serves it now."""
        return self._known_routes.get(path)

    def known_service(self, service_id: str) -> loader_pb2.Ability | None:
        """The ability once served as `service_id`, whether or not any worker serves it now."""
        return next((a for a in self._known_routes.values() if a.service_id == service_id),
                    None)

    def _follow(self, addresses: list[str]) -> list[Endpoint]:
        """Make the endpoints match `addresses`; returns the new ones (not probed yet)."""
        wanted = set(addresses)
        gone = [e for e in self.endpoints if e.address not in wanted]
        have = {e.address for e in self.endpoints}
        added = [Endpoint(address, self._channels.open(address, self.discovery.target_of(address)),
                          target=self.discovery.target_of(address),
                          diagnose=self._channels.diagnose)
                 for address in addresses if address not in have]
        if not gone and not added:
            return []
        self.endpoints = [e for e in self.endpoints if e.address in wanted] + added
        for endpoint in added:
            log.info("worker %s added (from %s)", endpoint.address, endpoint.target)
            self._metrics.endpoints_added.labels(endpoint.target).inc()
        for endpoint in gone:
            log.info("worker %s (%s) removed: no new calls; closing once its %d outstanding "
                     "end", endpoint.address, endpoint.service_id or "?", endpoint.outstanding)
            self._metrics.endpoints_removed.labels(endpoint.target).inc()
            endpoint.healthy = False  # a call loop holding it passes it over
            self.balancer.forget(endpoint)
            task = asyncio.create_task(self._retire(endpoint))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        if gone:
            self._index_abilities()  # out of its pool now, not at the next probe
        return added

    @staticmethod
    async def _retire(endpoint: Endpoint) -> None:
        try:
            while endpoint.outstanding > 0:  # calls and open sessions both count here
                await asyncio.sleep(0.1)
        finally:  # also when the gateway closes first
            await endpoint.channel.close()

    async def _watch_names(self) -> None:
        timeout = max(self._settings.health_interval_s, 1.0)
        while True:
            await asyncio.sleep(self._settings.resolve_interval_s)
            try:
                added = self._follow(await self.discovery.refresh())
                if added:
                    await asyncio.gather(*(e.probe(timeout) for e in added))
                    self._index_abilities()
            except Exception:  # a bug here must not end discovery for the gateway's life
                log.exception("following the worker names failed; trying again")

    def unreached(self) -> int:
        """Workers that run but cannot be spoken to (a TLS handshake fails) and so never told
        their ability: a route not known may be theirs, so it cannot be said not to exist.
        (One that refuses connections is not counted: a pod not started yet.)"""
        return sum(1 for e in self.endpoints if e.ability is None and e.handshake_failed)

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
        self._known_routes.update(claims.by_route)
        self._publish_counts()
        for conflict in claims.conflicts:
            if conflict not in self.conflicts:
                log.error("%s (serving the first claim, leaving the other out)", conflict)
        self.conflicts = claims.conflicts

    def ready(self, required: tuple[str, ...] = ()) -> bool:
        """Whether the gateway can serve: every `required` ability has a worker taking calls,
        or (none required) at least one ability does. A broken ability never takes the
        healthy ones down with it."""
        if required:
            return all(self.ability_ready(service_id) for service_id in required)
        return any(self.ability_ready(a.service_id) for a in self.abilities())

    def ability_ready(self, service_id: str) -> bool:
        """Whether a worker of `service_id` takes calls now (healthy and not ejected)."""
        return any(self.balancer.admitted(e) for e in self._serving(service_id))

    async def call(
        self,
        service_id: str,
        request: bytes,
        timeout: float,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> bytes:
        """Forward raw CallRequest bytes to a worker of the ability (the balancer's choice),
        on to another when one is full or was unreachable, and, while every worker is full,
        in the ability's wait queue when it has one."""
        deadline = perf_counter() + timeout
        tried: set[Endpoint] = set()
        last_error: grpc.aio.AioRpcError | None = None
        retry_lost = service_id in self._settings.retry_on_worker_loss  # once, if opted in
        ticket: Ticket | None = None
        try:
            while True:
                endpoint = self._pick(service_id, tried)
                queued = ticket is None and self.admission.waiting(service_id) > 0
                if endpoint is None or queued:  # a newcomer does not pass those waiting
                    if endpoint is None and not self._full(service_id, last_error):
                        raise self._exhausted(service_id, tried, last_error)
                    ticket = ticket or self.admission.ticket(service_id)
                    await self._wait_for_room(service_id, ticket, tried, deadline)
                    tried.clear()  # each worker may have room again
                    continue
                tried.add(endpoint)
                if ticket is not None:
                    # out of the queue with a worker found: the next may find one too
                    self.admission.released(service_id)
                remaining = deadline - perf_counter()
                if remaining <= 0:  # spent on earlier tries or waiting: no worker is to blame
                    raise DeadlineExceeded("no worker answered within the request deadline")
                try:
                    reply = await self._call_one(endpoint, request, remaining, metadata)
                except grpc.aio.AioRpcError as error:
                    reason = self._after_failure(endpoint, error, retry_lost, remaining)
                    retry_lost = retry_lost and reason != "worker_lost"
                    self._metrics.retries.labels(service_id, reason).inc()
                    last_error = error
                    continue
                self.balancer.succeeded(endpoint)
                return reply
        finally:
            if ticket is not None:
                ticket.close()

    def _after_failure(self, endpoint: Endpoint, error: grpc.aio.AioRpcError,
                       retry_lost: bool, remaining: float) -> str:
        """Why a failed call may go on to another worker (the retries metric's reason), or
        the failure raised as the client's."""
        code = error.code()
        if code is grpc.StatusCode.UNAVAILABLE:
            self._eject(endpoint, unreachable=True, why=error.details() or code.name)
            if _never_connected(error):
                return "unreachable"  # the request never left: it cannot have run
            if retry_lost:
                return "worker_lost"  # opted in: the ability is idempotent
            # it died holding this request: the wrapper may have run (and acted), and
            # retrying a request that crashes workers could kill the next one too
            log.warning("worker %s (%s) went away holding a call: %s", endpoint.address,
                        endpoint.service_id, error.details())
            raise WorkerLost(  # the address stays in the log: clients learn the ability only
                f"the worker of {endpoint.service_id!r} went away during the call (its "
                "wrapper may have crashed the process); it is being restarted"
            ) from None
        if code is grpc.StatusCode.DEADLINE_EXCEEDED \
                and aiges_code_from(error.trailing_metadata()) is None:
            self._eject(endpoint, why="no answer within the deadline")  # N in a row eject
            raise error
        self.balancer.succeeded(endpoint)  # it answered, even if to refuse
        if _worker_full(error) and remaining > 0:
            return "worker_full"
        raise error

    def _eject(self, endpoint: Endpoint, *, why: str, unreachable: bool = False) -> None:
        if not self.balancer.failed(endpoint, unreachable=unreachable):
            return
        log.warning("worker %s (%s) ejected for %.3g s: %s", endpoint.address,
                    endpoint.service_id or "?", self.balancer.backoff_left(endpoint), why)
        self._metrics.ejections.labels(endpoint.service_id, endpoint.address).inc()
        self._publish_counts()

    def _full(self, service_id: str, last_error: grpc.aio.AioRpcError | None) -> bool:
        """Every worker is at its licence: the last one tried said so, or by our count."""
        return ((last_error is not None and _worker_full(last_error))
                or self.balancer.full(self._serving(service_id)))

    async def _wait_for_room(self, service_id: str, ticket: Ticket, tried: set[Endpoint],
                             deadline: float) -> None:
        """Until a call on the pool ends (gateway.admission), or the 429 the client hears."""
        try:
            if not self.admission.enabled:
                raise AllBusy(self._busy_message(service_id, tried),
                              headers={"Retry-After": str(self._settings.retry_after_s)})
            await ticket.wait(deadline)
        except AllBusy as refused:
            reason = refused.reason if isinstance(refused, (QueueFull, WaitedTooLong)) \
                else "pool_full"
            self._metrics.rejections.labels(service_id, reason).inc()
            raise

    def _busy_message(self, service_id: str, tried: set[Endpoint]) -> str:
        told = f"{len(tried)} tried" if tried else (
            f"all {len(self._serving(service_id))} busy with this gateway's calls")
        return (f"every worker of {service_id!r} is at its licence ({told}); "
                f"retry after {self._settings.retry_after_s} s")

    @contextlib.asynccontextmanager
    async def session(self, service_id: str) -> AsyncIterator[grpc.aio.StreamStreamCall]:
        """A raw-bytes Session stream on one worker of an ability (the same choice as `call`,
        which passes over workers this gateway already fills; one that refuses the session
        at its licence hands it to another, gateway.opening), counted in its worker's
        outstanding while open; cancelled on leaving if not ended, so the worker destroys
        the session."""
        endpoint = self._pick(service_id, set())
        if endpoint is None:
            if self._full(service_id, None):
                self._metrics.rejections.labels(service_id, "pool_full").inc()
                raise AllBusy(self._busy_message(service_id, set()),
                              headers={"Retry-After": str(self._settings.retry_after_s)})
            raise self._exhausted(service_id, set(), None)
        tried = {endpoint}
        holder = [endpoint]  # the worker the session is on now

        async def reopen() -> grpc.aio.StreamStreamCall | None:
            following = self._pick(service_id, tried)
            if following is None:
                self._metrics.rejections.labels(service_id, "pool_full").inc()
                return None
            tried.add(following)
            self._metrics.retries.labels(service_id, "worker_full").inc()
            holder[0].outstanding -= 1
            following.outstanding += 1
            holder[0] = following
            return following.session_raw()

        endpoint.outstanding += 1
        call = ReopeningSession(endpoint.session_raw(), reopen, self._settings.max_message_bytes)
        try:
            yield call
        finally:
            holder[0].outstanding -= 1
            self.admission.released(service_id)
            call.cancel()  # a no-op once the stream has ended

    def _exhausted(self, service_id: str, tried: set[Endpoint],
                   last_error: grpc.aio.AioRpcError | None) -> GatewayError:
        """What the client hears when no worker could take the call (none was full)."""
        retry_after = {"Retry-After": str(self._settings.retry_after_s)}
        detail = ""
        if last_error is not None:  # its details name the worker's address: the log has them
            log.info("no worker of %r reachable; the last one tried said: %s", service_id,
                     last_error.details())
            detail = f" (the last one tried: {last_error.code().name})"
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
            self.admission.released(endpoint.service_id)
            labels = (endpoint.service_id, endpoint.address)
            self._metrics.upstream_requests.labels(*labels, code).inc()
            self._metrics.upstream_duration.labels(*labels).observe(perf_counter() - started)

    def _serving(self, service_id: str) -> list[Endpoint]:
        return self._pools.get(service_id, [])

    def _pick(self, service_id: str, tried: set[Endpoint]) -> Endpoint | None:
        return self.balancer.pick(self._serving(service_id), tried)

    async def _probe_all(self) -> None:
        timeout = max(self._settings.health_interval_s, 1.0)
        await asyncio.gather(*(e.probe(timeout) for e in self.endpoints))
        for endpoint in self.endpoints:
            if self.balancer.probed(endpoint, endpoint.healthy):
                log.info("worker %s (%s) re-admitted: its health probe answers SERVING",
                         endpoint.address, endpoint.service_id)
                self._metrics.readmissions.labels(endpoint.service_id, endpoint.address).inc()
        self._index_abilities()

    def _publish_counts(self) -> None:
        """athena_gateway_endpoints by ability and state (healthy, unhealthy, ejected: healthy
        by its probe but left out after failed calls); 0 for abilities no endpoint has now."""
        counts: dict[tuple[str, str], int] = {}
        for endpoint in self.endpoints:
            state = ("ejected" if self.balancer.ejected(endpoint)
                     else "healthy" if endpoint.healthy else "unhealthy")
            key = (endpoint.service_id, state)
            counts[key] = counts.get(key, 0) + 1
        for service_id in {e.service_id for e in self.endpoints}:
            self._published.update(
                (service_id, s) for s in ("healthy", "unhealthy", "ejected"))
        for labels in self._published:
            self._metrics.endpoints.labels(*labels).set(counts.get(labels, 0))

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(self._settings.health_interval_s)
            if self._channels.renewed():
                self._reconnect_all()
            await self._probe_all()

    def _reconnect_all(self) -> None:
        """New channels, with the renewed certificates, for every worker; each old one closes
        once what was begun on it may have ended (a call's deadline, a session's timeout)."""
        grace = max(self._settings.timeout_s, self._settings.ws_session_timeout_s)
        log.info("certificates renewed: reconnecting to %d workers with them",
                 len(self.endpoints))
        for endpoint in self.endpoints:
            old = endpoint.channel
            endpoint.use(self._channels.open(endpoint.address, endpoint.target))
            task = asyncio.create_task(_close_after(old, grace))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)


async def _close_after(channel: grpc.aio.Channel, delay: float) -> None:
    try:
        await asyncio.sleep(delay)
    finally:  # also when the gateway closes first
        await channel.close()

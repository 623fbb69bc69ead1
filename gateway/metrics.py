"""Gateway metrics: HTTP and WebSocket in, gRPC to workers out, the worker set, payload bytes,
stream sessions on every transport."""
from __future__ import annotations

from time import perf_counter
from types import TracebackType
from typing import Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from loader.process import LATENCY_BUCKETS, SESSION_BUCKETS, remember_children

__all__ = ["SESSION_END_REASONS", "EndReason", "GatewayMetrics", "SessionMeter"]

# how a session can end, at the gateway (the label values of athena_gateway_session_ends)
EndReason = Literal["completed", "client_gone", "timeout", "error", "worker_lost", "shutdown"]
SESSION_END_REASONS: tuple[str, ...] = get_args(EndReason)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "athena_gateway_http_requests", "HTTP requests by route, method and status",
            ["route", "method", "code"], registry=r,
        )
        self.http_duration = Histogram(
            "athena_gateway_http_request_duration_seconds", "Time to answer an HTTP request",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.http_connections = Gauge(
            "athena_gateway_http_connections", "HTTP connections this gateway process holds "
            "open now (at most [gateway] max_connections)", registry=r,
        )
        self.http_connections_refused = Counter(
            "athena_gateway_http_connections_refused", "HTTP connections answered 503 (10503) "
            "and closed at once: the process held [gateway] max_connections already", registry=r,
        )
        self.http_header_timeouts = Counter(
            "athena_gateway_http_header_timeouts", "HTTP connections closed because a request "
            "line and headers were not whole within [gateway] header_timeout_s", registry=r,
        )
        self.http_in_flight = Gauge(
            "athena_gateway_http_requests_in_flight", "HTTP requests being answered now",
            ["route"], registry=r,
        )
        self.grpc_requests = Counter(
            "athena_gateway_grpc_requests", "Public gRPC requests by method and status",
            ["method", "grpc_code"], registry=r,
        )
        self.grpc_duration = Histogram(
            "athena_gateway_grpc_duration_seconds", "Time to answer a public gRPC request",
            ["method"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.upstream_requests = Counter(
            "athena_gateway_upstream_requests", "Calls to workers by ability, worker and status",
            ["ability", "endpoint", "grpc_code"], registry=r,
        )
        self.upstream_duration = Histogram(
            "athena_gateway_upstream_duration_seconds", "Time a worker took to answer",
            ["ability", "endpoint"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.endpoints = Gauge(
            "athena_gateway_endpoints", "Workers known per ability, by state (healthy, "
            "unhealthy, ejected: healthy by its probe but left out after failed calls)",
            ["ability", "state"], registry=r,
        )
        self.dns_resolutions = Counter(
            "athena_gateway_dns_resolutions", "Resolutions of worker DNS names, by target "
            "(NAME:PORT) and result (ok, failed: the last known addresses are kept)",
            ["target", "result"], registry=r,
        )
        self.endpoints_added = Counter(
            "athena_gateway_endpoints_added", "Worker addresses added to the worker set (at "
            "start or when a name resolves to a new one), by target", ["target"], registry=r,
        )
        self.endpoints_removed = Counter(
            "athena_gateway_endpoints_removed", "Worker addresses removed from the worker set "
            "(no longer in their name's answer), by target", ["target"], registry=r,
        )
        self.ejections = Counter(
            "athena_gateway_ejections", "Workers left out after failing calls (UNAVAILABLE, "
            "or consecutive failures), by ability and worker", ["ability", "endpoint"],
            registry=r,
        )
        self.readmissions = Counter(
            "athena_gateway_readmissions", "Ejected workers taken back after a SERVING health "
            "probe, by ability and worker", ["ability", "endpoint"], registry=r,
        )
        self.retries = Counter(
            "athena_gateway_retries", "Calls sent again to another worker, by ability and why "
            "(worker_full, unreachable, worker_lost)", ["ability", "reason"], registry=r,
        )
        self.rejections = Counter(
            "athena_gateway_rejections", "Calls refused with 429 (10110), by ability and why "
            "(pool_full, queue_full, queue_timeout)", ["ability", "reason"], registry=r,
        )
        self.queue_depth = Gauge(
            "athena_gateway_queue_depth", "Calls waiting for a free worker, by ability",
            ["ability"], registry=r,
        )
        self.queue_wait = Histogram(
            "athena_gateway_queue_wait_seconds", "Time calls waited for a free worker (those "
            "that waited), by ability", ["ability"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.payload_bytes = Counter(
            "athena_gateway_payload_bytes", "Request body bytes in and response bytes out",
            ["direction"], registry=r,
        )
        self.sessions = Gauge(
            "athena_gateway_sessions", "Stream sessions open now, by ability and transport "
            "(websocket, sse, grpc)", ["ability", "transport"], registry=r,
        )
        self.session_duration = Histogram(
            "athena_gateway_session_duration_seconds", "Stream sessions' time from open to end",
            ["ability", "transport"], buckets=SESSION_BUCKETS, registry=r,
        )
        self.session_ends = Counter(
            "athena_gateway_session_ends",
            f"Stream sessions ended, by reason ({', '.join(SESSION_END_REASONS)})",
            ["ability", "transport", "reason"], registry=r,
        )
        self.session_frames = Counter(
            "athena_gateway_session_frames",
            "Session frames from clients (in) and results to them (out)",
            ["ability", "direction"], registry=r,
        )
        self.auth_failures = Counter(
            "athena_gateway_auth_failures", "Requests refused by authentication, by transport "
            "(http, grpc) and reason (missing, malformed, unknown_key, bad_signature, expired, "
            "replay)", ["transport", "reason"], registry=r,
        )
        for metric in (self.http_requests, self.http_duration, self.http_in_flight,
                       self.grpc_requests, self.grpc_duration, self.upstream_requests,
                       self.upstream_duration, self.payload_bytes, self.sessions,
                       self.session_duration, self.session_ends, self.session_frames,
                       self.dns_resolutions, self.endpoints_added, self.endpoints_removed,
                       self.ejections, self.readmissions, self.retries, self.rejections,
                       self.queue_depth, self.queue_wait, self.auth_failures):
            remember_children(metric)

    def session(self, ability: str, transport: str) -> SessionMeter:
        return SessionMeter(self, ability, transport)


class SessionMeter:
    """One session's metrics: `with metrics.session(ability, transport) as meter:` counts it
    open for the block, then its duration and how it ended (`meter.reason`, set by the
    transport; "error" if it never said, so an unforeseen failure is still counted)."""

    def __init__(self, metrics: GatewayMetrics, ability: str, transport: str) -> None:
        self._metrics = metrics
        self._ability = ability
        self._transport = transport
        self._open = metrics.sessions.labels(ability, transport)
        self._frames_in = metrics.session_frames.labels(ability, "in")
        self._frames_out = metrics.session_frames.labels(ability, "out")
        self.reason: EndReason = "error"
        self._started = 0.0

    def frame_in(self) -> None:
        self._frames_in.inc()

    def frame_out(self) -> None:
        self._frames_out.inc()

    def __enter__(self) -> SessionMeter:
        self._open.inc()
        self._started = perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._open.dec()
        labels = (self._ability, self._transport)
        self._metrics.session_duration.labels(*labels).observe(perf_counter() - self._started)
        self._metrics.session_ends.labels(*labels, self.reason).inc()

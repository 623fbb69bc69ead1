"""Worker metrics: gRPC requests in, wrapper calls out, payload bytes both ways, sessions."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from loader.process import LATENCY_BUCKETS, SESSION_BUCKETS, remember_children

__all__ = ["LoaderMetrics"]


class LoaderMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.grpc_requests = Counter(
            "athena_loader_grpc_requests", "gRPC requests handled by this worker",
            ["method", "grpc_code"], registry=r,
        )
        self.grpc_duration = Histogram(
            "athena_loader_grpc_duration_seconds", "Time to answer a gRPC request",
            ["method"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.wrapper_calls = Counter(
            "athena_loader_wrapper_calls", "Wrapper method calls by operation and AIGES code",
            ["op", "code"], registry=r,
        )
        self.wrapper_duration = Histogram(
            "athena_loader_wrapper_duration_seconds", "Time spent inside the wrapper",
            ["op"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.wrapper_in_flight = Gauge(
            "athena_loader_wrapper_in_flight", "Wrapper calls running now", ["op"], registry=r,
        )
        self.licence = Gauge(
            "athena_loader_licence", "Concurrent wrapper calls this worker admits ([fc] max)",
            registry=r,
        )
        self.payload_bytes = Counter(
            "athena_loader_payload_bytes", "Message bytes received (in) and sent (out)",
            ["direction"], registry=r,
        )
        self.sessions_active = Gauge(
            "athena_loader_sessions_active", "Stream sessions open now", registry=r,
        )
        self.session_duration = Histogram(
            "athena_loader_session_duration_seconds", "Stream sessions' time from open to destroy",
            buckets=SESSION_BUCKETS, registry=r,
        )
        self.session_frames = Counter(
            "athena_loader_session_frames", "Session frames written (in) and results sent (out)",
            ["direction"], registry=r,
        )
        self.session_ends = Counter(
            "athena_loader_session_ends",
            "Sessions ended, by reason (completed, client_gone, timeout, error, shutdown)",
            ["reason"], registry=r,
        )
        self.abandoned_calls = Counter(
            "athena_loader_abandoned_calls",
            "Calls whose client gave up while the wrapper ran, by reason (deadline, cancelled)",
            ["reason"], registry=r,
        )
        self.abandoned_running = Gauge(
            "athena_loader_abandoned_running",
            "Abandoned calls whose wrapper has not returned yet (outside the licence)",
            registry=r,
        )
        for metric in (self.grpc_requests, self.grpc_duration, self.wrapper_calls,
                       self.wrapper_duration, self.wrapper_in_flight, self.payload_bytes,
                       self.session_frames, self.session_ends, self.abandoned_calls):
            remember_children(metric)

"""Gateway metrics: HTTP and WebSocket in, gRPC to workers out, the worker set, payload bytes."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from loader.process import LATENCY_BUCKETS, remember_children

__all__ = ["GatewayMetrics"]


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
            "athena_gateway_endpoints", "Workers known per ability, by health",
            ["ability", "state"], registry=r,
        )
        self.payload_bytes = Counter(
            "athena_gateway_payload_bytes", "Request body bytes in and response bytes out",
            ["direction"], registry=r,
        )
        self.ws_sessions = Gauge(
            "athena_gateway_ws_sessions", "WebSocket sessions open now, by ability",
            ["ability"], registry=r,
        )
        for metric in (self.http_requests, self.http_duration, self.http_in_flight,
                       self.grpc_requests, self.grpc_duration, self.upstream_requests,
                       self.upstream_duration, self.payload_bytes, self.ws_sessions):
            remember_children(metric)

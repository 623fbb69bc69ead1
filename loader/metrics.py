"""Worker metrics: gRPC requests in, wrapper calls out, payload bytes both ways."""
from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

__all__ = ["LATENCY_BUCKETS", "LoaderMetrics", "remember_children"]

M = TypeVar("M", bound=MetricWrapperBase)

# from sub-millisecond echo calls to model calls of tens of seconds; shared by every hop so
# latencies compare bucket for bucket
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
)


def remember_children(metric: M) -> M:
    """prometheus_client's labels() validates the values and takes a lock on every call; a
    request path asks for the same few children every time, so look each up once."""
    children: dict[tuple[str, ...], Any] = {}
    look_up = metric.labels

    def labels(*values: str) -> Any:
        child = children.get(values)
        if child is None:
            child = children[values] = look_up(*values)
        return child

    metric.labels = labels  # type: ignore[method-assign,assignment]
    return metric


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
        for metric in (self.grpc_requests, self.grpc_duration, self.wrapper_calls,
                       self.wrapper_duration, self.wrapper_in_flight, self.payload_bytes):
            remember_children(metric)

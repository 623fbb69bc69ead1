"""Gateway errors, and the one table from gRPC status to HTTP status and AIGES code."""
from __future__ import annotations

import grpc

from loader.codes import Code
from loader.status import aiges_code_from

__all__ = [
    "BadRequest", "GatewayError", "NoWorker", "NotFound", "TooLarge", "WorkerLost",
    "from_rpc_error",
]


class GatewayError(Exception):
    http_status = 500
    default_code: int = Code.WRAPPER_EXEC

    def __init__(self, message: str, code: int | None = None, *, http_status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = self.default_code if code is None else code
        if http_status is not None:
            self.http_status = http_status
        self.headers = headers or {}


class BadRequest(GatewayError):
    http_status = 400
    default_code = Code.REQUEST_JSON


class NotFound(GatewayError):
    http_status = 404
    default_code = Code.ROUTE_NOT_FOUND


class TooLarge(GatewayError):
    http_status = 413
    default_code = Code.BODY_TOO_LARGE


class NoWorker(GatewayError):
    http_status = 503
    default_code = Code.NO_WORKER


class WorkerLost(GatewayError):
    """The worker's process went away while it held the request."""

    http_status = 502
    default_code = Code.WRAPPER_CRASHED


# gRPC status -> (HTTP status, AIGES code when the worker sent none)
_FROM_GRPC: dict[grpc.StatusCode, tuple[int, int]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, Code.REQUEST_CONVERSION),
    grpc.StatusCode.NOT_FOUND: (404, Code.ROUTE_NOT_FOUND),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, Code.NO_FREE_INSTANCE),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, Code.ONCE_TIMEOUT),
    grpc.StatusCode.UNAVAILABLE: (503, Code.NO_WORKER),
    grpc.StatusCode.CANCELLED: (503, Code.NO_WORKER),
    grpc.StatusCode.INTERNAL: (500, Code.WRAPPER_EXEC),
    grpc.StatusCode.UNKNOWN: (500, Code.WRAPPER_EXEC),
}


def from_rpc_error(error: grpc.aio.AioRpcError, retry_after_s: int) -> GatewayError:
    status = error.code()
    sent_code = aiges_code_from(error.trailing_metadata())
    message = error.details() or status.name.lower()
    if sent_code is None and status is grpc.StatusCode.RESOURCE_EXHAUSTED:
        # not a worker at its licence (that one carries 10110): gRPC's message size limit
        return TooLarge(f"{message}: raise [gateway]/[loader] max_message_mb to allow it")
    http_status, default_code = _FROM_GRPC.get(status, (500, Code.WRAPPER_EXEC))
    code = sent_code or default_code
    if status is grpc.StatusCode.DEADLINE_EXCEEDED and sent_code is None:
        message = "the ability did not answer within the request deadline"
    headers = {"Retry-After": str(retry_after_s)} if http_status in (429, 503) else {}
    return GatewayError(message, code, http_status=http_status, headers=headers)

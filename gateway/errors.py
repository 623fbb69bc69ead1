"""Gateway errors: each class carries its HTTP status, gRPC status and AIGES code.

    GatewayError                 HTTP  gRPC                 code
    ├── BadRequest               400   INVALID_ARGUMENT     10163, 10000, 10001 or 10107
    ├── Unauthenticated          401   UNAUTHENTICATED      10401  no credentials, or malformed
    ├── Forbidden                403   PERMISSION_DENIED    10403  credentials not accepted
    ├── NotFound                 404   NOT_FOUND            10404
    ├── MethodNotAllowed         405   UNIMPLEMENTED        10163
    ├── BodyTimeout              408   DEADLINE_EXCEEDED    10408  the body stopped arriving
    ├── TooLarge                 413   RESOURCE_EXHAUSTED   10413
    ├── UnsupportedEncoding      415   INVALID_ARGUMENT     10415  a Content-Encoding not decoded
    ├── AllBusy                  429   RESOURCE_EXHAUSTED   10110  every worker at its licence
    ├── AbilityFailed            500   INTERNAL             the worker's code (wrapper, output)
    ├── GatewayFault             500   INTERNAL             10500  a bug here, never the wrapper's
    ├── WorkerLost               502   UNAVAILABLE          10109  the worker died holding the call
    ├── NoWorker                 503   UNAVAILABLE          10503
    ├── ShuttingDown             503   UNAVAILABLE          10503  sessions ended by shutdown
    ├── BodiesInFlight           503   UNAVAILABLE          10503  bodies being received at the cap
    └── DeadlineExceeded         504   DEADLINE_EXCEEDED    10102

The HTTP routes and the public gRPC edge read these attributes; nothing else maps. A worker's
own gRPC status reaches gRPC clients as it came (`relayed`), and HTTP clients through
`from_worker`, which picks the class for it; both show its message through `worker_message`,
the one rule for what of a worker's text a client reads: of an exception the wrapper raised,
its type, method and sid (its text only with [gateway] expose_wrapper_errors); of a status with
no AIGES code (grpc's own), the text with any address in it replaced by "<worker>". An error
whose `close` is set is sent with the connection closed after it: the rest of a body the
gateway stopped reading is not waited for.
"""
from __future__ import annotations

import re

import grpc

from loader.v1.codes import Code
from loader.v1.status import DETAILS_KEY, aiges_code_from, error_info_from, to_rpc_status

__all__ = [
    "AbilityFailed", "AllBusy", "BadRequest", "BodiesInFlight", "BodyTimeout", "DeadlineExceeded",
    "Forbidden", "GatewayError", "GatewayFault", "MethodNotAllowed", "NoWorker", "NotFound",
    "ShuttingDown", "TooLarge", "Unauthenticated", "UnsupportedEncoding", "WorkerLost",
    "from_worker", "relayed", "worker_message",
]

Metadata = tuple[tuple[str, str | bytes], ...]
# host:port, [v6]:port, grpc's ipv4:/ipv6:/dns: prefixed forms and unix: paths
_ADDRESS = re.compile(r"(?:ipv4:|ipv6:|dns:)?(?:\[[0-9A-Fa-f:.]+\]|[\w.-]+):\d+|unix:\S+")


class GatewayError(Exception):
    http_status = 500
    grpc_status = grpc.StatusCode.INTERNAL
    default_code: int = Code.GATEWAY_FAULT
    closes = False  # close the connection after the answer (HTTP)

    def __init__(self, message: str, code: int | None = None, *,
                 headers: dict[str, str] | None = None, close: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = self.default_code if code is None else code
        self.headers = headers or {}
        self.close = self.closes if close is None else close

    def rpc_status(self) -> grpc.Status:
        return to_rpc_status(self.grpc_status, self.code, self.message)


class BadRequest(GatewayError):
    http_status = 400
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT
    default_code = Code.REQUEST_JSON


class Unauthenticated(GatewayError):
    """No credentials, or malformed ones; `reason` is for metrics and the log, never the
    client."""

    http_status = 401
    grpc_status = grpc.StatusCode.UNAUTHENTICATED
    default_code = Code.AUTH_REQUIRED

    def __init__(self, message: str, *, reason: str = "missing") -> None:
        super().__init__(message)
        self.reason = reason


class Forbidden(GatewayError):
    """Credentials sent but not accepted (unknown key, wrong or expired signature, replay)."""

    http_status = 403
    grpc_status = grpc.StatusCode.PERMISSION_DENIED
    default_code = Code.AUTH_REFUSED

    def __init__(self, message: str, *, reason: str = "refused") -> None:
        super().__init__(message)
        self.reason = reason


class NotFound(GatewayError):
    http_status = 404
    grpc_status = grpc.StatusCode.NOT_FOUND
    default_code = Code.ROUTE_NOT_FOUND


class MethodNotAllowed(GatewayError):
    http_status = 405
    grpc_status = grpc.StatusCode.UNIMPLEMENTED
    default_code = Code.REQUEST_JSON


class BodyTimeout(GatewayError):
    """The request body stopped arriving before its end: the connection is closed after."""

    http_status = 408
    grpc_status = grpc.StatusCode.DEADLINE_EXCEEDED
    default_code = Code.BODY_TIMEOUT
    closes = True


class TooLarge(GatewayError):
    http_status = 413
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_code = Code.BODY_TOO_LARGE


class UnsupportedEncoding(GatewayError):
    http_status = 415
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT
    default_code = Code.BODY_ENCODING


class AllBusy(GatewayError):
    """Every worker of the ability refused at its licence."""

    http_status = 429
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_code = Code.NO_FREE_INSTANCE


class AbilityFailed(GatewayError):
    """The worker reported the failure: its wrapper's code, or the contract it broke."""

    default_code = Code.WRAPPER_EXEC


class GatewayFault(GatewayError):
    """A bug in the gateway itself; the client is told so, and the log has the traceback."""


class WorkerLost(GatewayError):
    """The worker's process went away while it held the request."""

    http_status = 502
    grpc_status = grpc.StatusCode.UNAVAILABLE
    default_code = Code.WRAPPER_CRASHED


class NoWorker(GatewayError):
    http_status = 503
    grpc_status = grpc.StatusCode.UNAVAILABLE
    default_code = Code.NO_WORKER


class ShuttingDown(NoWorker):
    """The gateway is stopping: the sessions it still holds are ended with this."""


class BodiesInFlight(NoWorker):
    """The bodies this gateway process is receiving already add up to its cap: refused before
    a byte of this one is read, and the connection closed."""

    closes = True


class DeadlineExceeded(GatewayError):
    http_status = 504
    grpc_status = grpc.StatusCode.DEADLINE_EXCEEDED
    default_code = Code.ONCE_TIMEOUT


# a worker's gRPC status -> the error it is for HTTP clients (code: the worker's, else the
# class's, else the one given here)
_FROM_WORKER: dict[grpc.StatusCode, tuple[type[GatewayError], int | None]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (BadRequest, Code.REQUEST_CONVERSION),
    grpc.StatusCode.NOT_FOUND: (NotFound, None),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (AllBusy, None),
    grpc.StatusCode.DEADLINE_EXCEEDED: (DeadlineExceeded, None),
    grpc.StatusCode.UNAVAILABLE: (NoWorker, None),
    grpc.StatusCode.CANCELLED: (NoWorker, None),
}


def worker_message(error: grpc.aio.AioRpcError, expose_wrapper_errors: bool) -> str:
    """What a client may read of a worker's status message (see the module's docstring)."""
    info = error_info_from(error.trailing_metadata())
    message = error.details() or ""
    if "exception" in info and not expose_wrapper_errors:
        return (f"{info.get('method') or 'the wrapper'} raised {info['exception']}; its "
                f"message is in the worker's log (sid {info.get('sid') or '?'})")
    if "code" not in info:  # grpc's own text, which may name the worker's address
        return _ADDRESS.sub("<worker>", message)
    return message


def relayed(error: grpc.aio.AioRpcError, expose_wrapper_errors: bool
            ) -> tuple[grpc.StatusCode, str, Metadata]:
    """A worker's status as the public gRPC edge passes it on: code, details and trailing
    metadata as they came, but for the message `worker_message` allows (in both places a
    client reads it: the details and the google.rpc.Status in the trailers)."""
    metadata: Metadata = tuple(error.trailing_metadata() or ())
    details = error.details() or ""
    shown = worker_message(error, expose_wrapper_errors)
    if shown == details:
        return error.code(), details, metadata
    others = tuple((key, value) for key, value in metadata if key != DETAILS_KEY)
    code = aiges_code_from(metadata)
    if code is None:
        return error.code(), shown, others
    fields = {k: v for k, v in error_info_from(metadata).items() if k != "code"}
    status = to_rpc_status(error.code(), code, shown, fields)
    return error.code(), shown, others + tuple(status.trailing_metadata)


def from_worker(error: grpc.aio.AioRpcError, retry_after_s: int, *,
                expose_wrapper_errors: bool = False) -> GatewayError:
    """What an HTTP client hears for a status a worker ended a call with."""
    status = error.code()
    sent_code = aiges_code_from(error.trailing_metadata())
    message = worker_message(error, expose_wrapper_errors) or status.name.lower()
    if sent_code is None and status is grpc.StatusCode.RESOURCE_EXHAUSTED:
        # not a worker at its licence (that one carries 10110): gRPC's message size limit
        return TooLarge(f"{message}: raise [gateway]/[loader] max_message_mb to allow it")
    if status is grpc.StatusCode.DEADLINE_EXCEEDED and sent_code is None:
        message = "the ability did not answer within the request deadline"
    kind, code = _FROM_WORKER.get(status, (AbilityFailed, None))
    retry = kind.http_status in (AllBusy.http_status, NoWorker.http_status)
    return kind(message, sent_code or code,
                headers={"Retry-After": str(retry_after_s)} if retry else None)

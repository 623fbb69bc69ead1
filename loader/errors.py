"""Worker errors: each class carries its AIGES code and its gRPC status, read at one boundary.

    AigesError                 a call failed; the client sees code + message   INTERNAL
    ├── InvalidRequest         the CallRequest cannot be served (10001)        INVALID_ARGUMENT
    ├── InvalidOutput          the wrapper's output breaks the contract (10106) INTERNAL
    ├── WrapperFailed          the wrapper returned a code or raised (109xx)   INTERNAL
    ├── Overloaded             every licensed instance is busy (10110)         RESOURCE_EXHAUSTED
    └── CallTimeout            the deadline passed first (10102)               DEADLINE_EXCEEDED
    WrapperLoadError           the worker cannot start (import, adapt, init)

The servicer is that boundary: it turns an AigesError into `error.rpc_status()`, the status
whose details carry the AIGES code (loader.v1.status). Nothing else maps.
"""
from __future__ import annotations

import grpc

from loader.v1.codes import Code
from loader.v1.status import to_rpc_status

__all__ = [
    "AigesError", "CallTimeout", "InvalidOutput", "InvalidRequest", "Overloaded",
    "WrapperFailed", "WrapperLoadError",
]


class AigesError(Exception):
    """An error a client should see, with its AIGES code and the gRPC status it travels as."""

    default_code: int = Code.WRAPPER_EXEC
    grpc_status: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = self.default_code if code is None else code

    def rpc_status(self) -> grpc.Status:
        return to_rpc_status(self.grpc_status, self.code, self.message)


class InvalidRequest(AigesError):
    default_code = Code.REQUEST_CONVERSION
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT


class InvalidOutput(AigesError):
    default_code = Code.INVALID_OUTPUT


class WrapperFailed(AigesError):
    """The wrapper returned a non-zero code or raised; code is the wrapper's own or 109xx."""


class Overloaded(AigesError):
    default_code = Code.NO_FREE_INSTANCE
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED


class CallTimeout(AigesError):
    default_code = Code.ONCE_TIMEOUT
    grpc_status = grpc.StatusCode.DEADLINE_EXCEEDED


class WrapperLoadError(Exception):
    """The wrapper could not be imported, adapted or initialised: the worker cannot start."""

"""Worker-side domain errors, and the one table that maps them to gRPC statuses."""
from __future__ import annotations

import grpc

from loader.codes import Code
from loader.status import to_rpc_status

__all__ = [
    "AigesError",
    "CallTimeout",
    "InvalidOutput",
    "InvalidRequest",
    "Overloaded",
    "WrapperFailed",
    "WrapperLoadError",
    "rpc_status_of",
]


class AigesError(Exception):
    """An error a client should see, with its AIGES code."""

    default_code: int = Code.WRAPPER_EXEC

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = self.default_code if code is None else code


class InvalidRequest(AigesError):
    default_code = Code.REQUEST_CONVERSION


class InvalidOutput(AigesError):
    default_code = Code.INVALID_OUTPUT


class WrapperFailed(AigesError):
    """The wrapper returned a non-zero code or raised; code is the wrapper's own or 109xx."""


class Overloaded(AigesError):
    default_code = Code.NO_FREE_INSTANCE


class CallTimeout(AigesError):
    default_code = Code.ONCE_TIMEOUT


class WrapperLoadError(Exception):
    """The wrapper could not be imported, adapted or initialised: the worker cannot start."""


_GRPC_STATUS: dict[type[AigesError], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidOutput: grpc.StatusCode.INTERNAL,
    WrapperFailed: grpc.StatusCode.INTERNAL,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    CallTimeout: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def rpc_status_of(error: AigesError) -> tuple[grpc.StatusCode, grpc.Status]:
    code = _GRPC_STATUS.get(type(error), grpc.StatusCode.INTERNAL)
    return code, to_rpc_status(code, error.code, error.message)

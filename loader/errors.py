"""Worker errors: each class carries its AIGES code and its gRPC status, read at one boundary.

    AigesError                 a call failed; the client sees code + message   INTERNAL
    ├── InvalidRequest         the CallRequest cannot be served (10001)        INVALID_ARGUMENT
    ├── InvalidOutput          the wrapper's output breaks the contract (10106) INTERNAL
    ├── WrapperFailed          the wrapper returned a code or raised (109xx)   INTERNAL
    │   └── WrapperRaised      ... raised: its type travels apart from its text
    ├── Overloaded             every licensed instance is busy (10110)         RESOURCE_EXHAUSTED
    └── CallTimeout            the deadline passed first (10102)               DEADLINE_EXCEEDED
    WrapperLoadError           the worker cannot start (import, adapt, init)

The servicer is that boundary: it turns an AigesError into `error.rpc_status()`, the status
whose details carry the AIGES code (loader.v1.status). Nothing else maps. The servicer also
stamps the call's sid on the error, which travels in the details too (a correlation id for the
log, where the worker writes every failure's full text and a raised one's traceback).
"""
from __future__ import annotations

import grpc

from loader.v1.codes import Code
from loader.v1.status import to_rpc_status

__all__ = [
    "AigesError", "CallTimeout", "InvalidOutput", "InvalidRequest", "Overloaded",
    "WrapperFailed", "WrapperLoadError", "WrapperRaised",
]


class AigesError(Exception):
    """An error a client should see, with its AIGES code and the gRPC status it travels as."""

    default_code: int = Code.WRAPPER_EXEC
    grpc_status: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = self.default_code if code is None else code
        self.sid = ""  # the call's, once the servicer knows it

    def fields(self) -> dict[str, str]:
        """What the status details carry beside the code."""
        return {"sid": self.sid} if self.sid else {}

    def rpc_status(self) -> grpc.Status:
        return to_rpc_status(self.grpc_status, self.code, self.message, self.fields())


class InvalidRequest(AigesError):
    default_code = Code.REQUEST_CONVERSION
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT


class InvalidOutput(AigesError):
    default_code = Code.INVALID_OUTPUT


class WrapperFailed(AigesError):
    """The wrapper returned a non-zero code or raised; code is the wrapper's own or 109xx."""


class WrapperRaised(WrapperFailed):
    """A wrapper method raised. Its text can hold anything the wrapper had at hand (a model
    path, a piece of the input), so the type goes in the status details on its own: the
    gateway shows its clients type and sid, the text only with [gateway] expose_wrapper_errors."""

    def __init__(self, method: str, error: BaseException, code: int) -> None:
        super().__init__(f"{method} raised {type(error).__name__}: {error}", code)
        self.method = method
        self.exception = type(error).__name__

    def fields(self) -> dict[str, str]:
        return {**super().fields(), "exception": self.exception, "method": self.method}


class Overloaded(AigesError):
    default_code = Code.NO_FREE_INSTANCE
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED


class CallTimeout(AigesError):
    default_code = Code.ONCE_TIMEOUT
    grpc_status = grpc.StatusCode.DEADLINE_EXCEEDED


class WrapperLoadError(Exception):
    """The wrapper could not be imported, adapted or initialised: the worker cannot start."""

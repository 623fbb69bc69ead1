"""AIGES numeric codes: the numbers clients see in header.code, shared by every hop."""
from __future__ import annotations

from enum import IntEnum

__all__ = ["Code"]


class Code(IntEnum):
    SUCCESS = 0
    BODY_NOT_JSON = 10000
    REQUEST_CONVERSION = 10001
    SESSION_RELEASED = 10101
    ONCE_TIMEOUT = 10102
    INVALID_OUTPUT = 10106
    BAD_PARAMETER = 10107
    WRAPPER_CRASHED = 10109
    NO_FREE_INSTANCE = 10110
    SESSION_TIMEOUT = 10114
    FRAME_JSON = 10160
    REQUEST_JSON = 10163
    ROUTE_NOT_FOUND = 10404
    # Ours: AIGES has no code for these; chosen to echo the HTTP status they travel with.
    BAD_HTTP = 10400  # the request line or headers break HTTP's rules (the HTTP parser refused)
    AUTH_REQUIRED = 10401  # no credentials at an authenticating gateway, or malformed ones
    AUTH_REFUSED = 10403  # credentials sent but not accepted (key, signature, date, replay)
    BODY_TIMEOUT = 10408  # the request body did not arrive within [gateway] body_timeout_s
    BODY_TOO_LARGE = 10413
    BODY_ENCODING = 10415  # a Content-Encoding the gateway does not decode (gzip, deflate do)
    GATEWAY_FAULT = 10500  # a fault in the gateway itself, never reported as the wrapper's
    NO_WORKER = 10503
    WRAPPER_INIT = 10901
    WRAPPER_FINI = 10902
    WRAPPER_LOAD_RES = 10903
    WRAPPER_UNLOAD_RES = 10904
    WRAPPER_CREATE = 10905
    WRAPPER_DESTROY = 10906
    WRAPPER_WRITE = 10907
    WRAPPER_READ = 10908
    WRAPPER_EXEC = 10909
    WRAPPER_EXEC_ASYNC = 10910

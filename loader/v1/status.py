"""AIGES codes inside gRPC statuses: the one encoding the worker and gateway share.

A failed call ends with a gRPC status whose `grpc-status-details-bin` trailer is a
google.rpc.Status holding one google.rpc.ErrorInfo(domain="athena", reason="AIGES",
metadata={"code": "<n>"}), so any gRPC client can read the code with stock tooling. A failure
the wrapper raised adds "exception" (its type's name), "method" and "sid" there: the gateway
shows clients those, and the exception's text (in the message) only when told to.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

__all__ = ["DETAILS_KEY", "aiges_code_from", "error_info_from", "to_rpc_status"]

DETAILS_KEY = "grpc-status-details-bin"
_DOMAIN = "athena"
_REASON = "AIGES"


def to_rpc_status(grpc_code: grpc.StatusCode, aiges_code: int, message: str,
                  fields: Mapping[str, str] | None = None) -> grpc.Status:
    """`fields`: more ErrorInfo metadata beside the code (a raised exception's type, say)."""
    info = error_details_pb2.ErrorInfo(
        domain=_DOMAIN, reason=_REASON, metadata={**(fields or {}), "code": str(aiges_code)}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=grpc_code.value[0], message=message, details=[detail])
    return rpc_status.to_status(status)


def aiges_code_from(trailing_metadata: Iterable[tuple[str, str | bytes]] | None) -> int | None:
    """The AIGES code a peer put in the status details, or None when it put none."""
    try:
        return int(error_info_from(trailing_metadata)["code"])
    except (KeyError, ValueError):
        return None


def error_info_from(trailing_metadata: Iterable[tuple[str, str | bytes]] | None
                    ) -> dict[str, str]:
    """The ErrorInfo metadata a peer put in the status details ({} when it put none)."""
    for key, value in trailing_metadata or ():
        if key != DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.domain == _DOMAIN and "code" in info.metadata:
                return dict(info.metadata)
    return {}

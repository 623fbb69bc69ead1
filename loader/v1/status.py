"""AIGES codes inside gRPC statuses: the one encoding the worker and gateway share.

A failed call ends with a gRPC status whose `grpc-status-details-bin` trailer is a
google.rpc.Status holding one google.rpc.ErrorInfo(domain="athena", reason="AIGES",
metadata={"code": "<n>"}), so any gRPC client can read the code with stock tooling.
"""
from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

__all__ = ["DETAILS_KEY", "aiges_code_from", "to_rpc_status"]

DETAILS_KEY = "grpc-status-details-bin"
_DOMAIN = "athena"
_REASON = "AIGES"


def to_rpc_status(grpc_code: grpc.StatusCode, aiges_code: int, message: str) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(
        domain=_DOMAIN, reason=_REASON, metadata={"code": str(aiges_code)}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=grpc_code.value[0], message=message, details=[detail])
    return rpc_status.to_status(status)


def aiges_code_from(trailing_metadata: Iterable[tuple[str, str | bytes]] | None) -> int | None:
    """The AIGES code a peer put in the status details, or None when it put none."""
    for key, value in trailing_metadata or ():
        if key != DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.domain == _DOMAIN and "code" in info.metadata:
                try:
                    return int(info.metadata["code"])
                except ValueError:
                    return None
    return None

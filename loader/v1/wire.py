"""Wire constants of loader.v1: method paths, the ability metadata key, message sizes, types."""
from __future__ import annotations

from loader.v1 import loader_pb2

__all__ = [
    "ABILITY_METADATA", "CALL_METHOD", "DATA_KEYS", "DATA_ONCE", "DESCRIBE_METHOD", "SERVICE",
    "SESSION_METHOD",
    "TYPE_NAMES", "message_options",
]

SERVICE = loader_pb2.DESCRIPTOR.services_by_name["Loader"].full_name  # "loader.v1.Loader"
CALL_METHOD = f"/{SERVICE}/Call"
DESCRIBE_METHOD = f"/{SERVICE}/Describe"
SESSION_METHOD = f"/{SERVICE}/Session"

# which ability a gRPC call is for; optional when a gateway serves exactly one
ABILITY_METADATA = "athena-ability"

# AIGES data type names by number, from the generated enum: {0: "text", ..., 4: "per"}
TYPE_NAMES: dict[int, str] = {
    number: name.removeprefix("DATA_TYPE_").lower()
    for name, number in loader_pb2.DataType.items()
}
# the key inside an AIGES JSON payload item that carries its data, and the type it means
DATA_KEYS: dict[str, int] = {
    name: number for number, name in TYPE_NAMES.items() if number != loader_pb2.DATA_TYPE_PER
}
DATA_ONCE: int = loader_pb2.DATA_STATUS_ONCE


def message_options(limit: int) -> list[tuple[str, int]]:
    """gRPC channel/server options for the message size limit (gRPC's 4 MiB default would
    refuse ordinary images and audio)."""
    return [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]

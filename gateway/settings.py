"""Gateway settings: read once into a frozen object (defaults < TOML < env < CLI)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loader.config import Layers, port, positive_int, read_toml

__all__ = ["GatewaySettings"]

MIB = 1024 * 1024


def _names(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


@dataclass(frozen=True)
class GatewaySettings:
    workers: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int = 9090
    max_body_bytes: int = 96 * MIB
    max_message_bytes: int = 128 * MIB
    timeout_s: float = 30.0
    header_pass: tuple[str, ...] = ("app_id", "uid")
    health_interval_s: float = 1.0
    retry_after_s: int = 1
    ready_file: Path | None = None

    @classmethod
    def load(cls, cli: Mapping[str, Any], env: Mapping[str, str] | None = None) -> GatewaySettings:
        file = read_toml(Path(cli["config"]) if cli.get("config") else None)
        layers = Layers(file, cli, "ATHENA_GATEWAY_", env)
        return cls(
            workers=layers.get("workers", "gateway.workers", (), _names),
            host=layers.get("host", "gateway.host", cls.host, str),
            port=layers.get("port", "gateway.port", cls.port, port),
            grpc_port=layers.get("grpc_port", "gateway.grpc_port", cls.grpc_port, port),
            max_body_bytes=MIB * layers.get("max_body_mb", "gateway.max_body_mb", 96, positive_int),
            max_message_bytes=MIB
            * layers.get("max_message_mb", "gateway.max_message_mb", 128, positive_int),
            timeout_s=layers.get("timeout_s", "gateway.timeout_s", cls.timeout_s, float),
            header_pass=layers.get("header_pass", "aiges.headerPass", cls.header_pass, _names),
            health_interval_s=layers.get(
                "health_interval_s", "gateway.health_interval_s", cls.health_interval_s, float
            ),
            retry_after_s=layers.get("retry_after_s", "gateway.retry_after_s", 1, positive_int),
            ready_file=Path(cli["ready_file"]) if cli.get("ready_file") else None,
        )

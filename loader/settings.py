"""Loader settings: read once into a frozen object (defaults < aiges.toml < env < CLI)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loader.config import (
    Layers,
    boolean,
    default_config_for,
    flatten,
    port,
    positive_int,
    read_toml,
)

__all__ = ["LoaderSettings"]

MIB = 1024 * 1024


@dataclass(frozen=True)
class LoaderSettings:
    wrapper: str
    config_path: Path | None = None
    wrapper_config: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 0
    metrics_port: int = 0
    licence: int = 4
    max_message_bytes: int = 128 * MIB
    service_id: str | None = None
    route: str | None = None
    text_as_bytes: bool = True
    grace_s: float = 5.0
    # a wrapper call running this long is hung: the worker exits so it can be restarted
    stuck_after_s: float = 300.0
    # a sync wrapper call this short runs on the event loop instead of a thread (0: never)
    inline_under_ms: float = 0.5
    ready_file: Path | None = None

    @classmethod
    def load(cls, cli: Mapping[str, Any], env: Mapping[str, str] | None = None) -> LoaderSettings:
        wrapper = str(cli["wrapper"])
        config_path = Path(cli["config"]) if cli.get("config") else default_config_for(wrapper)
        file = read_toml(config_path)
        layers = Layers(file, cli, "ATHENA_LOADER_", env)
        section = file.get("wrapper", {})
        return cls(
            wrapper=wrapper,
            config_path=config_path,
            wrapper_config=flatten(section) if isinstance(section, Mapping) else {},
            host=layers.get("host", "loader.host", cls.host, str),
            port=layers.get("port", "loader.port", cls.port, port),
            metrics_port=layers.get("metrics_port", "loader.metrics_port", cls.metrics_port, port),
            licence=layers.get("licence", "fc.max", cls.licence, positive_int),
            max_message_bytes=MIB
            * layers.get("max_message_mb", "loader.max_message_mb", 128, positive_int),
            service_id=layers.get("service_id", "loader.service_id", None, str),
            route=layers.get("route", "loader.route", None, str),
            text_as_bytes=layers.get("text_as_bytes", "loader.text_as_bytes", True, boolean),
            grace_s=layers.get("grace_s", "loader.grace_s", cls.grace_s, float),
            stuck_after_s=layers.get("stuck_after_s", "loader.stuck_after_s", cls.stuck_after_s,
                                     float),
            inline_under_ms=layers.get("inline_under_ms", "loader.inline_under_ms",
                                       cls.inline_under_ms, float),
            ready_file=Path(cli["ready_file"]) if cli.get("ready_file") else None,
        )

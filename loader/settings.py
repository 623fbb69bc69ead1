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
    pem_file,
    port_number,
    positive_int,
    read_toml,
    setting,
    together,
    usable_tls,
)

__all__ = ["LoaderSettings"]

MIB = 1024 * 1024


@dataclass(frozen=True)
class LoaderSettings:
    """A `setting()` field's default is its one copy: load() and --help read it from here."""

    wrapper: str
    config_path: Path | None = None
    wrapper_config: Mapping[str, str] = field(default_factory=dict)
    host: str = setting("127.0.0.1", "loader.host", str)
    port: int = setting(0, "loader.port", port_number)
    metrics_port: int = setting(0, "loader.metrics_port", port_number)
    licence: int = setting(4, "fc.max", positive_int)
    max_message_mb: int = setting(128, "loader.max_message_mb", positive_int)
    service_id: str | None = setting(None, "loader.service_id", str)
    route: str | None = setting(None, "loader.route", str)
    text_as_bytes: bool = setting(True, "loader.text_as_bytes", boolean)
    grace_s: float = setting(5.0, "loader.grace_s", float)
    # a wrapper call running this long is hung: the worker exits so it can be restarted
    stuck_after_s: float = setting(300.0, "loader.stuck_after_s", float)
    # a sync wrapper call this short runs on the event loop instead of a thread (0: never)
    inline_under_ms: float = setting(0.5, "loader.inline_under_ms", float)
    # calls given up on (deadline, cancel) whose wrapper thread runs on, carried beside [fc] max
    max_abandoned: int = setting(4, "loader.max_abandoned", int)
    # recycling: past this many calls and sessions, or this resident size, the worker drains
    # and exits with code 75 for its supervisor to start a fresh one (0: never)
    max_calls: int = setting(0, "loader.max_calls", int)
    max_rss_mb: int = setting(0, "loader.max_rss_mb", int)
    # mutual TLS on the gRPC port (loader/server.py): all three or none (none: plain text)
    tls_cert: Path | None = setting(None, "loader.tls_cert", pem_file)
    tls_key: Path | None = setting(None, "loader.tls_key", pem_file)
    tls_client_ca: Path | None = setting(None, "loader.tls_client_ca", pem_file)
    ready_file: Path | None = None

    def __post_init__(self) -> None:
        if together("loader", {"tls_cert": self.tls_cert, "tls_key": self.tls_key,
                               "tls_client_ca": self.tls_client_ca},
                    "a worker serves mutual TLS with its certificate, its key and the CA its "
                    "clients' certificates must be signed by"):
            assert self.tls_cert and self.tls_key and self.tls_client_ca
            usable_tls("loader", ("tls_cert", self.tls_cert), ("tls_key", self.tls_key),
                       ("tls_client_ca", self.tls_client_ca))

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_mb * MIB

    @classmethod
    def load(cls, cli: Mapping[str, Any], env: Mapping[str, str] | None = None) -> LoaderSettings:
        wrapper = str(cli["wrapper"])
        config_path = Path(cli["config"]) if cli.get("config") else default_config_for(wrapper)
        file = read_toml(config_path)
        section = file.get("wrapper", {})
        return cls(
            wrapper=wrapper,
            config_path=config_path,
            wrapper_config=flatten(section) if isinstance(section, Mapping) else {},
            ready_file=Path(cli["ready_file"]) if cli.get("ready_file") else None,
            **Layers(file, cli, "ATHENA_LOADER_", env).read(cls),
        )

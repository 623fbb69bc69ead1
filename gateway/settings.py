"""Gateway settings: read once into a frozen object (defaults < TOML < env < CLI)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.discovery import parse_target
from loader.config import (
    ConfigError,
    Layers,
    boolean,
    pem_file,
    port_number,
    positive_int,
    read_toml,
    setting,
    together,
    usable_tls,
)

__all__ = ["GatewaySettings"]

MIB = 1024 * 1024


def _names(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _targets(value: Any) -> tuple[str, ...]:
    """Worker targets, each checked now (IP:PORT or NAME:PORT) so a typo fails at start."""
    names = _names(value)
    for name in names:
        parse_target(name)
    return names


def _dns_server(value: Any) -> str | None:
    text = str(value).strip()
    if text and not parse_target(text).static:
        raise ValueError("give the DNS server as IP:PORT")
    return text or None


def _server_name(value: Any) -> str | None:
    return str(value).strip() or None


def _positive_seconds(value: Any) -> float:
    seconds = float(value)
    if not seconds > 0:
        raise ValueError("must be a positive number of seconds")
    return seconds


def _seconds(value: Any) -> float:
    seconds = float(value)
    if not seconds >= 0:
        raise ValueError("must be 0 or more seconds")
    return seconds


def _count(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


@dataclass(frozen=True)
class GatewaySettings:
    """A `setting()` field's default is its one copy: load() and --help read it from here."""

    workers: tuple[str, ...] = setting((), "gateway.workers", _targets)
    host: str = setting("127.0.0.1", "gateway.host", str)
    port: int = setting(8080, "gateway.port", port_number)
    grpc_port: int = setting(9090, "gateway.grpc_port", port_number)
    max_body_mb: int = setting(96, "gateway.max_body_mb", positive_int)
    max_message_mb: int = setting(128, "gateway.max_message_mb", positive_int)
    # the declared lengths of the bodies being received at once; None: 4 x max_body_mb
    max_bodies_in_flight_mb: int | None = setting(None, "gateway.max_bodies_in_flight_mb",
                                                  positive_int)
    body_timeout_s: float = setting(30.0, "gateway.body_timeout_s", _positive_seconds)
    # connections (gateway/connections.py): a request head's deadline (also a gRPC client's
    # for its HTTP/2 handshake), an idle connection's, how many one process holds on each
    # listener (fewer when RLIMIT_NOFILE leaves no room)
    header_timeout_s: float = setting(10.0, "gateway.header_timeout_s", _positive_seconds)
    keepalive_timeout_s: float = setting(15.0, "gateway.keepalive_timeout_s",
                                         _positive_seconds)
    max_connections: int = setting(1000, "gateway.max_connections", positive_int)
    grpc_max_connections: int = setting(1000, "gateway.grpc_max_connections", positive_int)
    # a public gRPC connection older than this is asked to reconnect (gateway/edge.py)
    grpc_max_connection_age_s: float = setting(1800.0, "gateway.grpc_max_connection_age_s",
                                               _positive_seconds)
    # seconds of /readyz 503 while still serving after SIGTERM (gateway/drain.py); 0: none
    drain_delay_s: float = setting(0.0, "gateway.drain_delay_s", _seconds)
    timeout_s: float = setting(30.0, "gateway.timeout_s", float)
    header_pass: tuple[str, ...] = setting(("app_id", "uid"), "aiges.headerPass", _names)
    health_interval_s: float = setting(1.0, "gateway.health_interval_s", float)
    resolve_interval_s: float = setting(5.0, "gateway.resolve_interval_s", _positive_seconds)
    # None: the system's resolvers (gateway/discovery.py has the rule)
    dns_server: str | None = setting(None, "gateway.dns_server", _dns_server)
    retry_after_s: int = setting(1, "gateway.retry_after_s", positive_int)
    queue_size: int = setting(0, "gateway.queue_size", _count)
    queue_wait_s: float = setting(5.0, "gateway.queue_wait_s", _positive_seconds)
    # service ids whose calls are retried once on another worker when theirs died holding
    # them: only for idempotent abilities, since the wrapper may have run (and acted) already
    retry_on_worker_loss: tuple[str, ...] = setting((), "gateway.retry_on_worker_loss", _names)
    # authentication (gateway/auth.py), off until keys are given
    api_keys: tuple[str, ...] = setting((), "gateway.api_keys", _names)
    api_keys_file: Path | None = setting(None, "gateway.api_keys_file", Path)
    iflytek_keys_file: Path | None = setting(None, "gateway.iflytek_keys_file", Path)
    signature_skew_s: float = setting(300.0, "gateway.signature_skew_s", _positive_seconds)
    auth_admin_routes: bool = setting(False, "gateway.auth_admin_routes", boolean)
    # a wrapper exception's text in client error bodies (else its type and the sid only)
    expose_wrapper_errors: bool = setting(False, "gateway.expose_wrapper_errors", boolean)
    # a listener of its own for /metrics and /readyz's details (gateway/admin.py); None: none,
    # the public port serves them (with no worker address in /readyz)
    admin_port: int | None = setting(None, "gateway.admin_port", port_number)
    admin_host: str = setting("127.0.0.1", "gateway.admin_host", str)
    # /readyz is 200 when these abilities each have a worker; empty: when any ability has one
    ready_abilities: tuple[str, ...] = setting((), "gateway.ready_abilities", _names)
    # mutual TLS to every worker (gateway/channels.py): CA, certificate and key, or none
    worker_tls_ca: Path | None = setting(None, "gateway.worker_tls_ca", pem_file)
    worker_tls_cert: Path | None = setting(None, "gateway.worker_tls_cert", pem_file)
    worker_tls_key: Path | None = setting(None, "gateway.worker_tls_key", pem_file)
    # the name the workers' certificates are checked against instead of the address's host
    worker_tls_server_name: str | None = setting(None, "gateway.worker_tls_server_name",
                                                 _server_name)
    ws_read_timeout_s: float = setting(15.0, "ws.readTimeout", float)
    ws_session_timeout_s: float = setting(180.0, "ws.sessionTimeout", float)
    ready_file: Path | None = None

    def __post_init__(self) -> None:
        tls = together("gateway", {"worker_tls_ca": self.worker_tls_ca,
                                   "worker_tls_cert": self.worker_tls_cert,
                                   "worker_tls_key": self.worker_tls_key},
                       "the gateway checks each worker's certificate against the CA and "
                       "shows its own certificate and key to it (mutual TLS)")
        if tls:
            assert self.worker_tls_ca and self.worker_tls_cert and self.worker_tls_key
            usable_tls("gateway", ("worker_tls_cert", self.worker_tls_cert),
                       ("worker_tls_key", self.worker_tls_key),
                       ("worker_tls_ca", self.worker_tls_ca))
        if self.worker_tls_server_name and not tls:
            raise ConfigError("[gateway] worker_tls_server_name given without "
                              "[gateway] worker_tls_ca, worker_tls_cert, worker_tls_key: it "
                              "names the workers' certificate, which only TLS checks")

    @property
    def max_body_bytes(self) -> int:
        return self.max_body_mb * MIB

    @property
    def max_bodies_in_flight_bytes(self) -> int:
        """Never below one body of the largest size, which would otherwise always be 503."""
        budget = self.max_bodies_in_flight_mb or 4 * self.max_body_mb
        return max(budget, self.max_body_mb) * MIB

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_mb * MIB

    @classmethod
    def load(cls, cli: Mapping[str, Any], env: Mapping[str, str] | None = None) -> GatewaySettings:
        file = read_toml(Path(cli["config"]) if cli.get("config") else None)
        return cls(
            ready_file=Path(cli["ready_file"]) if cli.get("ready_file") else None,
            **Layers(file, cli, "ATHENA_GATEWAY_", env).read(cls),
        )

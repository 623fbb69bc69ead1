"""Channels to workers: the one place the gateway opens one, in plain text or mutual TLS.

Every channel to a worker (calls, sessions, health probes and Describe, static addresses and
DNS-discovered ones alike) comes from `Channels.open`, so none can skip the credentials. The
certificate files are looked at again at every health round (loader.certificates): when they
were renewed, `renewed()` says so and the gateway reconnects its workers with them."""
from __future__ import annotations

import logging

import grpc

from gateway.discovery import parse_target
from gateway.settings import GatewaySettings
from loader.certificates import CertificateFiles, Pem
from loader.v1.wire import message_options

__all__ = ["Channels"]

log = logging.getLogger(__name__)

# what grpc core says when one side speaks TLS and the other does not, or a certificate is
# refused; the words are its own (ssl_transport_security.cc, chttp2 transport)
_HANDSHAKE_WORDS = ("ssl", "tls", "handshake", "certificate", "socket closed",
                    "connection reset", "end of file", "eof", "verification")


class Channels:
    """Opens gRPC channels to workers with one set of options and credentials."""

    def __init__(self, settings: GatewaySettings) -> None:
        self._options: list[tuple[str, int | str]] = [
            *message_options(settings.max_message_bytes)]
        self._credentials: grpc.ChannelCredentials | None = None
        self._files: CertificateFiles | None = None
        self._server_name = settings.worker_tls_server_name
        if settings.worker_tls_ca is not None:
            assert settings.worker_tls_cert is not None and settings.worker_tls_key is not None
            self._files = CertificateFiles(
                "gateway", ("worker_tls_cert", settings.worker_tls_cert),
                ("worker_tls_key", settings.worker_tls_key),
                ("worker_tls_ca", settings.worker_tls_ca))
            self._credentials = _credentials(self._files.current)
            log.info("channels to workers use mutual TLS (CA %s, certificate %s)",
                     settings.worker_tls_ca, settings.worker_tls_cert)

    @property
    def secure(self) -> bool:
        return self._credentials is not None

    def renewed(self) -> bool:
        """Whether the certificate files were renewed since last asked: channels opened from
        now on use them (those open already keep the old ones: reopen them)."""
        pem = None if self._files is None else self._files.renewed()
        if pem is None:
            return False
        self._credentials = _credentials(pem)
        return True

    def open(self, address: str, target: str = "") -> grpc.aio.Channel:
        """A channel to `address` (IP:PORT), found by the workers entry `target`. With TLS the
        worker's certificate must name [gateway] worker_tls_server_name when set, else the
        DNS name `target` resolved (a headless Service's name: pod IPs change), else the IP."""
        if self._credentials is None:
            return grpc.aio.insecure_channel(address, options=self._options)
        name = self._server_name or _dns_name(target)
        options = self._options if name is None else [
            *self._options, ("grpc.ssl_target_name_override", name)]
        return grpc.aio.secure_channel(address, self._credentials, options=options)

    def diagnose(self, details: str) -> str | None:
        """What to check when a failed connection's grpc text looks like TLS on one side
        only or a refused certificate (grpc's own words say neither plainly); else None."""
        if not any(word in details.lower() for word in _HANDSHAKE_WORDS):
            return None
        if self.secure:
            return ("TLS to the worker failed: does it serve TLS, with a certificate signed "
                    "by [gateway] worker_tls_ca and naming the name it was found by (or "
                    "worker_tls_server_name), and does it trust the CA of worker_tls_cert?")
        return ("if the worker serves TLS, the gateway needs [gateway] worker_tls_ca, "
                "worker_tls_cert and worker_tls_key")


def _credentials(pem: Pem) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(root_certificates=pem.ca, private_key=pem.key,
                                        certificate_chain=pem.cert)


def _dns_name(target: str) -> str | None:
    try:
        parsed = parse_target(target)
    except ValueError:  # no target (a test's address): the address's own host
        return None
    return None if parsed.static else parsed.host

"""TLS certificate files that may be replaced while the process runs.

cert-manager renews a certificate by rewriting its mounted Secret in place (and an operator
rotating a CA does the same by hand): a worker or gateway that read its files once would go on
presenting the old certificate until it expired, then fail every handshake. The worker's gRPC
port and the gateway's channels to workers both read their files through `CertificateFiles`:
looked at again (one stat per file) whenever a handshake may need them, read when one changed,
checked as at start-up, and kept as they were when the new ones do not load (a half-written
file, a key that is not the certificate's), with one warning per change.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from loader.config import ConfigError, file_stamp, usable_tls

__all__ = ["CertificateFiles", "Pem"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pem:
    """The three files' contents: a certificate chain, its private key and a CA bundle."""
    cert: bytes
    key: bytes
    ca: bytes


class CertificateFiles:
    """A certificate, its key and a CA, each a (setting name, path) pair of `table`."""

    def __init__(self, table: str, cert: tuple[str, Path], key: tuple[str, Path],
                 ca: tuple[str, Path]) -> None:
        self._table = table
        self._named = (cert, key, ca)
        self._seen = self._stamp()
        self.current = self._read()  # checked by the settings already, at start-up

    def renewed(self) -> Pem | None:
        """The files' contents if they changed since last looked at and load; else None (also
        when they changed into something that does not load: logged, `current` kept)."""
        stamp = self._stamp()
        if stamp == self._seen:
            return None
        self._seen = stamp  # a file still being written changes again: then it is retried
        cert, key, ca = self._named
        try:
            usable_tls(self._table, cert, key, ca)
            pem = self._read()
        except (ConfigError, OSError) as e:
            log.warning("the certificate files changed but do not load; the ones read before "
                        "stay in use: %s", e)
            return None
        self.current = pem
        log.info("certificate files reloaded: %s", ", ".join(str(p) for _, p in self._named))
        return pem

    def _stamp(self) -> tuple[tuple[int, int, int] | None, ...]:
        stamps: list[tuple[int, int, int] | None] = []
        for _, path in self._named:
            try:
                stamps.append(file_stamp(path))
            except OSError:  # gone for a moment mid-swap: a change, looked at next time
                stamps.append(None)
        return tuple(stamps)

    def _read(self) -> Pem:
        cert, key, ca = (path.read_bytes() for _, path in self._named)
        return Pem(cert=cert, key=key, ca=ca)

"""Discovery: the gateway's worker targets (addresses and DNS names) and their resolution.

A target is `IP:PORT` (static: that one worker) or `NAME:PORT` (every A and AAAA record of the
name is a worker at that port, as a Kubernetes headless Service answers). Names are re-resolved
every `[gateway] resolve_interval_s`. Which resolver answers:

- `[gateway] dns_server = "HOST:PORT"` set: that server alone, over DNS (dnspython);
- else a name listed in /etc/hosts (`localhost`, names an operator pinned there): the system's
  own lookup (getaddrinfo), as every other program on the host would see it;
- else the nameservers of /etc/resolv.conf (as in a Kubernetes pod, with its search domains and
  ndots), over DNS; without any nameserver configured, the system's getaddrinfo.

A failed resolution (timeout, no answer, NXDOMAIN, server gone) keeps the name's last known
addresses: a DNS hiccup never drops a pool. It is logged once when the name starts failing and
once when it answers again, and counted every time.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.asyncresolver
import dns.exception
import dns.resolver

from gateway.metrics import GatewayMetrics

__all__ = ["Discovery", "Resolver", "Target", "parse_target"]

log = logging.getLogger(__name__)

HOSTS_FILE = Path("/etc/hosts")
_NAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?")


@dataclass(frozen=True)
class Target:
    """One `[gateway] workers` entry: a host (IP or DNS name) and the workers' port."""

    host: str
    port: int
    static: bool  # an IP address: resolves to itself, never looked up

    @property
    def text(self) -> str:
        return address_of(self.host, self.port)


def address_of(host: str, port: int) -> str:
    """The gRPC target of one worker: `1.2.3.4:50051`, `[::1]:50051`."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_target(text: str) -> Target:
    """`IP:PORT`, `[IPv6]:PORT` or `NAME:PORT`; ValueError naming what is wrong."""
    entry = text.strip()
    host, sep, port_text = entry.rpartition(":")
    if not sep or not host:
        raise ValueError(f"worker {text!r}: give HOST:PORT (an IP address or a DNS name)")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"worker {text!r}: port {port_text!r} is not a number") from None
    if not 0 < port <= 65535:
        raise ValueError(f"worker {text!r}: port {port} is not 1..65535")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return Target(str(ipaddress.ip_address(bare)), port, static=True)
    except ValueError:
        pass
    if bare != host or not _NAME.fullmatch(host):
        raise ValueError(f"worker {text!r}: {host!r} is neither an IP address nor a DNS name")
    return Target(host.rstrip(".").lower(), port, static=False)


def _in_hosts_file(name: str) -> bool:
    try:
        lines = HOSTS_FILE.read_text(errors="replace").splitlines()
    except OSError:
        return False
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if any(alias.lower().rstrip(".") == name for alias in fields[1:]):
            return True
    return False


class Resolver:
    """A name -> its worker IPs (A and AAAA), by the rule in this module's docstring."""

    def __init__(self, dns_server: str | None = None, timeout_s: float = 2.0) -> None:
        self._pinned = bool(dns_server)
        self._dns: dns.asyncresolver.Resolver | None
        if dns_server:
            server = parse_target(dns_server)
            if not server.static:
                raise ValueError(f"dns_server {dns_server!r}: give IP:PORT")
            self._dns = dns.asyncresolver.Resolver(configure=False)
            self._dns.nameservers = [server.host]
            self._dns.port = server.port
        else:
            try:
                self._dns = dns.asyncresolver.Resolver()  # /etc/resolv.conf
            except dns.resolver.NoResolverConfiguration:
                self._dns = None
            if self._dns is not None and not self._dns.nameservers:
                self._dns = None
        if self._dns is not None:
            self._dns.lifetime = timeout_s

    async def resolve(self, name: str) -> list[str]:
        """The name's IPs, IPv4 first, each once; raises OSError or dns.exception.DNSException."""
        if self._dns is None or (not self._pinned and _in_hosts_file(name)):
            return await self._system(name)
        # A and AAAA asked apart: a server that refuses one family (dnsmasq without upstreams
        # answers REFUSED for the AAAA of a name it holds only an A for) still gives the other
        answers = await asyncio.gather(
            *(self._dns.resolve(name, kind, search=True, raise_on_no_answer=False)
              for kind in ("A", "AAAA")), return_exceptions=True)
        found = [str(r) for a in answers if not isinstance(a, BaseException)
                 for r in a.rrset or ()]
        if found:
            return _ordered(found)
        failed = [a for a in answers if isinstance(a, BaseException)]
        if failed:
            raise failed[0]
        raise dns.resolver.NoAnswer(f"{name} has no A or AAAA record")

    @staticmethod
    async def _system(name: str) -> list[str]:
        found = await asyncio.get_running_loop().getaddrinfo(
            name, None, type=socket.SOCK_STREAM)
        return _ordered(str(info[4][0]) for info in found)


def _ordered(addresses: Iterable[str]) -> list[str]:
    unique = {str(ipaddress.ip_address(a)): None for a in addresses}
    return sorted(unique, key=lambda a: (":" in a, ipaddress.ip_address(a).packed))


class Discovery:
    """The targets and the worker addresses they resolve to now (each a gRPC target string)."""

    def __init__(self, targets: Sequence[str], resolver: Resolver,
                 metrics: GatewayMetrics) -> None:
        self.targets = [parse_target(t) for t in targets]
        self._resolver = resolver
        self._metrics = metrics
        self._known: dict[Target, list[str]] = {
            t: [t.text] for t in self.targets if t.static}
        self._failing: set[Target] = set()

    @property
    def dynamic(self) -> bool:
        """Whether any target is a name (else nothing ever needs re-resolving)."""
        return any(not t.static for t in self.targets)

    def addresses(self) -> list[str]:
        """Every worker address known now, in target order, each once."""
        return list(dict.fromkeys(a for t in self.targets for a in self._known.get(t, [])))

    def target_of(self, address: str) -> str:
        return next((t.text for t in self.targets if address in self._known.get(t, [])), "")

    async def refresh(self) -> list[str]:
        """Resolve every name once (concurrently) and return `addresses()`."""
        names = [t for t in self.targets if not t.static]
        await asyncio.gather(*(self._refresh_one(t) for t in names))
        return self.addresses()

    async def _refresh_one(self, target: Target) -> None:
        try:
            ips = await self._resolver.resolve(target.host)
        except (OSError, dns.exception.DNSException) as error:
            self._metrics.dns_resolutions.labels(target.text, "failed").inc()
            if target not in self._failing:
                self._failing.add(target)
                kept = self._known.get(target, [])
                log.warning("resolving worker name %s failed (%s); keeping its %d known "
                            "address(es) %s", target.host, error or type(error).__name__,
                            len(kept), ", ".join(kept) or "-")
            return
        self._metrics.dns_resolutions.labels(target.text, "ok").inc()
        if target in self._failing:
            self._failing.discard(target)
            log.info("worker name %s resolves again", target.host)
        addresses = [address_of(ip, target.port) for ip in ips]
        if addresses != self._known.get(target):
            log.info("worker name %s now resolves to %s", target.host,
                     ", ".join(addresses) or "nothing")
        self._known[target] = addresses

"""Discovery (gateway/discovery.py): worker targets parsed, names resolved by a real dnsmasq the
test starts on a loopback port, and the worker set (gateway/upstream.py) following its answers."""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from gateway.discovery import Discovery, Resolver, Target, parse_target
from gateway.edge import start_edge
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from loader.config import ConfigError
from loader.v1.status import aiges_code_from
from loader.v1.wire import ABILITY_METADATA, CALL_METHOD
from tests.inprocess import eventually, running_gateway, running_worker, wrapper_calls
from tests.support import ROOT, aiges_body, text_item

__all__ = ["Dnsmasq", "free_port", "running_dnsmasq"]

ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class Dnsmasq:
    """A real dnsmasq answering from `hosts` (one `IP NAME` a line) on 127.0.0.1:`port`."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, hosts: Path,
                 log: Path) -> None:
        self.process = process
        self.port = port
        self.hosts = hosts
        self.log = log

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def answer(self, records: dict[str, list[str]]) -> None:
        """Make each name resolve to its IPs (SIGHUP: dnsmasq re-reads the hosts file), and
        return once dnsmasq has read it."""
        reads = self._reads()
        lines = [f"{ip} {name}" for name, ips in records.items() for ip in ips]
        self.hosts.write_text("".join(f"{line}\n" for line in lines))
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while self._reads() == reads and time.monotonic() < deadline:
            time.sleep(0.005)

    def _reads(self) -> int:
        return self.log.read_text(errors="replace").count(f"read {self.hosts} ")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    """A port free now (dnsmasq and several workers sharing one port cannot take port 0)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _answers(port: int, name: str) -> bool:
    """Whether dnsmasq on `port` answers a query for `name` (any answer: it is up)."""
    query = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
             + b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
             + b"\x00\x01\x00\x01")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.sendto(query, ("127.0.0.1", port))
            return sock.recv(512)[:2] == b"\x12\x34"
        except OSError:
            return False


@contextmanager
def running_dnsmasq(folder: Path, records: dict[str, list[str]]) -> Iterator[Dnsmasq]:
    if not os.access(DNSMASQ, os.X_OK):
        pytest.fail("dnsmasq is not installed: `make test` installs it (Debian package dnsmasq)")
    hosts = folder / "dns-hosts"
    hosts.write_text("".join(f"{ip} {name}\n" for name, ips in records.items() for ip in ips))
    log = folder / "dnsmasq.log"
    for _ in range(5):  # the free port may be taken between asking and binding: try another
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                 "--no-hosts", f"--addn-hosts={hosts}", f"--port={port}",
                 "--listen-address=127.0.0.1", "--bind-interfaces", "--log-facility=-",
                 f"--pid-file={folder / 'dnsmasq.pid'}",
                 # stay this user: the hosts file in the test's folder stays readable on SIGHUP
                 f"--user={getpass.getuser()}"],
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while process.poll() is None and not _answers(port, "up.test"):
            if time.monotonic() > deadline:
                process.kill()
                break
            time.sleep(0.02)
        if process.poll() is None:
            break
        process.wait()
    else:
        raise RuntimeError(f"dnsmasq did not start:\n{log.read_text()}")
    server = Dnsmasq(process, port, hosts, log)
    try:
        yield server
    finally:
        server.stop()


def test_targets_are_ip_port_or_name_port() -> None:
    assert parse_target("127.0.0.2:50051") == Target("127.0.0.2", 50051, static=True)
    assert parse_target("[::1]:7000") == Target("::1", 7000, static=True)
    assert parse_target("[::1]:7000").text == "[::1]:7000"
    assert parse_target("Echo-Workers.default.svc.cluster.local.:9000") == Target(
        "echo-workers.default.svc.cluster.local", 9000, static=False)
    assert parse_target("localhost:1").static is False


@pytest.mark.parametrize(("entry", "says"), [
    ("echo-pool.test", "give HOST:PORT"),
    ("echo-pool.test:http", "port 'http' is not a number"),
    ("127.0.0.1:0", "port 0 is not 1..65535"),
    ("bad name!:80", "neither an IP address nor a DNS name"),
])
def test_a_malformed_target_is_refused_at_start_naming_it(entry: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_target(entry)
    with pytest.raises(ConfigError, match="ATHENA_GATEWAY_WORKERS"):
        GatewaySettings.load({}, env={"ATHENA_GATEWAY_WORKERS": f"127.0.0.1:9,{entry}"})


def test_resolve_interval_and_dns_server_are_settings() -> None:
    settings = GatewaySettings.load({}, env={
        "ATHENA_GATEWAY_WORKERS": "echo-pool.test:7000,127.0.0.9:7001",
        "ATHENA_GATEWAY_RESOLVE_INTERVAL_S": "0.25",
        "ATHENA_GATEWAY_DNS_SERVER": "127.0.0.1:5353"})
    assert settings.workers == ("echo-pool.test:7000", "127.0.0.9:7001")
    assert (settings.resolve_interval_s, settings.dns_server) == (0.25, "127.0.0.1:5353")
    assert (GatewaySettings.resolve_interval_s, GatewaySettings.dns_server) == (5.0, None)
    with pytest.raises(ConfigError, match="RESOLVE_INTERVAL_S"):
        GatewaySettings.load({}, env={"ATHENA_GATEWAY_RESOLVE_INTERVAL_S": "0"})
    with pytest.raises(ConfigError, match="DNS_SERVER"):
        GatewaySettings.load({}, env={"ATHENA_GATEWAY_DNS_SERVER": "dns.test:53"})


async def test_a_name_resolves_to_every_a_and_aaaa_record_at_the_server_given(
        tmp_path: Path) -> None:
    records = {"echo-pool.test": ["127.0.0.3", "127.0.0.2", "::2"], "v4.test": ["127.0.0.4"]}
    with running_dnsmasq(tmp_path, records) as dns:
        resolver = Resolver(dns.server)
        both = await resolver.resolve("echo-pool.test")
        # dnsmasq without upstreams refuses the AAAA of a name holding only an A: the A counts
        v4_only = await resolver.resolve("v4.test")
    assert both == ["127.0.0.2", "127.0.0.3", "::2"]
    assert v4_only == ["127.0.0.4"]


async def test_a_name_in_etc_hosts_resolves_without_a_dns_server() -> None:
    assert "127.0.0.1" in await Resolver().resolve("localhost")


async def test_a_failed_resolution_keeps_the_last_known_addresses_and_counts_it(
        tmp_path: Path) -> None:
    metrics = GatewayMetrics()
    with running_dnsmasq(tmp_path, {"echo-pool.test": ["127.0.0.2"]}) as dns:
        discovery = Discovery(["echo-pool.test:7000", "127.0.0.9:7001"],
                              Resolver(dns.server, timeout_s=0.5), metrics)
        first = await discovery.refresh()
        dns.answer({"echo-pool.test": ["127.0.0.2", "127.0.0.3"]})
        grown = await discovery.refresh()
        dns.answer({"other.test": ["127.0.0.5"]})  # the name is gone: REFUSED, a failure
        refused = await discovery.refresh()
    down = await discovery.refresh()  # the server itself is gone
    sample = metrics.registry.get_sample_value
    labels = {"target": "echo-pool.test:7000"}
    assert first == ["127.0.0.2:7000", "127.0.0.9:7001"]
    assert grown == ["127.0.0.2:7000", "127.0.0.3:7000", "127.0.0.9:7001"]
    assert refused == down == grown
    assert sample("athena_gateway_dns_resolutions_total", {**labels, "result": "ok"}) == 2
    assert sample("athena_gateway_dns_resolutions_total", {**labels, "result": "failed"}) == 2
    assert discovery.target_of("127.0.0.3:7000") == "echo-pool.test:7000"


async def post_echo(client, text: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    body = aiges_body("echo", {"text": text_item(text)})
    async with client.post("/v1/private/echo", json=body) as response:
        return response.status, {**await response.json(), "headers": dict(response.headers)}


async def test_the_worker_set_follows_a_name_as_its_answer_changes(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_STREAM, "127.0.0.2")
    with running_dnsmasq(tmp_path, {"echo-pool.test": ["127.0.0.2"]}) as dns:
        async with running_worker(ECHO, host="127.0.0.2", port=port) as a, \
                running_worker(ECHO, host="127.0.0.3", port=port) as b, \
                running_gateway([f"echo-pool.test:{port}"], dns_server=dns.server,
                                resolve_interval_s=0.1, health_interval_s=3600) as gw:
            upstreams = gw.upstreams
            before = [e.address for e in upstreams.endpoints]
            assert (await post_echo(gw.client, "one"))[0] == 200
            dns.answer({"echo-pool.test": ["127.0.0.2", "127.0.0.3"]})
            assert await eventually(lambda: sum(e.healthy for e in upstreams.endpoints) == 2)
            for _ in range(20):
                assert (await post_echo(gw.client, "two"))[0] == 200
            calls_b = wrapper_calls(b)
            gone = next(e for e in upstreams.endpoints if e.address.startswith("127.0.0.2:"))
            dns.answer({"echo-pool.test": ["127.0.0.3"]})
            assert await eventually(lambda: len(upstreams.endpoints) == 1)
            calls_a = wrapper_calls(a)
            for _ in range(10):
                assert (await post_echo(gw.client, "three"))[0] == 200
            assert await eventually(
                lambda: gone.channel.get_state() is grpc.ChannelConnectivity.SHUTDOWN)
            sample = gw.metrics.registry.get_sample_value
            target = {"target": f"echo-pool.test:{port}"}
            counts = (sample("athena_gateway_endpoints_added_total", target),
                      sample("athena_gateway_endpoints_removed_total", target),
                      sample("athena_gateway_endpoints", {"ability": "echo", "state": "healthy"}))
    assert before == [f"127.0.0.2:{port}"]
    assert calls_b >= 1  # the new worker took its share of the 20
    assert wrapper_calls(a) == calls_a  # the removed one took none of the last 10
    assert counts == (2, 1, 1)


async def test_a_known_ability_whose_last_worker_went_is_503_naming_it(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_STREAM, "127.0.0.2")
    with running_dnsmasq(tmp_path, {"echo-pool.test": ["127.0.0.2"]}) as dns:
        async with running_worker(ECHO, host="127.0.0.2", port=port), \
                running_gateway([f"echo-pool.test:{port}"], dns_server=dns.server,
                                resolve_interval_s=0.1, health_interval_s=3600) as gw:
            served = (await post_echo(gw.client, "x"))[0]
            # the pool moved to a host where nothing serves yet (a pod not started)
            dns.answer({"echo-pool.test": ["127.0.0.4"]})
            assert await eventually(lambda: gw.upstreams.by_route("/v1/private/echo") is None)
            status, body = await post_echo(gw.client, "x")
            async with gw.client.post("/v1/private/never", json={}) as response:
                unknown = response.status
            gauge = gw.metrics.registry.get_sample_value(
                "athena_gateway_endpoints", {"ability": "echo", "state": "healthy"})
            edge, edge_port, _ = await start_edge(gw.upstreams, gw.settings, gw.metrics)
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{edge_port}") as channel:
                    with pytest.raises(grpc.aio.AioRpcError) as over_grpc:
                        await channel.unary_unary(CALL_METHOD)(
                            b"", metadata=((ABILITY_METADATA, "echo"),), timeout=5)
            finally:
                await edge.stop(None)
    assert over_grpc.value.code() is grpc.StatusCode.UNAVAILABLE
    assert aiges_code_from(over_grpc.value.trailing_metadata()) == 10503
    assert served == 200
    assert (status, body["header"]["code"], body["headers"]["Retry-After"]) == (503, 10503, "1")
    assert "ability 'echo' at /v1/private/echo has no worker serving it now" in (
        body["header"]["message"])
    assert unknown == 404
    assert gauge == 0

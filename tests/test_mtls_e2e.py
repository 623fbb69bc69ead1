"""Mutual TLS between gateway and workers, with certificates made at test time: a CA, worker
certificates (for 127.0.0.1, for a DNS name only), a gateway client certificate, and a second
CA nobody trusts. Real workers serve TLS, real gateways call them over HTTP end to end; a
client without a certificate, or with one from the other CA, is refused by the worker's
handshake; a plain-text gateway in front of a TLS worker answers 503 naming what to check (in
its log) and keeps serving its other workers; `athena serve` with both sides configured serves."""
from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import kubernetes_validate
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.settings import GatewaySettings
from loader.config import ConfigError
from loader.settings import LoaderSettings
from loader.v1.wire import SERVICE
from tests.deploy.test_manifests import KUBE_VERSIONS, find, render, template_error
from tests.inprocess import eventually, running_gateway, running_worker
from tests.support import ATHENA, ROOT, aiges_body, serve, text_item

ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")
FAULTY = str(ROOT / "tests" / "abilities" / "faulty" / "wrapper.py")
ECHO_ROUTE = "/v1/private/echo"


@dataclass(frozen=True)
class Pki:
    ca: Path
    worker_cert: Path  # SAN 127.0.0.1 and echo-workers.test
    worker_key: Path
    named_cert: Path  # SAN DNS localhost only: checked by name, never by IP
    named_key: Path
    client_cert: Path  # the gateway's, signed by `ca`
    client_key: Path
    rogue_ca: Path  # a CA no one here trusts
    rogue_cert: Path  # a client certificate it signed
    rogue_key: Path

    def worker(self, cert: Path | None = None, key: Path | None = None) -> dict[str, Any]:
        """[loader] settings serving mutual TLS."""
        return {"tls_cert": cert or self.worker_cert, "tls_key": key or self.worker_key,
                "tls_client_ca": self.ca}

    def gateway(self, ca: Path | None = None) -> dict[str, Any]:
        """[gateway] settings calling workers over mutual TLS."""
        return {"worker_tls_ca": ca or self.ca, "worker_tls_cert": self.client_cert,
                "worker_tls_key": self.client_key}


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(folder: Path, name: str, cert: x509.Certificate,
           key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey,
                 issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
                 sans: list[x509.GeneralName] | None = None,
                 usage: x509.ObjectIdentifier | None = None) -> x509.Certificate:
    """A CA when `issuer` is None (self-signed), else a leaf it signs."""
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer[0].subject if issuer else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None),
                              critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, rogue_key = _key(), _key()
    ca = _certificate("athena test CA", ca_key)
    rogue = _certificate("rogue CA", rogue_key)
    server, client = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    paths: dict[str, Path] = {}
    leaves: list[tuple[str, Any, list[x509.GeneralName] | None, x509.ObjectIdentifier]] = [
        ("worker", (ca, ca_key), [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                  x509.DNSName("echo-workers.test")], server),
        ("named", (ca, ca_key), [x509.DNSName("localhost")], server),
        ("client", (ca, ca_key), None, client),
        ("rogue", (rogue, rogue_key), None, client),
    ]
    for name, issuer, sans, usage in leaves:
        key = _key()
        paths[f"{name}_cert"], paths[f"{name}_key"] = _write(
            folder, name, _certificate(f"athena {name}", key, issuer, sans, usage), key)
    ca_path, _ = _write(folder, "ca", ca, ca_key)
    rogue_path, _ = _write(folder, "rogue-ca", rogue, rogue_key)
    return Pki(ca=ca_path, rogue_ca=rogue_path, **paths)


async def _health(address: str, credentials: grpc.ChannelCredentials | None) -> int:
    """A raw health check on the worker, as any client on the network could send it."""
    channel = (grpc.aio.insecure_channel(address) if credentials is None
               else grpc.aio.secure_channel(address, credentials))
    async with channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
        return int(reply.status)


async def test_a_gateway_with_its_client_certificate_calls_a_tls_worker_over_http(
        pki: Pki) -> None:
    async with running_worker(ECHO, **pki.worker()) as worker, \
            running_gateway([worker.address], **pki.gateway()) as gateway:
        async with gateway.client.post(
                ECHO_ROUTE, json=aiges_body("echo", {"text": text_item("over mTLS")})) as reply:
            body = await reply.json()
        assert reply.status == 200, body
        assert "over mTLS" in str(body)
        async with gateway.client.get("/readyz") as ready:
            assert ready.status == 200


async def test_a_worker_refuses_a_client_without_a_certificate(pki: Pki) -> None:
    async with running_worker(ECHO, **pki.worker()) as worker:
        trusting = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _health(worker.address, trusting)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.aio.AioRpcError) as plain:
            await _health(worker.address, None)
        assert plain.value.code() is grpc.StatusCode.UNAVAILABLE
        # the same channel with the client certificate is served: the certificate is the key
        with_cert = grpc.ssl_channel_credentials(
            pki.ca.read_bytes(), pki.client_key.read_bytes(), pki.client_cert.read_bytes())
        assert await _health(worker.address, with_cert) == health_pb2.HealthCheckResponse.SERVING


async def test_a_worker_refuses_a_client_certificate_from_another_ca(pki: Pki) -> None:
    async with running_worker(ECHO, **pki.worker()) as worker:
        rogue = grpc.ssl_channel_credentials(
            pki.ca.read_bytes(), pki.rogue_key.read_bytes(), pki.rogue_cert.read_bytes())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _health(worker.address, rogue)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_a_gateway_trusting_another_ca_does_not_call_the_worker(
        pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "gateway.upstream")
    async with running_worker(ECHO, **pki.worker()) as worker, \
            running_gateway([worker.address], **pki.gateway(ca=pki.rogue_ca)) as gateway:
        async with gateway.client.post(
                ECHO_ROUTE, json=aiges_body("echo", {"text": text_item("x")})) as reply:
            body = await reply.json()
        assert reply.status == 503, body
        assert body["header"]["code"] == 10503
        assert worker.address not in str(body)  # addresses stay in the log
        assert "TLS to the worker failed" in caplog.text


async def test_a_plain_text_gateway_in_front_of_a_tls_worker_answers_503_and_keeps_serving(
        pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "gateway.upstream")
    async with running_worker(ECHO, **pki.worker()) as tls_worker, \
            running_worker(FAULTY) as plain_worker, \
            running_gateway([tls_worker.address, plain_worker.address]) as gateway:
        async with gateway.client.post(
                ECHO_ROUTE, json=aiges_body("echo", {"text": text_item("x")})) as reply:
            body = await reply.json()
        assert reply.status == 503, body
        assert body["header"]["code"] == 10503
        assert "cannot be spoken to (a TLS handshake fails" in body["header"]["message"]
        assert "the gateway needs [gateway] worker_tls_ca" in caplog.text
        async with gateway.client.get("/v1/abilities") as listed:
            assert listed.status == 200
            assert "faulty" in await listed.text()  # the plain worker is served as before
        async with gateway.client.get("/healthz") as alive:
            assert alive.status == 200


async def test_a_worker_found_by_dns_name_is_checked_against_that_name(pki: Pki) -> None:
    """`localhost:PORT` is a DNS target (resolved to 127.0.0.1): the worker's certificate
    names only `localhost`, never the IP, and is accepted for that name."""
    async with running_worker(ECHO, **pki.worker(pki.named_cert, pki.named_key)) as worker:
        port = worker.address.rpartition(":")[2]
        async with running_gateway([f"localhost:{port}"], **pki.gateway()) as gateway:
            async with gateway.client.post(
                    ECHO_ROUTE, json=aiges_body("echo", {"text": text_item("by name")})) as ok:
                assert ok.status == 200, await ok.text()


async def test_worker_tls_server_name_checks_an_ip_addressed_worker_by_name(pki: Pki) -> None:
    async with running_worker(ECHO, **pki.worker(pki.named_cert, pki.named_key)) as worker:
        async with running_gateway([worker.address], **pki.gateway()) as by_ip:
            async with by_ip.client.post(
                    ECHO_ROUTE, json=aiges_body("echo", {"text": text_item("x")})) as refused:
                assert refused.status == 503  # the certificate does not name 127.0.0.1
        async with running_gateway([worker.address], worker_tls_server_name="localhost",
                                   **pki.gateway()) as by_name:
            async with by_name.client.post(
                    ECHO_ROUTE, json=aiges_body("echo", {"text": text_item("x")})) as ok:
                assert ok.status == 200, await ok.text()


def _copied(folder: Path, *files: Path) -> list[Path]:
    """Copies of `files` in `folder`, which a test may then replace as a renewal would."""
    copies = []
    for file in files:
        copy = folder / file.name
        copy.write_bytes(file.read_bytes())
        copies.append(copy)
    return copies


def _renew(file: Path, source: Path | bytes) -> None:
    """Replace `file` at once, as Kubernetes swaps a Secret's files (write aside, rename)."""
    aside = file.with_name(file.name + ".new")
    aside.write_bytes(source if isinstance(source, bytes) else source.read_bytes())
    os.replace(aside, file)


def _client(pki: Pki, cert: Path, key: Path) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(pki.ca.read_bytes(), key.read_bytes(),
                                        cert.read_bytes())


async def test_a_worker_serves_renewed_certificate_files_from_its_next_handshake(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Its client CA renewed to another CA: a client of that CA is served from the next
    connection on, and one of the old CA refused; files that do not load leave it as it was."""
    cert, key, client_ca = _copied(tmp_path, pki.worker_cert, pki.worker_key, pki.ca)
    serving = health_pb2.HealthCheckResponse.SERVING
    async with running_worker(ECHO, tls_cert=cert, tls_key=key,
                              tls_client_ca=client_ca) as worker:
        assert await _health(worker.address, _client(pki, pki.client_cert, pki.client_key)) \
            == serving
        _renew(client_ca, pki.rogue_ca)
        assert await _health(worker.address, _client(pki, pki.rogue_cert, pki.rogue_key)) \
            == serving
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _health(worker.address, _client(pki, pki.client_cert, pki.client_key))
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        caplog.set_level(logging.WARNING, "loader.certificates")
        _renew(key, b"not a key\n")  # a bad renewal: the certificate in use stays
        assert await _health(worker.address, _client(pki, pki.rogue_cert, pki.rogue_key)) \
            == serving
        assert "the ones read before stay in use" in caplog.text
        assert "tls_key" in caplog.text


async def test_a_gateway_reconnects_with_its_renewed_client_certificate(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Both sides renewed to another CA (the worker now trusts only it, the gateway's
    certificate is now its): calls go on, over a new channel holding the new certificate."""
    caplog.set_level(logging.INFO, "gateway.upstream")
    (tmp_path / "worker").mkdir()
    (tmp_path / "gateway").mkdir()
    cert, key, client_ca = _copied(tmp_path / "worker", pki.worker_cert, pki.worker_key, pki.ca)
    gateway_cert, gateway_key, gateway_ca = _copied(
        tmp_path / "gateway", pki.client_cert, pki.client_key, pki.ca)
    body = aiges_body("echo", {"text": text_item("renewed")})
    async with running_worker(ECHO, tls_cert=cert, tls_key=key,
                              tls_client_ca=client_ca) as worker, \
            running_gateway([worker.address], worker_tls_ca=gateway_ca,
                            worker_tls_cert=gateway_cert, worker_tls_key=gateway_key,
                            health_interval_s=0.1) as gateway:
        async with gateway.client.post(ECHO_ROUTE, json=body) as before:
            assert before.status == 200, await before.text()
        endpoint = gateway.upstreams.endpoints[0]
        old = endpoint.channel
        _renew(client_ca, pki.rogue_ca)
        _renew(gateway_key, pki.rogue_key)
        _renew(gateway_cert, pki.rogue_cert)
        assert await eventually(lambda: endpoint.channel is not old and endpoint.healthy)
        async with gateway.client.post(ECHO_ROUTE, json=body) as after:
            assert after.status == 200, await after.text()
        assert "certificates renewed: reconnecting to 1 workers" in caplog.text


def test_a_missing_certificate_file_fails_start_up_naming_its_key(pki: Pki,
                                                                   tmp_path: Path) -> None:
    env = {"ATHENA_LOADER_TLS_CERT": str(tmp_path / "nope.crt"),
           "ATHENA_LOADER_TLS_KEY": str(pki.worker_key),
           "ATHENA_LOADER_TLS_CLIENT_CA": str(pki.ca)}
    with pytest.raises(ConfigError, match="ATHENA_LOADER_TLS_CERT.*cannot read"):
        LoaderSettings.load({"wrapper": ECHO}, env)
    with pytest.raises(ConfigError, match=r"\[gateway\] worker_tls_key: .*is not a PEM file"):
        GatewaySettings.load({"config": _toml(tmp_path, f"""
            [gateway]
            worker_tls_ca = "{pki.ca}"
            worker_tls_cert = "{pki.client_cert}"
            worker_tls_key = "{tmp_path / 'ca.txt'}"
            """)}, {})


def test_one_tls_file_without_the_others_fails_naming_the_missing_keys(pki: Pki) -> None:
    with pytest.raises(ConfigError, match=r"\[loader\] tls_cert, \[loader\] tls_key given "
                                          r"without \[loader\] tls_client_ca"):
        LoaderSettings.load({"wrapper": ECHO}, {"ATHENA_LOADER_TLS_CERT": str(pki.worker_cert),
                                                "ATHENA_LOADER_TLS_KEY": str(pki.worker_key)})
    with pytest.raises(ConfigError, match=r"without \[gateway\] worker_tls_cert, "
                                          r"\[gateway\] worker_tls_key"):
        GatewaySettings.load({}, {"ATHENA_GATEWAY_WORKER_TLS_CA": str(pki.ca)})


def test_a_bad_file_makes_athena_loader_exit_2_naming_the_key(tmp_path: Path) -> None:
    env = {**os.environ, "ATHENA_LOADER_TLS_KEY": str(tmp_path / "no.key")}
    done = subprocess.run([ATHENA, "loader", ECHO], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 2
    assert "environment ATHENA_LOADER_TLS_KEY" in done.stderr
    assert "No such file or directory" in done.stderr


def test_athena_serve_with_both_sides_configured_serves_over_mtls(pki: Pki,
                                                                  tmp_path: Path) -> None:
    """`athena serve` passes one config to its workers and its gateway: with [loader] tls_*
    and [gateway] worker_tls_* in it, the local hop is mutual TLS too."""
    worker, gateway = pki.worker(), pki.gateway()
    config = _toml(tmp_path, "[loader]\n" + "".join(f'{k} = "{v}"\n' for k, v in worker.items())
                   + "[gateway]\n" + "".join(f'{k} = "{v}"\n' for k, v in gateway.items()))
    with serve(tmp_path, [ECHO], "--config", str(config)) as stack:
        reply = httpx.post(f"{stack.base}{ECHO_ROUTE}",
                           json=aiges_body("echo", {"text": text_item("served")}), timeout=30)
        assert reply.status_code == 200, reply.text
        assert "served" in reply.text
        address = stack.workers[0]["address"]
    log = stack.log_text()
    assert "gRPC port with mutual TLS" in log  # the worker
    assert "channels to workers use mutual TLS" in log  # the gateway
    assert address.startswith("127.0.0.1:")


def _toml(folder: Path, text: str) -> Path:
    path = folder / "tls.toml"
    path.write_text("\n".join(line.strip() for line in text.splitlines()) + "\n")
    (folder / "ca.txt").write_text("not a certificate\n")
    return path


@pytest.fixture(autouse=True)
def _no_tls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("TLS_CERT", "TLS_KEY", "TLS_CLIENT_CA"):
        monkeypatch.delenv(f"ATHENA_LOADER_{name}", raising=False)
    for name in ("WORKER_TLS_CA", "WORKER_TLS_CERT", "WORKER_TLS_KEY",
                 "WORKER_TLS_SERVER_NAME"):
        monkeypatch.delenv(f"ATHENA_GATEWAY_{name}", raising=False)
    yield


def test_athena_serve_with_one_half_of_tls_fails_start_up_naming_the_other(
        pki: Pki, tmp_path: Path) -> None:
    config = _toml(tmp_path, "[loader]\n" + "".join(
        f'{k} = "{v}"\n' for k, v in pki.worker().items()))
    done = subprocess.run([ATHENA, "serve", ECHO, "--config", str(config), "--port", "0",
                           "--grpc-port", "0"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))
    assert done.returncode == 2, done.stderr
    assert "[loader] tls_* is set" in done.stderr
    assert "[gateway] worker_tls_* is not" in done.stderr


def test_the_chart_mounts_the_tls_secrets_and_probes_workers_over_http() -> None:

    objects = render({"tls": {"workerSecret": "athena-workers-tls",
                              "gatewaySecret": "athena-gateway-tls"}})
    for deployment, secret, prefix in (("athena-ocr", "athena-workers-tls", "ATHENA_LOADER_"),
                                       ("athena-gateway", "athena-gateway-tls",
                                        "ATHENA_GATEWAY_WORKER_")):
        pod = find(objects, "Deployment", deployment)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert {"name": "tls", "secret": {"secretName": secret, "defaultMode": 0o440}} \
            in pod["volumes"]
        assert {"name": "tls", "mountPath": "/etc/athena/tls", "readOnly": True} \
            in container["volumeMounts"]
        env = {e["name"]: e["value"] for e in container["env"]}
        tls_env = {k: v for k, v in env.items() if k.startswith(f"{prefix}TLS")}
        assert sorted(tls_env.values()) == [
            "/etc/athena/tls/ca.crt", "/etc/athena/tls/tls.crt", "/etc/athena/tls/tls.key"]
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(find(objects, "Deployment", deployment), version,
                                         strict=True)
    worker = find(objects, "Deployment", "athena-ocr")["spec"]["template"]["spec"]
    for probe in ("startupProbe", "readinessProbe"):
        assert worker["containers"][0][probe]["httpGet"] == {"path": "/readyz",
                                                             "port": "metrics"}


def test_the_chart_refuses_one_tls_secret_without_the_other() -> None:
    message = template_error("abilities:\n  ocr: {image: a/ocr:1}\n"
                             "tls: {workerSecret: athena-workers-tls}\n")
    assert "tls.workerSecret and tls.gatewaySecret: give both" in message


def test_a_key_that_is_not_the_certificates_fails_naming_both_keys(pki: Pki) -> None:
    with pytest.raises(ConfigError, match=r"\[loader\] tls_cert .* and tls_key .* are not a "
                                          r"certificate and its unencrypted private key"):
        LoaderSettings(wrapper=ECHO, **pki.worker(key=pki.client_key))
    with pytest.raises(ConfigError, match=r"\[gateway\] worker_tls_ca .* holds no CA"):
        GatewaySettings(**{**pki.gateway(), "worker_tls_ca": pki.client_key})

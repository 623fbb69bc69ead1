"""deploy/helm/athena and deploy/k8s: the chart rendered (Helm v4, embedded by helm-python-sdk)
and the kustomize overlay (kubectl kustomize), every object validated offline against two
Kubernetes versions' schemas, and the rendered commands run as real local processes: workers
on loopback addresses standing in for pods, a real dnsmasq answering the headless Services'
names, the gateway finding them through it, every probe and scrape target the manifests name
answered by the process it points at."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import grpc
import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.gateway.test_discovery import running_dnsmasq
from tests.support import ATHENA, ROOT, aiges_body, stop, text_item

CHART = ROOT / "deploy" / "helm" / "athena"
EXAMPLE = CHART / "examples" / "my-abilities.yaml"
OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "two-abilities"
GENERATE = ROOT / "deploy" / "k8s" / "generate.py"
RELEASE = NAMESPACE = "athena"
KUBE_VERSIONS = ("1.29", "1.34")
# what stands in for each ability's image locally: the image's wrapper folder is the repo's
WRAPPERS = {"ocr": ROOT / "wrappers" / "echo" / "wrapper.py",
            "asr": ROOT / "wrappers" / "asr" / "wrapper.py"}
Obj = dict[str, Any]


def render(values: dict[str, Any] | None = None, file: Path | None = EXAMPLE) -> list[Obj]:
    """`helm template athena deploy/helm/athena -f file --set ...`, parsed."""
    merged = helm.values_from_yaml(file.read_text()) if file else {}
    merged.update(values or {})
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(merged, name=RELEASE, namespace=NAMESPACE)
    return [d for text in rendered.values() for d in yaml.safe_load_all(text) if d]


def kustomize(folder: Path) -> list[Obj]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl (with its built-in kustomize) is not installed")
    out = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True,
                         check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def key(obj: Obj) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    return next(o for o in objects if key(o) == (kind, name))


@pytest.fixture(scope="module")
def chart_objects() -> list[Obj]:
    return render()


@pytest.fixture(scope="module")
def overlay_objects() -> list[Obj]:
    return kustomize(OVERLAY)


def test_the_example_renders_a_gateway_and_a_pool_per_ability(chart_objects: list[Obj]) -> None:
    names = ("athena-gateway", "athena-ocr", "athena-asr")
    assert sorted(key(o) for o in chart_objects) == sorted(
        [(kind, name) for name in names
         for kind in ("Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler")]
        + [("Service", n) for n in ("athena-gateway", "athena-gateway-admin", "ocr-workers",
                                    "asr-workers")])
    for ability in ("ocr", "asr"):
        service = find(chart_objects, "Service", f"{ability}-workers")
        assert service["spec"]["clusterIP"] == "None"  # headless: one DNS record per pod
    args = find(chart_objects, "Deployment", "athena-gateway")[
        "spec"]["template"]["spec"]["containers"][0]["args"]
    workers = [args[i + 1] for i, a in enumerate(args) if a == "--worker"]
    assert workers == ["asr-workers.athena.svc.cluster.local:9000",
                       "ocr-workers.athena.svc.cluster.local:9000"]


def test_the_strict_validator_refuses_a_misspelt_field(chart_objects: list[Obj]) -> None:
    """So that the validations below cannot pass by checking nothing."""
    bad = json.loads(json.dumps(find(chart_objects, "Deployment", "athena-ocr")))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    for version in KUBE_VERSIONS:
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, version, strict=True)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("source", ["helm template", "kubectl kustomize"])
def test_every_object_validates_strictly(source: str, version: str, chart_objects: list[Obj],
                                         overlay_objects: list[Obj]) -> None:
    objects = chart_objects if source == "helm template" else overlay_objects
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{source}: {key(obj)} is invalid on Kubernetes {version}: {e}")


def test_service_monitors_select_services_by_ports_they_have(chart_objects: list[Obj]) -> None:
    """A CRD kubernetes-validate has no schema for: checked against the Services instead."""
    objects = render({"serviceMonitor": {"enabled": True, "interval": "30s",
                                         "labels": {"release": "prometheus"}}})
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
    assert [m["metadata"]["name"] for m in monitors] == [
        "athena-gateway", "athena-asr", "athena-ocr"]
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(monitors[0], KUBE_VERSIONS[-1], strict=True)
    services = [o for o in chart_objects if o["kind"] == "Service"]
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        wanted = monitor["spec"]["selector"]["matchLabels"]
        selected = [s for s in services
                    if wanted.items() <= s["metadata"]["labels"].items()]
        assert len(selected) == 1, monitor["metadata"]["name"]
        ports = {p["name"] for p in selected[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
            assert endpoint["interval"] == "30s"


def test_the_in_flight_autoscaler_reads_the_workers_gauge(chart_objects: list[Obj]) -> None:
    metrics = find(chart_objects, "HorizontalPodAutoscaler", "athena-ocr")["spec"]["metrics"]
    assert metrics[0]["resource"] == {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}
    assert metrics[1]["pods"] == {"metric": {"name": "athena_loader_wrapper_in_flight"},
                                  "target": {"type": "AverageValue", "averageValue": "1.5"}}
    asr = find(chart_objects, "HorizontalPodAutoscaler", "athena-asr")["spec"]
    assert (asr["minReplicas"], asr["maxReplicas"], len(asr["metrics"])) == (1, 4, 1)
    # with an autoscaler the Deployment leaves replicas to it
    assert "replicas" not in find(chart_objects, "Deployment", "athena-ocr")["spec"]


def test_pods_run_hardened_and_drain_within_their_grace(chart_objects: list[Obj]) -> None:
    for deployment in (o for o in chart_objects if o["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"] == {
            "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"}}
        (container,) = pod["containers"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert set(container["resources"]) == {"requests", "limits"}
        pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
        env = {e["name"]: e["value"] for e in container["env"]}
        # the calls in flight get [loader] grace_s (workers) or the call deadline (gateway)
        drain = float(env.get("ATHENA_LOADER_GRACE_S") or env["ATHENA_GATEWAY_TIMEOUT_S"])
        assert pod["terminationGracePeriodSeconds"] >= pause + drain + 5, key(deployment)
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
    asr = find(chart_objects, "Deployment", "athena-asr")["spec"]["template"]["spec"]
    assert asr["terminationGracePeriodSeconds"] == 5 + 10 + 5  # graceS: 10 in the example


@pytest.mark.parametrize("values", [None, EXAMPLE], ids=["defaults", "example"])
def test_helm_lint_strict_passes(values: Path | None) -> None:
    given = helm.values_from_yaml(values.read_text()) if values else None
    for kube in KUBE_VERSIONS:
        report = helm.lint(CHART, given, strict=True, kube_version=f"v{kube}.0")
        assert report["errors"] == [] and report["messages"] == [], report


def test_the_overlay_renders_the_objects_helm_does(chart_objects: list[Obj],
                                                   overlay_objects: list[Obj]) -> None:
    namespace = [o for o in overlay_objects if o["kind"] == "Namespace"]
    assert [o["metadata"]["name"] for o in namespace] == [NAMESPACE]
    rest = sorted((o for o in overlay_objects if o["kind"] != "Namespace"), key=key)
    assert rest == sorted(chart_objects, key=key)


def test_the_committed_kustomize_base_is_a_fresh_generation() -> None:
    result = subprocess.run([sys.executable, str(GENERATE), "--check"], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def template_error(text: str) -> str:
    values = yaml.safe_load(text)
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmError) as caught:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    return str(caught.value)


def test_an_ability_without_an_image_fails_naming_it() -> None:
    message = template_error("abilities:\n  ocr: {image: 'a/ocr:1'}\n  asr: {licence: 2}\n")
    assert "/abilities/asr" in message and "missing property 'image'" in message


def test_no_ability_at_all_fails_saying_what_to_give() -> None:
    assert "abilities.NAME.image" in template_error("abilities: {}\n")


@pytest.mark.parametrize(("values", "keys"), [
    ("abilities:\n  ocr:\n    image: a/ocr:1\n    ports: {grpc: 9000, metrics: 9000}\n",
     "abilities.ocr.ports.grpc and abilities.ocr.ports.metrics are both 9000"),
    ("worker:\n  ports: {grpc: 7000, metrics: 7000}\nabilities:\n  ocr: {image: a/ocr:1}\n",
     "worker.ports.grpc and worker.ports.metrics are both 7000"),
    ("gateway:\n  ports: {http: 9090, grpc: 9090}\nabilities:\n  ocr: {image: a/ocr:1}\n",
     "gateway.ports.http and gateway.ports.grpc are both 9090"),
    ("gateway:\n  ports: {http: 8080, grpc: 9090, admin: 8080}\n"
     "abilities:\n  ocr: {image: a/ocr:1}\n",
     "gateway.ports.http and gateway.ports.admin are both 8080"),
], ids=["ability", "worker-defaults", "gateway", "gateway-admin"])
def test_a_port_clash_fails_naming_both_keys(values: str, keys: str) -> None:
    assert f"port clash: {keys}" in template_error(values)


def test_a_bad_value_fails_naming_its_key() -> None:
    message = template_error("abilities:\n  ocr: {image: a/ocr:1, ports: {grpc: 70000}}\n")
    assert "/abilities/ocr/ports/grpc" in message


# the rendered commands, run here


def _container(objects: list[Obj], name: str) -> Obj:
    return find(objects, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]


def _named_port(container: Obj, port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


def _local(container: Obj, host: str, wrapper: Path | None = None) -> list[str]:
    """The container's command line with the pod's address and the image's paths local."""
    command = [*container["command"], *container["args"]]
    assert command[0] == "athena"
    local = [ATHENA, *("127.0.0.1" if a == "0.0.0.0" else a for a in command[1:])]
    local[local.index("--host") + 1] = host
    if wrapper is not None:
        assert local[2] == "/app/ability/wrapper.py"
        local[2] = str(wrapper)
    return local


def _http(host: str, port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def _grpc_health(host: str, port: int) -> int:
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            return int(health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=2).status)
        except grpc.RpcError:
            return -1


def _probe(container: Obj, probe: Obj, host: str) -> bool:
    """What kubelet would see: the probe's own kind, port and path against the process."""
    if "grpc" in probe:
        return _grpc_health(host, probe["grpc"]["port"]) == health_pb2.HealthCheckResponse.SERVING
    get = probe["httpGet"]
    return _http(host, _named_port(container, get["port"]), get["path"])[0] == 200


def _wait(check: Any, what: str, process: subprocess.Popen[bytes], log: Path,
          within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not check():
        if process.poll() is not None:
            pytest.fail(f"{what}: the process exited {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within} s:\n{log.read_text()}")
        time.sleep(0.1)


@contextmanager
def _started(tmp: Path, label: str, command: list[str],
             env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = tmp / f"{label}.log"
    with log.open("wb") as out:
        running = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                   env={**os.environ, **env})
    try:
        yield running, log
    finally:
        stop(running)


def _free(host: str, ports: list[int]) -> bool:
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def _addresses(count: int, ports: list[int]) -> list[str]:
    """Loopback addresses standing in for pods, each with the manifests' fixed ports free."""
    for _ in range(20):
        first = random.randrange(10, 250 - count)
        hosts = [f"127.0.0.{first + i}" for i in range(count)]
        if all(_free(h, ports) for h in hosts):
            return hosts
    pytest.fail(f"no {count} loopback addresses with ports {ports} free")


def test_the_rendered_commands_serve_through_the_headless_names_and_probes(
        tmp_path: Path, chart_objects: list[Obj]) -> None:
    gateway = _container(chart_objects, "athena-gateway")
    workers = {a: _container(chart_objects, f"athena-{a}") for a in WRAPPERS}
    ports = sorted({p["containerPort"] for c in (gateway, *workers.values()) for p in c["ports"]})
    gateway_host, *pod_hosts = _addresses(1 + 2 * len(WRAPPERS), ports)
    pods = {a: pod_hosts[2 * i:2 * i + 2] for i, a in enumerate(WRAPPERS)}

    # the names the gateway is told are the headless Services' names, at their gRPC port
    targets = [gateway["args"][i + 1] for i, a in enumerate(gateway["args"]) if a == "--worker"]
    records: dict[str, list[str]] = {}
    for ability, container in workers.items():
        service = find(chart_objects, "Service", f"{ability}-workers")
        port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
        name = f"{service['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
        assert f"{name}:{port['port']}" in targets
        assert _named_port(container, port["targetPort"]) == port["port"]
        records[name] = pods[ability]

    with running_dnsmasq(tmp_path, records) as dns, ExitStack() as stack:
        started: dict[str, tuple[Obj, subprocess.Popen[bytes], Path]] = {}
        for ability, container in workers.items():
            env = {e["name"]: e["value"] for e in container["env"]}
            for host in pods[ability]:
                running, log = stack.enter_context(_started(
                    tmp_path, f"{ability}-{host}", _local(container, host, WRAPPERS[ability]),
                    env))
                started[host] = (container, running, log)
        for host, (container, running, log) in started.items():
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                _wait(lambda c=container, p=probe, h=host: _probe(c, c[p], h),
                      f"worker {host} {probe}", running, log)
        env = {e["name"]: e["value"] for e in gateway["env"]}
        running, log = stack.enter_context(_started(
            tmp_path, "gateway", _local(gateway, gateway_host),
            {**env, "ATHENA_GATEWAY_DNS_SERVER": dns.server}))
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            _wait(lambda p=probe: _probe(gateway, gateway[p], gateway_host),
                  f"gateway {probe}", running, log)

        # the gateway found every pod through the names: its admin port (the admin Service's
        # target) has the details; the public port says ready and no more, and has no /metrics
        admin = find(chart_objects, "Service", "athena-gateway-admin")["spec"]["ports"][0]
        assert admin["port"] == _named_port(gateway, admin["targetPort"])
        _, ready = _http(gateway_host, admin["port"], "/readyz")
        listed = [w["healthy"] for w in json.loads(ready)["workers"]]
        assert listed == [True] * len(pod_hosts)
        status, said = _http(gateway_host, _named_port(gateway, "http"), "/readyz")
        assert (status, json.loads(said)) == (200, {"status": "ready"})
        assert _http(gateway_host, _named_port(gateway, "http"), "/metrics")[0] == 404
        public = find(chart_objects, "Service", "athena-gateway")["spec"]["ports"]
        assert admin["port"] not in {p["port"] for p in public}

        # the gateway Service's http port reaches the ability through the gateway
        service = find(chart_objects, "Service", "athena-gateway")
        http = next(p for p in service["spec"]["ports"] if p["name"] == "http")
        url = f"http://{gateway_host}:{_named_port(gateway, http['targetPort'])}"
        body = json.dumps(aiges_body("echo", {"text": text_item("hello from a pod")})).encode()
        request = urllib.request.Request(f"{url}/v1/private/echo", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            reply = json.loads(response.read())
        assert response.status == 200 and reply["header"]["code"] == 0
        assert reply["payload"]["text"]["text"] == "hello from a pod"  # utf8 comes back as text
        _, abilities = _http(gateway_host, _named_port(gateway, "http"), "/v1/abilities")
        assert {a["service_id"] for a in json.loads(abilities)["abilities"]} == {"echo", "asr"}

        # every scrape target the annotations name serves Prometheus text
        for name, host in [("athena-gateway", gateway_host),
                           *((f"athena-{a}", h) for a, hs in pods.items() for h in hs)]:
            notes = find(chart_objects, "Deployment", name)["spec"]["template"]["metadata"][
                "annotations"]
            status, text = _http(host, int(notes["prometheus.io/port"]),
                                 notes["prometheus.io/path"])
            prefix = "athena_gateway_" if name == "athena-gateway" else "athena_loader_"
            assert status == 200 and prefix in text, name

        # SIGTERM (after the preStop pause): a worker drains and exits inside its grace
        container, running, _ = started[pods["ocr"][0]]
        pod = find(chart_objects, "Deployment", "athena-ocr")["spec"]["template"]["spec"]
        pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
        running.send_signal(signal.SIGTERM)
        assert running.wait(pod["terminationGracePeriodSeconds"] - pause) == 0

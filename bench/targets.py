"""What is measured: each family of servers (ours, the raw stack, each peer) and its targets."""
from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.bodies import Bodies
from bench.procs import Server, free_port, http_ready

__all__ = ["ROOT", "Family", "Target", "families", "gateway_process_families",
           "scaling_families"]

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
VENVS = ROOT / "bench" / ".venvs"
ATHENA = str(Path(sys.executable).parent / "athena")
_CALL = "/loader.v1.Loader/Call"


@dataclass(frozen=True)
class Target:
    """One way in to one server: a URL, the envelope it takes, and how it is spoken to."""

    name: str
    protocol: str  # "REST" or "gRPC": which client and which peers it is compared with
    url: str
    body: Callable[[Bodies], Path]
    headers: tuple[str, ...] = ()
    ours: bool = False
    echoes: bool = True  # answers with the payload it got (the spin ability does not)


# a family's targets, known once its servers are up (a worker's port is learned at start)
Exposed = Callable[[], list[Target]]
Built = tuple[list[Server], Exposed]


@dataclass
class Family:
    """Servers started together and the targets they expose once running."""

    name: str
    build: Callable[[Path], Built]
    servers: list[Server] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    startup_s: float = 0.0

    def start(self, workdir: Path) -> None:
        self.servers, exposed = self.build(workdir)
        started = time.monotonic()
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        self.targets = exposed()

    def cpu_seconds(self) -> float:
        return sum(server.cpu_seconds() for server in self.servers)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


def _ready_file(path: Path) -> Callable[[], bool]:
    return path.exists


def _athena(wrapper: str, workers: int, route: str, ability: str,
            label: str, rest_body: Callable[[Bodies], Path] = lambda b: b.aiges_json,
            extra: Sequence[str] = ()) -> Callable[[Path], Built]:
    def build(workdir: Path) -> Built:
        ready = workdir / f"{label}-ready.json"
        ready.unlink(missing_ok=True)
        http, grpc_port = free_port(), free_port()
        server = Server(
            label,
            [ATHENA, "serve", wrapper, "--workers", str(workers), "--licence", "64",
             "--port", str(http), "--grpc-port", str(grpc_port), "--ready-file", str(ready),
             *extra],
            _ready_file(ready), workdir / f"{label}.log", cwd=ROOT,
        )

        def exposed() -> list[Target]:
            worker = json.loads(ready.read_text())["workers"][0]["address"]
            return [
                Target(f"{label} REST", "REST", f"http://127.0.0.1:{http}{route}",
                       rest_body, ours=True, echoes=ability != "spin"),
                Target(f"{label} gRPC", "gRPC", f"http://127.0.0.1:{grpc_port}{_CALL}",
                       lambda b: b.loader_grpc, headers=(f"athena-ability: {ability}",),
                       ours=True),
                Target(f"{label} gRPC worker", "gRPC", f"http://{worker}{_CALL}",
                       lambda b: b.loader_grpc, ours=True),
            ]

        return [server], exposed

    return build


def _raw(workdir: Path) -> Built:
    echo, proxy, rest = free_port(), free_port(), free_port()
    module = [sys.executable, "-m", "bench.rawstack"]
    upstream = f"127.0.0.1:{echo}"
    servers = [
        Server("raw echo", [*module, "echo", "--port", str(echo)],
               _tcp_ready(echo), workdir / "raw-echo.log", cwd=ROOT),
        Server("raw proxy", [*module, "proxy", "--port", str(proxy), "--upstream", upstream],
               _tcp_ready(proxy), workdir / "raw-proxy.log", cwd=ROOT),
        Server("raw rest", [*module, "rest", "--port", str(rest), "--upstream", upstream],
               _tcp_ready(rest), workdir / "raw-rest.log", cwd=ROOT),
    ]
    path = _CALL
    targets = [
        Target("raw REST", "REST", f"http://127.0.0.1:{rest}/v1/private/echo",
               lambda b: b.aiges_json),
        Target("raw gRPC proxy", "gRPC", f"http://127.0.0.1:{proxy}{path}",
               lambda b: b.loader_grpc),
        Target("raw gRPC echo", "gRPC", f"http://127.0.0.1:{echo}{path}",
               lambda b: b.loader_grpc),
    ]
    return servers, lambda: targets


def _tcp_ready(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False
    return ready



def _v2_targets(label: str, http: int, grpc_port: int) -> list[Target]:
    return [
        Target(f"{label} REST", "REST", f"http://127.0.0.1:{http}/v2/models/echo/infer",
               lambda b: b.v2_json),
        Target(f"{label} gRPC", "gRPC",
               f"http://127.0.0.1:{grpc_port}/inference.GRPCInferenceService/ModelInfer",
               lambda b: b.v2_grpc_raw),  # each peer's fastest form of bytes
    ]


def _v2_peer(label: str, command: Callable[[int, int], list[str]],
             ready_path: str) -> Callable[[Path], Built]:
    """A V2-protocol peer started by `command(http_port, grpc_port)`."""
    def build(workdir: Path) -> Built:
        http, grpc_port = free_port(), free_port()
        server = Server(label, command(http, grpc_port),
                        http_ready(f"http://127.0.0.1:{http}{ready_path}"),
                        workdir / f"{label.lower()}.log", cwd=ROOT)
        return [server], lambda: _v2_targets(label, http, grpc_port)

    return build


_triton = _v2_peer("Triton", lambda http, grpc_port: [
    "bash", str(PEERS / "triton" / "start_triton.sh"), str(http), str(grpc_port)],
    "/v2/health/ready")
_pytriton = _v2_peer("PyTriton", lambda http, grpc_port: [
    str(VENVS / "triton" / "bin" / "python"), str(PEERS / "triton" / "pytriton_echo.py"),
    "--http-port", str(http), "--grpc-port", str(grpc_port)], "/v2/models/echo/ready")
_mlserver = _v2_peer("MLServer", lambda http, grpc_port: [
    "bash", str(PEERS / "mlserver" / "start_mlserver.sh"), str(http), str(grpc_port)],
    "/v2/models/echo/ready")


ECHO = str(ROOT / "wrappers" / "echo" / "wrapper.py")
SPIN = str(ROOT / "bench" / "abilities" / "spin" / "wrapper.py")


def families(peers: Sequence[str]) -> list[Family]:
    """The main matrix, in the order each round runs them."""
    chosen = [Family("athena", _athena(ECHO, 1, "/v1/private/echo", "echo", "athena")),
              Family("raw", _raw)]
    available = {"triton": _triton, "pytriton": _pytriton, "mlserver": _mlserver}
    chosen += [Family(name, available[name]) for name in peers]
    return chosen


def scaling_families() -> list[Family]:
    """A CPU-bound wrapper behind the gateway, on 1 worker and on 2."""
    return [Family(f"spin x{n}", _athena(SPIN, n, "/v1/private/spin", "spin", f"spin x{n}",
                                         rest_body=lambda b: b.spin_json))
            for n in (1, 2)]


def gateway_process_families() -> list[Family]:
    """The echo ability on one worker behind 1 and behind 2 gateway processes (one port)."""
    return [Family(f"gateway x{n}", _athena(ECHO, 1, "/v1/private/echo", "echo",
                                            f"gateway x{n}",
                                            extra=("--gateway-processes", str(n))))
            for n in (1, 2)]

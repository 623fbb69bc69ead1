"""`athena`: serve wrappers, run a gateway or a loader worker on its own, call an ability, or
start a new one."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.settings import GatewaySettings
from gateway.stream_client import FRAME_BYTES, INTERVAL_MS
from loader.config import with_default
from loader.process import (
    die_with_parent,
    setup_logging,
    stop_event,
    tune_allocator,
    write_ready_file,
)
from loader.settings import LoaderSettings
from loader.v1.wire import DATA_KEYS

__all__ = ["main"]

log = logging.getLogger("athena")

_EXAMPLES = """examples:
  athena new myability
  athena serve wrappers/echo/wrapper.py --workers 2
  athena call http://127.0.0.1:8080/v1/private/echo --text hello
  athena call grpc://127.0.0.1:9090 --ability echo --text hello
  athena build wrappers/echo -t localhost/echo:1
"""


_CALL_EPILOG = """\
inputs: NAME=VALUE, NAME=@FILE, or VALUE (named after its kind).

--stream: the streamed input is the only input given, else the only --audio, --image or
--video one; --text inputs beside it go whole in the first frame (with its status). The
first frame carries the header and parameters (--param, --accept) with status 0, later
frames status 1, the last status 2 (an input that fits in one frame goes as a single
status-2 frame). Each result is printed as it arrives (the sid first); with --out-dir each
result's outputs are saved as DIR/<name>.<N>.<encoding>, N counting results from 0. An
error frame or status prints its AIGES code and message on stderr and exits 1, after the
results that came before it.

examples:
  athena call http://127.0.0.1:8080/v1/private/echo --text hello --param mode=fast
  athena call ws://127.0.0.1:8080/v1/private/asr --audio @hello.wav --stream
  athena call grpc://127.0.0.1:9090 --ability asr --audio @hello.wav --stream \\
      --frame-bytes 640 --interval-ms 20
"""


_PROCESSES_HELP = ("gateway processes on this host sharing the HTTP and gRPC ports "
                   "(SO_REUSEPORT), so the edge uses every core; started, restarted and "
                   "stopped (each draining on SIGTERM) together, each with its own view of "
                   "the workers. /metrics on the shared port, whichever process answers, "
                   "shows the whole group (prometheus_client multiprocess mode: counters "
                   "summed, gauges per process with a pid label, and "
                   "athena_gateway_process_http_responses_total{process} counting each "
                   "one's responses); the ready file lists the processes. "
                   "1 (default): one process, no parent")


def _gateway_arguments(parser: argparse.ArgumentParser) -> None:
    # help shows the dataclass defaults; argparse's stay None so file and env layers show through
    defaults = GatewaySettings
    parser.add_argument("--host", help=with_default("address to bind", defaults.host))
    parser.add_argument("--port", type=int,
                        help=with_default("HTTP port; 0 = any free port", defaults.port))
    parser.add_argument("--grpc-port", type=int, dest="grpc_port",
                        help=with_default("public gRPC port; 0 = any free port",
                                          defaults.grpc_port))
    parser.add_argument("--timeout-s", type=float, dest="timeout_s",
                        help=with_default("deadline in seconds of one call through the gateway",
                                          defaults.timeout_s))
    parser.add_argument("--max-body-mb", type=int, dest="max_body_mb",
                        help=with_default("largest HTTP request body in MiB", defaults.max_body_mb))
    parser.add_argument("--ready-file", dest="ready_file",
                        help="write the bound ports as JSON here once serving")


def _parser() -> argparse.ArgumentParser:
    from loader.cli import add_arguments as loader_arguments

    parser = argparse.ArgumentParser(
        prog="athena", description="Serve AIGES wrapper.py abilities over HTTP and gRPC.",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="one gateway plus N loader workers per wrapper, on this machine",
        description="Start N loader worker processes per wrapper and a gateway in front of them. "
                    "Each wrapper's aiges.toml (beside wrapper.py) configures it.")
    serve.add_argument("wrappers", nargs="+", metavar="WRAPPER",
                       help="a wrapper.py path (or module:attr); several serve several abilities")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes per wrapper (default %(default)s)")
    serve.add_argument("--config", help="TOML config for every wrapper and the gateway "
                                        "(default: aiges.toml beside each wrapper.py)")
    serve.add_argument("--licence", type=int, help=with_default(
        "concurrent calls per worker, [fc] max", LoaderSettings.licence))
    serve.add_argument("--worker-port-base", type=int, dest="worker_port_base", metavar="N",
                       help="pin the workers' ports (for firewalled hosts): worker i, counted "
                            "across the wrappers in the order given, serves gRPC on N+2i and "
                            "/metrics on N+2i+1, so W workers take N..N+2W-1; a restarted "
                            "worker keeps its ports (default: any free ports)")
    serve.add_argument("--gateway-processes", type=int, default=1, dest="gateway_processes",
                       metavar="N", help=_PROCESSES_HELP)
    _gateway_arguments(serve)

    gateway = commands.add_parser(
        "gateway", help="only the gateway, in front of workers started elsewhere",
        description="Run the gateway in front of already running loader workers.")
    gateway.add_argument("--worker", action="append", dest="workers", metavar="HOST:PORT",
                         help="a loader worker's gRPC address (repeat for each)")
    gateway.add_argument("--config", help="TOML config ([gateway] and [aiges] tables)")
    gateway.add_argument("--processes", type=int, default=1, metavar="N", help=_PROCESSES_HELP)
    # set by a group's parent for each member it starts
    gateway.add_argument("--process-index", type=int, dest="process_index",
                         help=argparse.SUPPRESS)
    _gateway_arguments(gateway)

    worker = commands.add_parser(
        "loader", help="one loader worker hosting one wrapper",
        description="Run one loader worker: it loads the wrapper and serves loader.v1 over gRPC.")
    loader_arguments(worker)

    call = commands.add_parser(
        "call", help="call an ability (or stream to it) and print its outputs",
        description="Call an ability once, or with --stream open a session and stream an input "
                    "to it in frames. TARGET is the ability's URL "
                    "(http://host:8080/v1/private/echo; ws:// is the same route) or "
                    "grpc://host:9090.",
        epilog=_CALL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    call.add_argument("target", metavar="TARGET")
    for kind in DATA_KEYS:
        call.add_argument(f"--{kind}", action="append", default=[], metavar="INPUT",
                          help=f"a {kind} input")
    call.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                      help="a parameter for the wrapper")
    call.add_argument("--accept", action="append", default=[], metavar="NAME[:ENCODING]",
                      help="ask for this output (default: every output)")
    call.add_argument("--ability", help="with grpc://, which ability (service id)")
    call.add_argument("--out-dir", dest="out_dir", help="save outputs as files here")
    call.add_argument("--timeout", type=float, default=60.0,
                      help="seconds for a call; with --stream, for the session to end after "
                           "the last frame is sent (default %(default)g)")
    call.add_argument("--stream", action="store_true",
                      help="stream the input as a session (WebSocket for http:// and ws://, "
                           "the gRPC Session for grpc://) and print each result as it arrives")
    call.add_argument("--frame-bytes", type=int, default=FRAME_BYTES, dest="frame_bytes",
                      metavar="N", help="with --stream, bytes per frame (default %(default)s: "
                                        "40 ms of 16 kHz 16-bit mono audio)")
    call.add_argument("--interval-ms", type=float, default=INTERVAL_MS, dest="interval_ms",
                      metavar="MS", help="with --stream, pause between frames; 0 sends each "
                                         "as soon as the server takes the last (default "
                                         "%(default)g: real time for the default frames)")

    build = commands.add_parser(
        "build", help="an OCI image (podman or docker) that serves a wrapper folder",
        description="Build an image serving WRAPPER_FOLDER: the project, the folder's "
                    "requirements.txt or env.yaml pip part, aiges.toml [build] apt packages; "
                    "deploy/images/README.md has its ports, paths and user.")
    build.add_argument("folder", type=Path, metavar="WRAPPER_FOLDER")
    build.add_argument("-t", "--tag", required=True, metavar="NAME:TAG")
    build.add_argument("--base", metavar="IMAGE", help="a Debian-based image with python3, "
                       "pip and venv to build on (default: one made from the Debian mirror)")
    build.add_argument("--serve", action="store_true",
                       help="run `athena serve` (gateway + worker) instead of `athena loader`")

    new = commands.add_parser(
        "new", help="write a runnable wrapper folder NAME/ to start a new ability from",
        description="Write NAME/ with wrapper.py (aiges SDK style, with a schema), aiges.toml, "
                    "requirements.txt, README.md, test_data/hello.txt and test_wrapper.py (a "
                    "test that serves it with athena serve and calls it). "
                    "`athena serve NAME/wrapper.py` serves it as it is.")
    new.add_argument("name", metavar="NAME",
                     help="the ability's service id (route /v1/private/NAME): letters, digits, "
                          "'_' and '-', starting with a letter or '_'")
    new.add_argument("--dir", default=".", metavar="PARENT",
                     help="where to write NAME/ (default: the current folder)")
    return parser


def _forwarded(args: argparse.Namespace, add: Callable[[argparse.ArgumentParser], None],
               skip: set[str]) -> list[str]:
    """The options of `add` that `args` sets, as a command line for a child process."""
    probe = argparse.ArgumentParser(add_help=False)
    add(probe)
    tail: list[str] = []
    for action in probe._actions:
        value = getattr(args, action.dest, None)
        if action.option_strings and action.dest not in skip and value is not None:
            tail += [action.option_strings[0], str(value)]
    return tail


_GROUP_SETS = {"port", "grpc_port", "ready_file", "workers", "config"}


async def _serve(args: argparse.Namespace) -> None:
    from gateway.app import run_gateway
    from gateway.processes import enable_multiprocess_metrics, run_group
    from loader.config import default_config_for
    from loader.supervisor import Supervisor, WorkerSpec

    stop = stop_event()
    extra = ("--licence", str(args.licence)) if args.licence else ()
    # one wrapper: its aiges.toml also configures the gateway ([gateway], [aiges] headerPass)
    gateway_config = args.config or (
        default_config_for(args.wrappers[0]) if len(args.wrappers) == 1 else None)
    # a group's metrics (the worker restarts among them) live in files every member reads
    folder = enable_multiprocess_metrics() if args.gateway_processes > 1 else None
    specs = [WorkerSpec(w, args.config, extra_args=extra) for w in args.wrappers]
    _check_tls_halves(args.wrappers, args.config, GatewaySettings.load(
        {**vars(args), "config": gateway_config, "workers": ()}))
    supervisor = Supervisor(specs, args.workers, port_base=args.worker_port_base)
    try:
        await supervisor.start()
        settings = GatewaySettings.load(
            {**vars(args), "config": gateway_config, "workers": supervisor.addresses})
        if folder is None:
            await run_gateway(settings, stop, {"workers": supervisor.describe()},
                              collectors=[supervisor.restarts])
            return
        tail = [*_forwarded(args, _gateway_arguments, _GROUP_SETS),
                *(["--config", str(gateway_config)] if gateway_config else []),
                *(f"--worker={address}" for address in supervisor.addresses)]
        await run_group(args.gateway_processes, tail, settings.port, settings.grpc_port,
                        settings.ready_file, stop, lambda: {"workers": supervisor.describe()},
                        drain_delay_s=settings.drain_delay_s)
    finally:
        await supervisor.stop()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _check_tls_halves(wrappers: list[str], config: str | None,
                      gateway: GatewaySettings) -> None:
    """`athena serve` hands its workers and its gateway the same config and environment:
    workers serving mutual TLS to a plain-text gateway (or the other way) could never be
    called, so that fails here rather than as a 503 on every call."""
    from loader.config import ConfigError

    for wrapper in wrappers:
        worker = LoaderSettings.load({"wrapper": wrapper, "config": config})
        if worker.tls != (gateway.worker_tls_ca is not None):
            on, off = (("[loader] tls_*", "[gateway] worker_tls_*") if worker.tls
                       else ("[gateway] worker_tls_*", "[loader] tls_*"))
            raise ConfigError(f"{on} is set for {wrapper} but {off} is not: the gateway and "
                              "its workers must both speak mutual TLS, or neither")


async def _gateway(args: argparse.Namespace) -> None:
    from gateway.app import run_gateway
    from gateway.processes import enable_multiprocess_metrics, run_group

    settings = GatewaySettings.load(vars(args))
    if not settings.workers:
        raise SystemExit("athena gateway: give the workers with --worker HOST:PORT "
                         "(or [gateway] workers in the config, or ATHENA_GATEWAY_WORKERS)")
    if args.processes <= 1:
        await run_gateway(settings, stop_event(), group_index=args.process_index)
        return
    folder = enable_multiprocess_metrics()
    tail = [*_forwarded(args, _gateway_arguments, _GROUP_SETS),
            *(["--config", args.config] if args.config else []),
            *(f"--worker={address}" for address in args.workers or ())]
    try:
        await run_group(args.processes, tail, settings.port, settings.grpc_port,
                        settings.ready_file, stop_event(), drain_delay_s=settings.drain_delay_s)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _supervise_loader(args: argparse.Namespace) -> None:
    """`athena loader --workers N`: N workers of one wrapper and the supervisor's /metrics."""
    from loader.cli import add_arguments
    from loader.probe import start_probe
    from loader.supervisor import Supervisor, WorkerSpec

    settings = LoaderSettings.load(vars(args))
    stop = stop_event()
    tail = _forwarded(args, add_arguments, {"config", "host", "port", "metrics_port",
                                            "ready_file", "workers", "worker_port_base"})
    supervisor = Supervisor([WorkerSpec(args.wrapper, args.config, settings.host, tuple(tail))],
                            args.workers, port_base=args.worker_port_base)
    registry = CollectorRegistry()
    registry.register(supervisor.restarts)
    probe, metrics_port = await start_probe(registry, settings.host, settings.metrics_port,
                                            lambda: True)

    def announce() -> None:
        write_ready_file(settings.ready_file, {"pid": os.getpid(), "metrics_port": metrics_port,
                                               "workers": supervisor.describe()})

    supervisor.on_restart = announce
    try:
        await supervisor.start()
        log.info("%d workers of %s serving; supervisor /metrics on %s:%d", args.workers,
                 args.wrapper, settings.host, metrics_port)
        announce()
        await stop.wait()
    finally:
        await supervisor.stop(grace_s=settings.grace_s + 5)
        await probe.cleanup()


def _check_loader(args: argparse.Namespace) -> str | None:
    if args.workers < 1:
        return f"--workers {args.workers}: give 1 or more"
    if args.workers == 1:
        return None if args.worker_port_base is None else (
            "--worker-port-base is for --workers N > 1; one worker takes --port and "
            "--metrics-port")
    if args.port is not None:
        return (f"--port with --workers {args.workers}: each worker takes its own port; pin "
                "them with --worker-port-base B (worker i: gRPC B+2i, /metrics B+2i+1)")
    count, base = args.workers, args.worker_port_base
    if base is not None and not 0 < base <= 65536 - 2 * count:
        return (f"--worker-port-base {base}: {count} workers need the {2 * count} ports from "
                f"{base} on, which must lie within 1..65535")
    return None


def _check_port_base(args: argparse.Namespace) -> str | None:
    """Why --worker-port-base cannot work with this many workers, or None."""
    base, count = args.worker_port_base, len(args.wrappers) * args.workers
    if base is None or 0 < base <= 65536 - 2 * count:
        return None
    return (f"--worker-port-base {base}: {count} workers need the {2 * count} ports from "
            f"{base} on, which must lie within 1..65535")


def _port_in_use(args: argparse.Namespace, error: Exception) -> str:
    base, count = args.worker_port_base, len(getattr(args, "wrappers", "w")) * args.workers
    return (f"{error}; --worker-port-base {base} gives the {count} workers ports "
            f"{base}..{base + 2 * count - 1}: free that port or choose another base")


def _new(args: argparse.Namespace) -> int:
    from gateway.scaffold import ScaffoldError, new_ability

    folder = Path(args.dir) / args.name
    try:
        written = new_ability(args.name, Path(args.dir))
    except (ScaffoldError, OSError) as e:
        print(f"athena new: {e}", file=sys.stderr)
        return 2
    print(f"wrote {folder}/: " + ", ".join(str(p.relative_to(folder)) for p in written))
    print(f"serve it:  athena serve {folder}/wrapper.py\n"
          f"call it:   athena call http://127.0.0.1:8080/v1/private/{args.name} "
          f"--text @{folder}/test_data/hello.txt\n"
          f"test it:   python -m pytest {folder}")
    return 0


def _call(args: argparse.Namespace) -> int:
    from gateway.client import accept_pairs, call, param_pairs, parse_input

    inputs = [parse_input(kind, spec) for kind in DATA_KEYS for spec in getattr(args, kind)]
    if not args.stream:
        return call(args.target, inputs, args.param, args.accept, args.ability, args.out_dir,
                    args.timeout)
    from gateway.stream_client import Pacing, stream

    if not inputs:
        raise SystemExit("athena call: give the input to stream (--text, --image, --audio, "
                         "--video)")
    return stream(args.target, inputs, param_pairs(args.param), accept_pairs(args.accept),
                  args.ability, args.out_dir, args.timeout,
                  Pacing(args.frame_bytes, args.interval_ms / 1000))


def _build(args: argparse.Namespace) -> int:
    from gateway.build import BuildError, build

    try:
        seconds = build(args.folder, args.tag, args.base, args.serve)
    except BuildError as e:
        print(f"athena build: {e}", file=sys.stderr)
        return 2
    print(f"built {args.tag} in {seconds:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "new":
        return _new(args)
    if args.command == "build":
        return _build(args)
    if args.command == "loader" and (problem := _check_loader(args)):
        print(f"athena loader: {problem}", file=sys.stderr)
        return 2
    if args.command == "loader" and args.workers == 1:
        from loader.cli import run_from_args

        return run_from_args(args)
    if args.command == "call":
        return _call(args)
    if args.command == "serve" and (problem := _check_port_base(args)):
        print(f"athena serve: {problem}", file=sys.stderr)
        return 2
    if getattr(args, "process_index", None) is not None:
        die_with_parent()  # a group member ends with the parent that started it
    setup_logging("gateway")
    from gateway.processes import GroupFailed
    from loader.config import ConfigError
    from loader.supervisor import PortInUse, WorkerFailed

    tune_allocator()
    run = {"serve": _serve, "gateway": _gateway, "loader": _supervise_loader}[args.command]
    try:
        asyncio.run(run(args))
    except PortInUse as e:
        print(f"athena {args.command}: {_port_in_use(args, e)}", file=sys.stderr)
        return 2
    except (ConfigError, WorkerFailed, GroupFailed) as e:
        print(f"athena {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

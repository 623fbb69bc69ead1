"""`athena loader`: the worker's command line (also `python -m loader`)."""
from __future__ import annotations

import argparse
import sys

from loader.config import ConfigError, with_default
from loader.errors import WrapperLoadError
from loader.process import die_with_parent, setup_logging, tune_allocator
from loader.settings import LoaderSettings

__all__ = ["add_arguments", "main", "run_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # help shows the dataclass defaults; argparse's stay None so file and env layers show through
    defaults = LoaderSettings
    parser.add_argument("wrapper", help="path to wrapper.py, or module:attr")
    parser.add_argument("--config", help="TOML config; default: aiges.toml beside wrapper.py")
    parser.add_argument("--host", help=with_default("address to bind", defaults.host))
    parser.add_argument("--port", type=int,
                        help=with_default("gRPC port; 0 = any free port", defaults.port))
    parser.add_argument("--metrics-port", type=int, dest="metrics_port",
                        help=with_default("HTTP port for /metrics, /healthz, /readyz; 0 = any",
                                          defaults.metrics_port))
    parser.add_argument("--licence", type=int,
                        help=with_default("concurrent wrapper calls admitted, [fc] max",
                                          defaults.licence))
    parser.add_argument("--service-id", dest="service_id",
                        help="ability id (default: the wrapper's serviceId, else its folder name)")
    parser.add_argument("--route", help="HTTP route (default /<version>/private/<serviceId>)")
    parser.add_argument("--max-message-mb", type=int, dest="max_message_mb",
                        help=with_default("largest gRPC message in MiB", defaults.max_message_mb))
    parser.add_argument("--stuck-after-s", type=float, dest="stuck_after_s",
                        help=with_default("exit (to be restarted) when a wrapper call runs this "
                                          "many seconds", defaults.stuck_after_s))
    parser.add_argument("--ready-file", dest="ready_file",
                        help="once serving, write {pid, port, metrics_port, service_id} here; "
                             "with --workers N, {pid, metrics_port, workers: [{ability, "
                             "address, metrics_address, pid}, ...]}, rewritten after a restart")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes on this host under one supervisor, which "
                             "restarts a crashed one (with backoff) on its ports and passes "
                             "SIGTERM on to all (each drains). With N > 1 each worker takes "
                             "its own ports (free ones, or pinned with --worker-port-base); "
                             "--port is refused and --metrics-port is the supervisor's own "
                             "/metrics (athena_supervisor_worker_restarts_total{ability}). "
                             "1 (the default): this process is the worker")
    parser.add_argument("--worker-port-base", type=int, dest="worker_port_base", metavar="B",
                        help="with --workers N: worker i serves gRPC on B+2i and /metrics on "
                             "B+2i+1, as `athena serve --worker-port-base` (default: free "
                             "ports)")


def run_from_args(args: argparse.Namespace) -> int:
    """One worker in this process (--workers 1; `athena loader` supervises more)."""
    if args.workers != 1 or args.worker_port_base is not None:
        print("athena loader: --workers and --worker-port-base need `athena loader`, which "
              "supervises the workers; this runs one", file=sys.stderr)
        return 2
    die_with_parent()
    setup_logging("worker")
    from loader.server import run  # imported late: `--help` must not need grpc or the wrapper

    tune_allocator()
    try:
        settings = LoaderSettings.load(vars(args))
        run(settings)
    except (ConfigError, WrapperLoadError) as e:
        print(f"athena loader: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="athena loader", description=__doc__)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))

#!/usr/bin/env bash
# Start the MLServer 1.7.1 benchmark peer serving the `echo` model.
#
#   bash bench/peers/mlserver/start_mlserver.sh HTTP_PORT GRPC_PORT
#
# exec's `mlserver start`, so the PID of this script is the MLServer main
# process. Ready when GET http://127.0.0.1:HTTP_PORT/v2/health/ready and
# /v2/models/echo/ready return 200.
#
# Environment:
#   MLSERVER_PARALLEL_WORKERS  inference worker processes (MLServer's default,
#                              and ours, is 1: one spawned worker process that
#                              the main process forwards every request to;
#                              0 runs inference in the main process).
#   MLSERVER_HOST              listen address (default 127.0.0.1).
#   MLSERVER_PEER_RUN_DIR      scratch dir used as cwd (default
#                              bench/.venvs/mlserver/run/<HTTP_PORT>).
# Static settings (debug/access logs off, metrics server off, gzip off,
# 128 MiB gRPC message limit) are in models/settings.json.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 HTTP_PORT GRPC_PORT" >&2
    exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
VENV="$REPO/bench/.venvs/mlserver"
MODELS="$HERE/models"

if [ ! -x "$VENV/bin/mlserver" ]; then
    echo "MLServer venv missing: run bash bench/peers/mlserver/setup.sh" >&2
    exit 1
fi

# MLServer does not exit when uvicorn cannot bind its port (it keeps gRPC up
# and then ignores SIGTERM), so refuse to start on a port someone listens on.
for port in "$1" "$2"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is already in use" >&2
        exit 1
    fi
done

export MLSERVER_HTTP_PORT="$1"
export MLSERVER_GRPC_PORT="$2"
export MLSERVER_HOST="${MLSERVER_HOST:-127.0.0.1}"
export MLSERVER_PARALLEL_WORKERS="${MLSERVER_PARALLEL_WORKERS:-1}"

# MLServer writes .metrics/ (Prometheus multiprocess files) and .envs/ into
# its working directory and reads a .env file from it: keep all of that out
# of the repo by running from a scratch directory.
RUN_DIR="${MLSERVER_PEER_RUN_DIR:-$VENV/run/$1}"
mkdir -p "$RUN_DIR"
export MLSERVER_METRICS_DIR="$RUN_DIR/.metrics"
export MLSERVER_ENVIRONMENTS_DIR="$RUN_DIR/.envs"
cd "$RUN_DIR"

export PYTHONUNBUFFERED=1
exec "$VENV/bin/mlserver" start "$MODELS"

#!/usr/bin/env bash
# Start a CPU-only Triton Inference Server (the binary bundled in the
# nvidia-pytriton wheel) serving the Python-backend "echo" model.
#
#   bash bench/peers/triton/start_triton.sh HTTP_PORT GRPC_PORT
#
# Environment (all optional):
#   TRITON_INSTANCES   instance_group count of the echo model (default 1)
#   TRITON_ADDRESS     address HTTP and gRPC bind to (default 127.0.0.1)
#   TRITON_VENV        venv made by setup.sh (default bench/.venvs/triton)
#   TRITON_RUNTIME_DIR scratch dir for the generated backend dir and model
#                      repository (default ${TMPDIR:-/tmp}/athena-triton-<HTTP_PORT>;
#                      wiped and recreated on every start)
#
# The last step is `exec`, so the PID of this script becomes tritonserver.
# Ready when GET http://127.0.0.1:HTTP_PORT/v2/health/ready returns 200.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 HTTP_PORT GRPC_PORT" >&2
    exit 2
fi
HTTP_PORT=$1
GRPC_PORT=$2

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/../../.." && pwd)
VENV=${TRITON_VENV:-$REPO_ROOT/bench/.venvs/triton}
PY=$VENV/bin/python
INSTANCES=${TRITON_INSTANCES:-1}
ADDRESS=${TRITON_ADDRESS:-127.0.0.1}
RUNTIME=${TRITON_RUNTIME_DIR:-${TMPDIR:-/tmp}/athena-triton-$HTTP_PORT}

if [ ! -x "$PY" ]; then
    echo "triton venv missing at $VENV: run bash bench/peers/triton/setup.sh" >&2
    exit 1
fi
case $INSTANCES in
    ''|*[!0-9]*|0) echo "TRITON_INSTANCES must be a positive integer" >&2; exit 2 ;;
esac

# Where things live: pytriton package dir, its bundled shared libs, the venv
# interpreter's version and its libpython directory (the stub links libpython).
read -r PKG LIBS PYVER PYLIBDIR < <("$PY" - <<'EOF'
import os, sys, sysconfig
import pytriton
pkg = os.path.dirname(pytriton.__file__)
libs = os.path.join(os.path.dirname(pkg), "nvidia_pytriton.libs")
print(pkg, libs, "%d.%d" % sys.version_info[:2], sysconfig.get_config_var("LIBDIR"))
EOF
)
DIST=$PKG/tritonserver
STUB=$DIST/python_backend_stubs/$PYVER/triton_python_backend_stub
if [ ! -x "$STUB" ]; then
    echo "no Python backend stub for Python $PYVER in $DIST" >&2
    exit 1
fi

# Backend dir: the wheel ships backends/python without the stub (PyTriton
# copies in the one matching the running Python at start), so assemble one.
rm -rf "$RUNTIME"
mkdir -p "$RUNTIME/backends/python" "$RUNTIME/models"
ln -s "$DIST/backends/python/libtriton_python.so" "$RUNTIME/backends/python/"
ln -s "$DIST/backends/python/triton_python_backend_utils.py" "$RUNTIME/backends/python/"
cp "$STUB" "$RUNTIME/backends/python/triton_python_backend_stub"

# Model repository copy with the instance count substituted.
cp -r "$HERE/model_repository/echo" "$RUNTIME/models/echo"
sed -i "s/^\(\s*count:\s*\)[0-9][0-9]*/\1$INSTANCES/" "$RUNTIME/models/echo/config.pbtxt"
rm -rf "$RUNTIME/models/echo/1/__pycache__"

# The stub embeds libpython; its interpreter finds its prefix by looking up
# "python3" on PATH, so the venv's bin must come first for it to see the
# venv's site-packages (numpy).
export PATH="$VENV/bin:$PATH"
export LD_LIBRARY_PATH="$PYLIBDIR:$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

exec "$DIST/bin/tritonserver" \
    --model-repository="$RUNTIME/models" \
    --backend-directory="$RUNTIME/backends" \
    --cache-directory="$DIST/caches" \
    --http-address="$ADDRESS" --http-port="$HTTP_PORT" \
    --grpc-address="$ADDRESS" --grpc-port="$GRPC_PORT" \
    --allow-metrics=false --allow-gpu-metrics=false --allow-cpu-metrics=false \
    --allow-sagemaker=false --allow-vertex-ai=false \
    --pinned-memory-pool-byte-size=0 \
    --cuda-memory-pool-byte-size=0:0 \
    --strict-readiness=true \
    --exit-timeout-secs=5 \
    --log-verbose=0

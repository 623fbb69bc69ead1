#!/usr/bin/env bash
# Create the Triton peer's own virtualenv (bench/.venvs/triton) and install
# bench/peers/triton/requirements.txt into it. Idempotent: does nothing when
# the stamp bench/.venvs/triton/.installed is newer than requirements.txt.
#
#   bash bench/peers/triton/setup.sh        # from the repo root (any cwd works)
#
# Env: PYTHON (default python3) is the interpreter the venv is made from; it
# must be a CPython 3.8-3.13 (the wheel ships Python-backend stubs for those).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/../../.." && pwd)
VENV=$REPO_ROOT/bench/.venvs/triton
REQ=$HERE/requirements.txt
STAMP=$VENV/.installed
PYTHON=${PYTHON:-python3}

if [ -f "$STAMP" ] && [ "$STAMP" -nt "$REQ" ] && [ -x "$VENV/bin/python" ]; then
    echo "triton venv up to date: $VENV"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating venv $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi

# System package (installed only if missing): the Python-backend stub that
# tritonserver spawns links libpython3.X.so.1.0. start_triton.sh and
# pytriton_echo.py put the venv interpreter's own LIBDIR first on
# LD_LIBRARY_PATH; if that interpreter was built without --enable-shared,
# fall back to Debian's libpython3.X package.
read -r PYVER LIBDIR < <("$VENV/bin/python" -c 'import sys, sysconfig; print("%d.%d" % sys.version_info[:2], sysconfig.get_config_var("LIBDIR"))')
LIBPY=libpython$PYVER.so.1.0
if [ ! -e "$LIBDIR/$LIBPY" ] && ! /sbin/ldconfig -p | grep -q "$LIBPY"; then
    echo "installing system package libpython$PYVER (needed by triton_python_backend_stub)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libpython$PYVER"
fi

"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"
touch "$STAMP"
echo "triton venv ready: $VENV"

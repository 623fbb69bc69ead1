#!/usr/bin/env bash
# Create/refresh the MLServer peer's own virtualenv at bench/.venvs/mlserver.
# Idempotent: does nothing if bench/.venvs/mlserver/.installed is newer than
# requirements.txt. Run from anywhere, e.g. `bash bench/peers/mlserver/setup.sh`.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
VENV="$REPO/bench/.venvs/mlserver"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.installed"
PYTHON="${PYTHON:-python3}"

if [ -f "$STAMP" ] && [ "$STAMP" -nt "$REQ" ] && [ -x "$VENV/bin/mlserver" ]; then
    echo "mlserver venv up to date: $VENV"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi

"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"
"$VENV/bin/mlserver" --version
touch "$STAMP"
echo "mlserver venv ready: $VENV"

#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs activelearn with everything it needs.
# Usage: bash scripts/setup.sh [dev]   ("dev" adds the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
req=requirements.txt
[ "${1:-}" = "dev" ] && req=requirements-dev.txt
.venv/bin/python -m pip install -q -r "$req"
.venv/bin/python -m pip install -q --no-deps -e .

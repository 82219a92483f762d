#!/usr/bin/env bash
# Sets everything up, then runs the main job on the bundled digits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/activelearn demo "$@"

#!/usr/bin/env bash
# Sets everything up, then opens notebooks/01_label_digits.ipynb in JupyterLab (the main job).
# Headless alternative: .venv/bin/activelearn demo   (a simulated run that prints and plots the curve)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ROOT_FLAG=""; [ "$(id -u)" = 0 ] && ROOT_FLAG="--allow-root"
exec .venv/bin/jupyter lab $ROOT_FLAG "$@" notebooks/01_label_digits.ipynb

#!/usr/bin/env bash
# The demo: set-up, then a run against the embedded facility emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
python scripts/demo.py "$@"

#!/usr/bin/env bash
# The whole test suite: set-up, lint, type check, then pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check .; ruff format --check .
echo "== mypy"; mypy
echo "== pytest"; pytest "$@"

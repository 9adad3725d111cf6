#!/usr/bin/env bash
# The whole test suite: set-up (the locked environment and a local Slurm on 127.0.0.1), lint, type
# check, then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== local Slurm"
if ! bash scripts/slurm-local.sh start; then
    # The real-Slurm tests need root and Debian's packages; in CI they must run, not skip.
    if [ "${CI:-}" = "true" ]; then
        echo "the local Slurm did not start" >&2
        exit 1
    fi
    echo "the local Slurm did not start here: its tests will be skipped" >&2
fi

echo "== ruff"; ruff check .; ruff format --check .
echo "== mypy"; mypy
echo "== pytest"; pytest --durations=15 "$@"

#!/usr/bin/env bash
# The whole test suite: set-up (the locked environment, a local Slurm, Redis and RabbitMQ for the
# emulated streaming clusters, and a local Airflow deployment on 127.0.0.1), lint, type check, then
# pytest. Extra arguments go to pytest.
#
# pytest runs on PYTEST_WORKERS xdist workers (default 4: most tests wait on jobs and servers, not
# on the CPU) with the suite's schedule (tests/schedule.py): whole modules per worker except the
# independent ones, the longest tests first. PYTEST_WORKERS=0 runs in one process.
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

echo "== Redis and RabbitMQ (the emulated S3M streaming clusters)"
if ! bash scripts/streaming-servers.sh install; then
    # The streaming tests provision real servers; in CI they must run, not skip.
    if [ "${CI:-}" = "true" ]; then
        echo "redis-server and rabbitmq-server could not be installed" >&2
        exit 1
    fi
    echo "redis-server or rabbitmq-server is missing here: the streaming tests will be skipped" >&2
fi

# PostgreSQL, the emulator and Airflow's four processes start while lint and type checks run;
# tests/deployment uses them, and they are stopped when this script ends.
echo "== local Airflow deployment (starting in the background)"
AIRFLOW_START_LOG=$(mktemp)
bash scripts/airflow-local.sh start >"$AIRFLOW_START_LOG" 2>&1 &
AIRFLOW_START=$!
trap 'bash scripts/airflow-local.sh stop >/dev/null 2>&1 || true; rm -f "$AIRFLOW_START_LOG"' EXIT

echo "== ruff"; ruff check .; ruff format --check .
echo "== mypy"; mypy

echo "== local Airflow deployment"
if wait "$AIRFLOW_START"; then
    tail -n 1 "$AIRFLOW_START_LOG"
else
    status=$?
    cat "$AIRFLOW_START_LOG" >&2
    if [ "${CI:-}" = "true" ]; then
        echo "the local Airflow deployment did not start" >&2
        exit 1
    fi
    if [ "$status" = 3 ]; then
        echo "PostgreSQL cannot be installed here: the deployment tests will be skipped" >&2
    else
        echo "the local Airflow deployment did not start: the deployment tests will say why" >&2
    fi
fi

echo "== pytest"
workers=${PYTEST_WORKERS:-4}
if [ "$workers" = 0 ]; then
    pytest --durations=15 "$@"
else
    pytest -n "$workers" --suite-schedule --durations=15 "$@"
fi

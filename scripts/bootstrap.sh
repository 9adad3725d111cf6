#!/usr/bin/env bash
# Install everything the project needs on a machine that has Python 3.11: uv, then the locked
# environment (all extras and the dev group) in .venv. Safe to run again; fast when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
    python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
export UV_PYTHON_DOWNLOADS=never
uv sync --frozen --all-extras --python 3.11 --quiet

"""An emulator of its own for the command's tests (they take resources down and revoke tokens),
and a runner that invokes the command in-process with a connection pointing at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from facility_cli.main import app

CONNECTION_VARIABLES = (
    "FACILITY_CONN",
    "FACILITY_URL",
    "FACILITY_API",
    "FACILITY_TOKEN",
    "FACILITY_TOKEN_FILE",
    "FACILITY_AUTH",
    "FACILITY_PROJECT",
    "FACILITY_RESOURCE",
    "FACILITY_CONFIG",
)


@pytest.fixture(scope="package")
def cli_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from facility_emulator import EmulatorConfig, EmulatorServer

    root: Path = tmp_path_factory.mktemp("cli-facility")
    with EmulatorServer(EmulatorConfig(root=root, queue_delay=0.05, task_delay=0.01)) as server:
        yield server


@pytest.fixture
def env(cli_emulator: Any, tmp_path: Path) -> dict[str, str | None]:
    """Environment of a user whose connection is the emulator's IRI v1 with its static token."""
    values: dict[str, str | None] = dict.fromkeys(CONNECTION_VARIABLES)
    values.update(
        FACILITY_API="iri",
        FACILITY_URL=cli_emulator.iri_url("v1"),
        FACILITY_TOKEN=cli_emulator.credentials["static_token"],
        FACILITY_CONFIG=str(tmp_path / "absent.toml"),
        COLUMNS="200",
    )
    return values


def run(env: dict[str, str | None], *args: str) -> Result:
    """Run ``facility ARGS`` in-process and return its result (exit code, stdout, output)."""
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def iri_conn(cli_emulator: Any, version: str = "v1", **options: Any) -> str:
    """The emulator's IRI connection as Airflow JSON (``FACILITY_CONN``), with backend options
    (a quick ``retry`` policy, for instance) that the environment variables cannot carry."""
    return json.dumps(
        {
            "conn_type": "facility_iri",
            "host": cli_emulator.iri_url(version),
            "password": cli_emulator.credentials["static_token"],
            "extra": {"resource": "polaris", "backend_options": options},
        }
    )


#: A retry policy that gives up at once, for tests of what happens after the retries.
NO_RETRY = {"attempts": 1}

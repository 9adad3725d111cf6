"""``facility transfer`` and ``facility transfers`` against the emulator: connections from the
config file (one IRI v2, whose storages' collections the API reports; one IRI v1 with its
collections configured), the Globus connection from ``FACILITY_GLOBUS``."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from .conftest import run


@pytest.fixture
def transfer_env(cli_emulator: Any, env: dict[str, str | None], tmp_path: Path) -> dict[str, str | None]:
    credentials = cli_emulator.credentials
    collections = cli_emulator.flavour_credentials("globus")["collections"]
    config = tmp_path / "connections.toml"
    config.write_text(
        f"""
[connections.alcf]
api = "iri"
url = "{cli_emulator.iri_url("v2")}"
token = "{credentials["static_token"]}"
project = "demo"

[connections.olcf]
api = "iri"
url = "{cli_emulator.iri_url("v1")}"
token = "{credentials["static_token"]}"
globus_collections = {{ orion = "{collections["olcf-dtn"]["id"]}" }}
"""
    )
    os.chmod(config, 0o600)
    globus = {
        "conn_type": "facility_globus",
        "host": f"{cli_emulator.url}/transfer/",
        "login": credentials["client_id"],
        "password": credentials["client_secret"],
        "extra": {"auth_base_url": f"{cli_emulator.url}/globus/"},
    }
    return {**env, "FACILITY_CONFIG": str(config), "FACILITY_GLOBUS": json.dumps(globus)}


def test_transfer_moves_a_tree_and_waits(cli_emulator: Any, transfer_env: dict[str, str | None]) -> None:
    collections = cli_emulator.flavour_credentials("globus")["collections"]
    run_dir = f"cli-{uuid.uuid4().hex[:8]}"
    source = Path(collections["alcf-eagle"]["root"], run_dir)
    source.mkdir()
    (source / "a.txt").write_text("alpha\n")
    (source / "b.txt").write_text("beta\n")

    result = run(
        transfer_env, "transfer", "-R", "--wait", "--json", "--label", f"cli {run_dir}",
        f"alcf:eagle:/{run_dir}/", f"olcf:orion:/in/{run_dir}/",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    task = json.loads(result.stdout)
    assert task["state"] == "SUCCEEDED" and task["files_transferred"] == 2 and task["bytes_transferred"] == 11
    assert Path(collections["olcf-dtn"]["root"], "in", run_dir, "b.txt").read_text() == "beta\n"

    listed = run(transfer_env, "transfers", "--label", f"cli {run_dir}", "--json")
    assert listed.exit_code == 0, listed.output
    assert [t["id"] for t in json.loads(listed.stdout)] == [task["id"]]
    shown = run(transfer_env, "transfers", task["id"])
    assert shown.exit_code == 0 and task["id"] in shown.stdout and "SUCCEEDED" in shown.stdout
    secret = cli_emulator.credentials["client_secret"]
    assert secret not in result.output and secret not in shown.output


def test_a_failed_transfer_exits_8_with_its_reason(transfer_env: dict[str, str | None]) -> None:
    result = run(transfer_env, "transfer", "--wait", "alcf:eagle:/absent.h5", "olcf:orion:/absent.h5")
    assert result.exit_code == 8
    assert "FILE_NOT_FOUND" in result.output


def test_without_globus_credentials_the_command_says_what_to_give(
    transfer_env: dict[str, str | None],
) -> None:
    result = run({**transfer_env, "FACILITY_GLOBUS": None}, "transfer", "alcf:eagle:/a", "olcf:orion:/a")
    assert result.exit_code == 2
    assert "--globus" in result.output


def test_cancel(cli_emulator: Any, transfer_env: dict[str, str | None]) -> None:
    import httpx

    collections = cli_emulator.flavour_credentials("globus")["collections"]
    name = f"big-{uuid.uuid4().hex[:8]}.bin"
    Path(collections["alcf-eagle"]["root"], name).write_bytes(b"x" * 200_000)
    httpx.put(f"{cli_emulator.url}/_emulator/globus", json={"bytes_per_second": 10_000}).raise_for_status()
    try:
        started = run(transfer_env, "transfer", f"alcf:eagle:/{name}", f"olcf:orion:/{name}")
        assert started.exit_code == 0, started.output
        task_id = started.stdout.strip()
        cancelled = run(transfer_env, "transfers", "--cancel", task_id, "--json")
    finally:
        httpx.put(f"{cli_emulator.url}/_emulator/globus", json={"bytes_per_second": 0})
    assert cancelled.exit_code == 0, cancelled.output
    [task] = json.loads(cancelled.stdout)
    assert task["id"] == task_id and task["state"] == "CANCELED"

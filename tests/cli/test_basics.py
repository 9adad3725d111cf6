"""What users of a command expect from it: help without glitches, -h, --version, completion,
global --conn and --json, local times with their zone, sizes and counts in words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import typer

from facility_cli.main import app
from facility_cli.output import fmt_time, human_size, plural

from .conftest import CONNECTION_VARIABLES, iri_conn, run


def _command_paths() -> list[list[str]]:
    """Every command and subcommand, as the words that name it."""
    root: Any = typer.main.get_command(app)
    paths: list[list[str]] = [[]]
    for name, command in root.commands.items():
        paths.append([name])
        paths += [[name, sub] for sub in getattr(command, "commands", {})]
    return paths


def test_every_help_is_free_of_type_glitches(env: dict[str, str | None]) -> None:
    for path in _command_paths():
        for flag in ("-h", "--help"):
            result = run(env, *path, flag)
            assert result.exit_code == 0, (path, result.output)
            assert "<bool>" not in result.stdout, path
            assert "Usage:" in result.stdout or "usage:" in result.stdout, path


def test_every_command_takes_json_and_conn() -> None:
    root: Any = typer.main.get_command(app)
    for path in _command_paths()[1:]:
        command: Any = root
        for word in path:
            command = command.commands[word]
        if hasattr(command, "commands") or path == ["emulate"]:
            continue  # the emulator's own parser has --json; config add writes, it prints no data
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        if path != ["config", "add"]:
            assert "--json" in options, path
        if path[0] not in ("config", "login"):
            assert "--conn" in options, path


def test_version_and_completion(env: dict[str, str | None]) -> None:
    version = run(env, "--version")
    assert version.exit_code == 0 and version.stdout.startswith("facility ")
    assert "--install-completion" in run(env, "-h").stdout


def test_global_conn_and_json(env: dict[str, str | None], cli_emulator: Any) -> None:
    bare = {**env, "FACILITY_URL": None, "FACILITY_API": None, "FACILITY_TOKEN": None}
    result = run(bare, "--conn", iri_conn(cli_emulator), "--json", "status", "polaris")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "polaris"
    listed = run(bare, "--json", "--conn", iri_conn(cli_emulator), "jobs")
    assert isinstance(json.loads(listed.stdout), list)


@pytest.fixture
def chicago() -> Iterator[None]:
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "America/Chicago"
    time.tzset()
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


@pytest.mark.usefixtures("chicago")
def test_times_are_local_with_their_zone() -> None:
    assert fmt_time(datetime(2030, 1, 1, tzinfo=UTC)) == "2029-12-31 18:00:00 CST"
    assert fmt_time(datetime(2030, 7, 1, 12)) == "2030-07-01 07:00:00 CDT"  # naive: UTC
    assert fmt_time(None) == ""


def test_the_command_shows_outages_in_the_local_zone(cli_emulator: Any, tmp_path: Any) -> None:
    incident = {
        "name": "zone test",
        "type": "planned",
        "start": "2030-01-01T00:00:00Z",
        "end": "2030-01-01T06:00:00Z",
        "resources": ["aurora"],
    }
    created = httpx.post(f"{cli_emulator.url}/_emulator/incidents", json=incident)
    created.raise_for_status()
    child = {k: v for k, v in os.environ.items() if k not in CONNECTION_VARIABLES}
    child.update(
        TZ="America/Chicago",
        FACILITY_CONN=iri_conn(cli_emulator),
        FACILITY_CONFIG=str(tmp_path / "absent.toml"),
        COLUMNS="200",
    )
    try:
        shown = subprocess.run(
            [sys.executable, "-m", "facility_cli", "outages", "-r", "aurora"],
            env=child,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        httpx.delete(f"{cli_emulator.url}/_emulator/incidents/{created.json()['id']}")
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if line.startswith("zone test"))
    assert "2029-12-31 18:00:00 CST" in row and "2030-01-01 00:00:00 CST" in row


def test_sizes_and_counts_in_words() -> None:
    assert [human_size(n) for n in (None, 0, 1023, 1536, 5 * 1024**3)] == [
        "",
        "0 B",
        "1023 B",
        "1.5 KiB",
        "5.0 GiB",
    ]
    assert (plural(1, "resource"), plural(6, "resource")) == ("1 resource", "6 resources")

"""``facility config``: named connections added, listed and shown without their secrets; a
config file holding secrets must be private."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from facility_cli.main import app

from .conftest import run


def _no_connection(env: dict[str, str | None], config: Path) -> dict[str, str | None]:
    return {
        **env,
        "FACILITY_URL": None,
        "FACILITY_API": None,
        "FACILITY_TOKEN": None,
        "FACILITY_CONFIG": str(config),
    }


def _add(env: dict[str, str | None], *args: str, token: str = "") -> Any:
    return CliRunner().invoke(app, ["config", "add", *args], env=env, input=token, catch_exceptions=False)


def test_add_list_show_and_use_connections(
    env: dict[str, str | None], cli_emulator: Any, tmp_path: Path
) -> None:
    config = tmp_path / "facility" / "connections.toml"
    env = _no_connection(env, config)
    token = cli_emulator.credentials["static_token"]
    added = _add(
        env,
        "emu",
        "--api",
        "iri",
        "--url",
        cli_emulator.iri_url("v1"),
        "--token-stdin",
        "-r",
        "polaris",
        token=token + "\n",
    )
    assert added.exit_code == 0, added.output
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert token not in added.output
    second = _add(
        env,
        "emu-v2",
        "--api",
        "iri",
        "--url",
        cli_emulator.iri_url("v2"),
        "--set",
        "timeout=20",
        "--auth",
        json.dumps({"type": "token", "token": token}),
        "--default",
    )
    assert second.exit_code == 0, second.output
    parsed = tomllib.loads(config.read_text())
    assert parsed["default"] == "emu-v2" and set(parsed["connections"]) == {"emu", "emu-v2"}

    listed = json.loads(run(env, "config", "list", "--json").stdout)
    rows = {row["name"]: row for row in listed["connections"]}
    assert rows["emu-v2"]["default"] and not rows["emu"]["default"]
    assert rows["emu"]["auth"] == "token" and rows["emu"]["resource"] == "polaris"
    assert token not in run(env, "config", "list").output

    shown = run(env, "config", "show", "emu")
    assert shown.exit_code == 0 and token not in shown.output
    assert "secrets (hidden)" in shown.stdout and "token" in shown.stdout
    assert json.loads(run(env, "config", "show", "--json").stdout)["name"] == "emu-v2"

    assert run(env, "check", "--conn", "emu").exit_code == 0
    assert run(env, "check").exit_code == 0  # the default one
    again = _add(env, "emu", "--api", "iri", "--url", cli_emulator.iri_url("v1"))
    assert again.exit_code == 2 and "already in" in again.stderr


def test_a_bad_connection_is_refused_before_it_is_written(env: dict[str, str | None], tmp_path: Path) -> None:
    config = tmp_path / "connections.toml"
    env = _no_connection(env, config)
    result = _add(env, "bad", "--api", "iri", "--url", "https://a.example/api/v1", "--set", "timeout=soon")
    assert result.exit_code == 2 and "timeout" in result.stderr
    assert not config.exists()


def test_a_readable_config_file_with_a_secret_is_refused(env: dict[str, str | None], tmp_path: Path) -> None:
    config = tmp_path / "connections.toml"
    config.write_text(
        '[connections.a]\napi = "iri"\nurl = "https://a.example/api/v1"\ntoken = "sekrit-value"\n'
    )
    config.chmod(0o644)
    result = run(_no_connection(env, config), "status")
    assert result.exit_code == 2
    assert f"chmod 600 {config}" in result.stderr and "sekrit-value" not in result.output

"""``facility check`` tells apart: host unreachable, bad credentials, expired token or client,
resource down; and reads connections from every source without printing a secret."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from .conftest import run


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def test_a_working_connection_exits_0(env: dict[str, str | None]) -> None:
    result = run(env, "check", "polaris")
    assert result.exit_code == 0, result.output
    assert "credentials accepted" in result.stdout and "polaris is up" in result.stdout
    assert str(env["FACILITY_TOKEN"]) not in result.output


def test_host_unreachable_exits_3(env: dict[str, str | None]) -> None:
    env = {**env, "FACILITY_URL": f"http://127.0.0.1:{_closed_port()}/iri/api/v1"}
    result = run(env, "check")
    assert result.exit_code == 3, result.output
    assert "host unreachable" in result.output


def test_a_wrong_token_exits_4(env: dict[str, str | None]) -> None:
    result = run({**env, "FACILITY_TOKEN": "not-a-token-of-this-facility"}, "check")
    assert result.exit_code == 4, result.output
    assert "bad credentials: the facility refused the token" in result.output
    assert "not-a-token-of-this-facility" not in result.output


def test_a_wrong_client_secret_exits_4(env: dict[str, str | None], cli_emulator: Any) -> None:
    creds = cli_emulator.credentials
    auth = {
        "type": "oidc_client_credentials",
        "token_url": creds["token_url"],
        "client_id": creds["client_id"],
        "client_secret": "wrong-secret-value",
    }
    result = run({**env, "FACILITY_TOKEN": None, "FACILITY_AUTH": json.dumps(auth)}, "check")
    assert result.exit_code == 4, result.output
    assert "token endpoint refused the client" in result.output
    assert "wrong-secret-value" not in result.output


def test_an_expired_token_exits_5(env: dict[str, str | None]) -> None:
    token = _jwt({"sub": "demo", "exp": int(time.time()) - 600})
    result = run({**env, "FACILITY_TOKEN": token}, "check")
    assert result.exit_code == 5, result.output
    assert "expired token" in result.output
    assert token not in result.output


def test_an_expired_api_client_exits_5(env: dict[str, str | None], cli_emulator: Any) -> None:
    sfapi = cli_emulator.flavour_credentials("sfapi")
    auth = {
        "type": "private_key_jwt",
        "token_url": sfapi["token_url"],
        "client_id": sfapi["expired_client_id"],
        "key_path": sfapi["expired_key_path"],
    }
    result = run(
        {
            **env,
            "FACILITY_API": "sfapi",
            "FACILITY_URL": cli_emulator.api_url("sfapi"),
            "FACILITY_TOKEN": None,
            "FACILITY_AUTH": json.dumps(auth),
        },
        "check",
    )
    assert result.exit_code == 5, result.output
    assert "expired credentials" in result.output


def test_a_revoked_token_is_refused_with_exit_4(env: dict[str, str | None], cli_emulator: Any) -> None:
    creds = cli_emulator.credentials
    answer = httpx.post(
        creds["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    answer.raise_for_status()
    token = answer.json()["access_token"]
    assert run({**env, "FACILITY_TOKEN": token}, "check").exit_code == 0
    httpx.post(f"{cli_emulator.url}/_emulator/tokens/revoke").raise_for_status()
    result = run({**env, "FACILITY_TOKEN": token}, "check")
    assert result.exit_code == 4, result.output
    assert "wrong, revoked or expired" in result.output


@pytest.fixture
def polaris_down(cli_emulator: Any) -> Iterator[None]:
    url = f"{cli_emulator.url}/_emulator/resources/polaris/status"
    httpx.put(url, json={"current_status": "down"}).raise_for_status()
    try:
        yield
    finally:
        httpx.put(url, json={"current_status": "up"}).raise_for_status()


@pytest.mark.usefixtures("polaris_down")
def test_a_down_resource_exits_6(env: dict[str, str | None]) -> None:
    checked = run(env, "check", "polaris")
    assert checked.exit_code == 6, checked.output
    assert "resource down: polaris is down" in checked.output
    assert run(env, "status", "polaris").exit_code == 6
    assert run(env, "check", "aurora").exit_code == 0


def test_a_config_file_connection(env: dict[str, str | None], cli_emulator: Any, tmp_path: Path) -> None:
    config = tmp_path / "connections.toml"
    config.write_text(
        'default = "emu"\n\n[connections.emu]\napi = "iri"\n'
        f'url = "{cli_emulator.iri_url("v2")}"\ntoken = "{cli_emulator.credentials["static_token"]}"\n'
        'resource = "polaris"\n'
    )
    config.chmod(0o600)
    env = {**env, "FACILITY_URL": None, "FACILITY_API": None, "FACILITY_TOKEN": None}
    env["FACILITY_CONFIG"] = str(config)
    assert run(env, "check").exit_code == 0
    named = run(env, "check", "--conn", "emu")
    assert named.exit_code == 0 and "emu: iri" in named.stdout
    missing = run(env, "status", "--conn", "other")
    assert missing.exit_code == 2 and "no connection 'other'" in missing.output


def test_an_airflow_uri_and_json_connection(env: dict[str, str | None], cli_emulator: Any) -> None:
    token = cli_emulator.credentials["static_token"]
    url = cli_emulator.iri_url("v1")
    uri = f"facility-iri://:{quote(token, safe='')}@{quote(url, safe='')}"
    by_uri = run({**env, "FACILITY_TOKEN": None}, "check", "--conn", uri)
    assert by_uri.exit_code == 0, by_uri.output
    assert token not in by_uri.output
    as_json = json.dumps({"conn_type": "facility_iri", "host": url, "password": token})
    assert run({**env, "FACILITY_TOKEN": None}, "status", "--conn", as_json).exit_code == 0
    via_env = run({**env, "FACILITY_TOKEN": None, "FACILITY_CONN": as_json}, "check")
    assert via_env.exit_code == 0, via_env.output

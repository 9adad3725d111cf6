"""``facility whoami`` says whom a token stands for where the API or the token tells;
``facility login`` runs the Globus native-app flow and stores tokens the client reads back."""

from __future__ import annotations

import base64
import json
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from typer.testing import CliRunner

from facility_cli.main import app
from facility_emulator.auth_routes import GLOBUS_RESOURCE_SERVER

from .conftest import run


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def test_whoami_reads_s3m_introspection(env: dict[str, str | None], cli_emulator: Any) -> None:
    credentials = cli_emulator.flavour_credentials("s3m")
    conn = json.dumps(
        {"conn_type": "facility_s3m", "host": cli_emulator.api_url("s3m"), "password": credentials["token"]}
    )
    result = run({**env, "FACILITY_CONN": conn}, "whoami")
    assert result.exit_code == 0, result.output
    assert "identity    demo_auser (from GET olcf/v1/token/ctls/introspect)" in result.stdout
    assert "projects    demo (default)" in result.stdout
    assert "expires" in result.stdout and "in " in result.stdout
    assert credentials["token"] not in result.output
    data = json.loads(run({**env, "FACILITY_CONN": conn}, "whoami", "--json").stdout)
    assert data["identity"] == "demo_auser" and data["expires"]
    assert data["projects"] == ["demo"] and data["permissions"] == ["compute-ace", "data-streaming"]


def test_whoami_shows_the_identity_and_projects_the_api_tells(
    env: dict[str, str | None], cli_emulator: Any
) -> None:
    shown = run({**env, "FACILITY_URL": cli_emulator.iri_url("v2"), "FACILITY_PROJECT": "demo"}, "whoami")
    assert shown.exit_code == 0, shown.output
    assert "identity    demo (from GET /account/whoami)" in shown.stdout
    assert "projects    demo (default), staff" in shown.stdout

    extra = cli_emulator.flavour_credentials("sfapi")
    auth = {
        "auth_type": "private_key_jwt",
        "token_url": extra["token_url"],
        "private_key": extra["private_key"],
    }
    conn = json.dumps(
        {
            "conn_type": "facility_sfapi",
            "host": cli_emulator.api_url("sfapi"),
            "login": extra["client_id"],
            "extra": auth,
        }
    )
    data = json.loads(run({**env, "FACILITY_CONN": conn}, "whoami", "--json").stdout)
    assert data["identity"] == cli_emulator.config.user and data["source"] == "GET /account/"
    assert data["projects"] == ["demo", "staff"]
    assert extra["private_key"] not in json.dumps(data)


def test_whoami_reads_a_jwt_and_says_when_the_api_cannot_tell(env: dict[str, str | None]) -> None:
    token = _jwt({"sub": "u-123", "preferred_username": "ada", "exp": int(time.time()) + 7200})
    shown = run({**env, "FACILITY_TOKEN": token}, "whoami")
    assert shown.exit_code == 0, shown.output
    assert "identity    ada (from the token's claims (not verified))" in shown.stdout
    assert "(in 1h59m" in shown.stdout or "(in 2h00m" in shown.stdout
    opaque = run(env, "whoami")
    assert opaque.exit_code == 0
    assert "has no call that says whom a token belongs to" in opaque.stdout


class _FakeGlobusAuth(BaseHTTPRequestHandler):
    """Globus Auth's token endpoint, for the authorization-code exchange only."""

    refresh_token = ""
    codes: list[str] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        type(self).codes.append(form.get("code", ""))
        if self.path != "/v2/oauth2/token" or form.get("grant_type") != "authorization_code":
            self._answer(400, {"error": "unsupported_grant_type"})
        elif form.get("code") != "the-code" or not form.get("code_verifier"):
            self._answer(401, {"error": "invalid_grant"})
        else:
            self._answer(
                200,
                {
                    "access_token": "login-access-token",
                    "expires_in": 1,  # stale at once: the client refreshes through the emulator
                    "resource_server": GLOBUS_RESOURCE_SERVER,
                    "scope": "iri",
                    "token_type": "Bearer",
                    "refresh_token": self.refresh_token,
                    "other_tokens": [],
                },
            )

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_globus(cli_emulator: Any) -> Iterator[str]:
    _FakeGlobusAuth.refresh_token = cli_emulator.credentials["refresh_token"]
    _FakeGlobusAuth.codes = []
    server = HTTPServer(("127.0.0.1", 0), _FakeGlobusAuth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_login_stores_tokens_the_client_then_uses(
    env: dict[str, str | None], cli_emulator: Any, fake_globus: str, tmp_path: Path
) -> None:
    storage = tmp_path / "globus" / "tokens.json"
    client_id = cli_emulator.credentials["native_client_id"]
    arguments = ["login", "--client-id", client_id, "--auth-url", fake_globus, "--storage", str(storage)]
    result = CliRunner().invoke(app, arguments, env=env, input="the-code\n", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"{fake_globus}v2/oauth2/authorize?" in result.stderr and f"client_id={client_id}" in result.stderr
    assert _FakeGlobusAuth.codes == ["the-code"]
    assert stat.S_IMODE(storage.stat().st_mode) == 0o600
    assert cli_emulator.credentials["refresh_token"] not in result.output
    assert f'storage_path = "{storage}"' in result.stdout

    auth = {
        "type": "globus_refresh_token",
        "storage_path": str(storage),
        "client_id": client_id,
        "auth_base_url": f"{cli_emulator.url}/globus/",
        "allow_insecure_http": True,
    }
    conn = json.dumps(
        {"conn_type": "facility_iri", "host": cli_emulator.iri_url("v1"), "extra": {"auth": auth}}
    )
    checked = run({**env, "FACILITY_TOKEN": None, "FACILITY_CONN": conn}, "check", "polaris")
    assert checked.exit_code == 0, checked.output

    refused = CliRunner().invoke(app, arguments, env=env, input="wrong-code\n", catch_exceptions=False)
    assert refused.exit_code == 4 and "Globus refused the code" in refused.stderr

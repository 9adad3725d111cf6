"""Every connection source means the same as the Airflow hook's parser, for every backend; a
malformed ``FACILITY_CONN`` is a configuration error (exit 2) naming its field, never a traceback."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from facility_cli.connection import connection_from_airflow, load_connection
from facility_cli.jobspec import SubmitRequest, build_spec
from facility_common import BackendDescriptor, ClientSettings, descriptors

from .conftest import CONNECTION_VARIABLES, run

ROOT = Path(__file__).resolve().parents[2]
URL = "https://api.example.org/base"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in CONNECTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "connections.toml"
    monkeypatch.setenv("FACILITY_CONFIG", str(config))
    return config


def _anonymous(settings: ClientSettings) -> ClientSettings:
    return dataclasses.replace(settings, conn_id="-")


@pytest.mark.parametrize("descriptor", descriptors(), ids=lambda d: d.name)
def test_every_source_gives_the_same_settings(
    descriptor: BackendDescriptor, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheme = descriptor.conn_type.replace("_", "-")
    uri = connection_from_airflow(f"{scheme}://:tok@{quote(URL, safe='')}?resource=r1&timeout=7").settings
    as_json = connection_from_airflow(
        json.dumps(
            {
                "conn_type": descriptor.conn_type,
                "host": URL,
                "password": "tok",
                "extra": {"resource": "r1", "timeout": "7"},
            }
        )
    ).settings
    clean_env.write_text(
        f'[connections.a]\napi = "{descriptor.name}"\nurl = "{URL}"\ntoken = "tok"\n'
        'resource = "r1"\noptions = { timeout = "7" }\n'
    )
    clean_env.chmod(0o600)
    table = load_connection(None).settings
    clean_env.unlink()
    for name, value in {
        "FACILITY_API": descriptor.name,
        "FACILITY_URL": URL,
        "FACILITY_TOKEN": "tok",
        "FACILITY_RESOURCE": "r1",
    }.items():
        monkeypatch.setenv(name, value)
    environment = load_connection(None).settings
    assert uri.backend == descriptor.name
    assert uri.auth == {"type": "token", "token": "tok"}
    assert _anonymous(uri) == _anonymous(as_json) == _anonymous(table)
    assert _anonymous(environment) == dataclasses.replace(_anonymous(uri), options={})


@pytest.mark.parametrize("descriptor", descriptors(), ids=lambda d: d.name)
def test_a_script_file_is_sent_as_the_api_takes_it(descriptor: BackendDescriptor, tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\necho hi\n")
    spec = build_spec(SubmitRequest(command=None, script=script), takes_script=descriptor.takes_script)
    if descriptor.takes_script:
        assert spec.script == script.read_text() and spec.executable is None
    else:
        assert (spec.executable, list(spec.arguments)) == ("/bin/bash", ["-c", script.read_text()])


def _documented_flux_connection() -> dict[str, Any]:
    """The Airflow connection of ``docs/facility-flux.md``, exactly as written there."""
    text = (ROOT / "docs" / "facility-flux.md").read_text()
    found = re.search(r"AIRFLOW_CONN_MINICLUSTER='(\{.*?\})'", text, re.S)
    assert found, "the Flux page's Airflow connection"
    connection: dict[str, Any] = json.loads(found.group(1))
    return connection


def test_the_documented_flux_connection_works_in_the_command(
    env: dict[str, str | None], cli_emulator: Any
) -> None:
    credentials = cli_emulator.flavour_credentials("flux")
    connection = _documented_flux_connection()
    assert connection["extra"]["auth_type"] == "flux_shared_secret"
    connection.update(
        host=cli_emulator.api_url("flux"), login=credentials["user"], password=credentials["token"]
    )
    connection["extra"]["secret_key"] = credentials["secret_key"]
    checked = run(env, "check", "--conn", json.dumps(connection))
    assert checked.exit_code == 0, checked.output
    assert ": 1 resource\n" in checked.stdout
    status = run({**env, "FACILITY_CONN": json.dumps(connection)}, "status", "--json")
    assert status.exit_code == 0, status.output
    assert credentials["resource"] in {resource["name"] for resource in json.loads(status.stdout)}


def _iri(cli_emulator: Any, **fields: Any) -> str:
    token = cli_emulator.credentials["static_token"]
    return json.dumps(
        {"conn_type": "facility_iri", "host": cli_emulator.iri_url("v1"), "password": token, **fields}
    )


def _iri_uri(cli_emulator: Any, query: str = "", netloc: str | None = None) -> str:
    token = quote(cli_emulator.credentials["static_token"], safe="")
    host = netloc or quote(cli_emulator.iri_url("v1"), safe="")
    return f"facility-iri://:{token}@{host}" + (f"?{query}" if query else "")


MALFORMED: list[Any] = [
    pytest.param(lambda e: _iri(e, extra="{not json"), "extra", id="json-extra-not-json"),
    pytest.param(lambda e: _iri(e, extra="[1, 2]"), "extra", id="json-extra-not-an-object"),
    pytest.param(lambda e: _iri_uri(e, "__extra__=%7Bnot"), "extra", id="uri-extra-not-json"),
    pytest.param(lambda e: _iri(e, host="127.0.0.1", port="http"), "port", id="json-port-not-a-number"),
    pytest.param(lambda e: _iri_uri(e, netloc="127.0.0.1:abc/http"), "port", id="uri-port-not-a-number"),
    pytest.param(lambda e: _iri(e, extra={"timeout": "soon"}), "extra.timeout", id="json-timeout-text"),
    pytest.param(lambda e: _iri_uri(e, "timeout=soon"), "extra.timeout", id="uri-timeout-text"),
    pytest.param(lambda e: _iri(e, extra={"backend_options": "[1]"}), "extra.backend_options", id="options"),
    pytest.param(lambda e: _iri(e, extra={"auth_type": "magic"}), "extra.auth_type", id="unknown-auth-type"),
    pytest.param(lambda e: "{not json", "not a valid JSON connection", id="not-json"),
]


@pytest.mark.parametrize(("value", "field"), MALFORMED)
def test_a_malformed_facility_conn_exits_2_naming_the_field(
    env: dict[str, str | None], cli_emulator: Any, value: Any, field: str
) -> None:
    result = run({**env, "FACILITY_CONN": value(cli_emulator)}, "status")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "FACILITY_CONN" in result.output and field in result.output, result.output

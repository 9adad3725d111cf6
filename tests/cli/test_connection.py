"""Connection sources, parsed without a server: config file, environment, Airflow URI and JSON."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from facility_cli.connection import connection_from_airflow, load_connection
from facility_cli.problems import jwt_expiry, token_expired
from facility_common import ConfigurationError

from .conftest import CONNECTION_VARIABLES


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in CONNECTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACILITY_CONFIG", str(tmp_path / "connections.toml"))


def test_config_table_with_an_auth_mapping_and_options(tmp_path: Path) -> None:
    (tmp_path / "connections.toml").write_text(
        '[connections.nersc]\napi = "iri"\nurl = "https://api.iri.nersc.gov/api/v2/"\nproject = "m1234"\n'
        'auth = { type = "oidc_client_credentials", token_url = "https://oidc.example/token", '
        'client_id = "cid", client_secret = "very-secret" }\n'
        "[connections.nersc.options]\ntimeout = 10\n"
    )
    (tmp_path / "connections.toml").chmod(0o600)
    connection = load_connection(None)
    assert connection.settings.base_url == "https://api.iri.nersc.gov/api/v2"
    assert dict(connection.settings.options) == {"timeout": 10, "project": "m1234"}
    assert connection.settings.auth_type == "oidc_client_credentials"
    assert "very-secret" not in repr(connection) and "very-secret" not in connection.describe()


def test_token_file_in_the_config_expands_home(tmp_path: Path) -> None:
    (tmp_path / "connections.toml").write_text(
        'default = "b"\n[connections.a]\napi = "iri"\nurl = "https://a"\n'
        '[connections.b]\napi = "sfapi"\nurl = "https://b"\ntoken_file = "~/tok"\n'
    )
    connection = load_connection(None)
    assert connection.settings.backend == "sfapi"
    assert connection.settings.auth == {"type": "token_file", "path": str(Path("~/tok").expanduser())}


def test_environment_beats_the_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "connections.toml").write_text('[connections.a]\napi = "iri"\nurl = "https://a"\n')
    monkeypatch.setenv("FACILITY_URL", "https://env.example/api/v1")
    monkeypatch.setenv("FACILITY_API", "iri")
    monkeypatch.setenv("FACILITY_AUTH", json.dumps({"type": "token", "token": "t"}))
    monkeypatch.setenv("FACILITY_RESOURCE", "polaris")
    settings = load_connection(None).settings
    assert settings.base_url == "https://env.example/api/v1" and settings.resource == "polaris"
    assert settings.auth == {"type": "token", "token": "t"}


def test_facility_url_without_api_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACILITY_URL", "https://env.example/api/v1")
    with pytest.raises(ConfigurationError, match="FACILITY_API"):
        load_connection(None)


def test_airflow_uri_with_extras_and_an_encoded_url() -> None:
    settings = connection_from_airflow(
        "facility-firecrest://client-id:s%40cret@https%3A%2F%2Fapi.cscs.ch%2Fhpc%2Ffirecrest%2Fv2"
        "?auth_type=oidc_client_credentials&token_url=https%3A%2F%2Fauth.example%2Ftoken&timeout=5"
    ).settings
    assert settings.backend == "firecrest"
    assert settings.base_url == "https://api.cscs.ch/hpc/firecrest/v2"
    assert settings.auth == {
        "type": "oidc_client_credentials",
        "client_id": "client-id",
        "client_secret": "s@cret",
        "token_url": "https://auth.example/token",
    }
    assert settings.options == {"timeout": "5"}  # typed by the backend's options when connecting


def test_airflow_uri_with_a_bare_host_and_schema() -> None:
    settings = connection_from_airflow("facility-iri://:tok@api.example.org:8443/https").settings
    assert settings.base_url == "https://api.example.org:8443"
    assert settings.auth == {"type": "token", "token": "tok"}


def test_airflow_json_with_a_whole_auth_mapping() -> None:
    auth = {"type": "globus_refresh_token", "storage_path": "default"}
    settings = connection_from_airflow(
        json.dumps(
            {"conn_type": "facility_iri", "host": "https://api.alcf.anl.gov/api/v1", "extra": {"auth": auth}}
        )
    ).settings
    assert settings.auth == auth and settings.backend == "iri"


def test_a_non_facility_connection_type_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not a facility connection type"):
        connection_from_airflow("postgres://u:p@db/x")


def test_jwt_expiry_is_read_without_verification() -> None:
    def jwt(claims: dict[str, object]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"e30.{body}.sig"

    assert jwt_expiry(jwt({"exp": 123})) == 123.0
    assert token_expired(jwt({"exp": int(time.time()) - 5}))
    assert not token_expired(jwt({"exp": int(time.time()) + 3600}))
    assert jwt_expiry("opaque-token") is None and not token_expired("a.b.c")


def test_a_config_file_with_secrets_must_be_private(tmp_path: Path) -> None:
    config = tmp_path / "connections.toml"
    config.write_text('[connections.a]\napi = "iri"\nurl = "https://a"\ntoken = "very-secret-token"\n')
    config.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600") as refused:
        load_connection(None)
    assert "connections.a.token" in str(refused.value) and "very-secret-token" not in str(refused.value)
    config.chmod(0o600)
    assert load_connection(None).settings.auth == {"type": "token", "token": "very-secret-token"}
    config.write_text('[connections.a]\napi = "iri"\nurl = "https://a"\ntoken_file = "/x/token"\n')
    config.chmod(0o644)  # a token file's path is no secret
    assert load_connection(None).settings.backend == "iri"

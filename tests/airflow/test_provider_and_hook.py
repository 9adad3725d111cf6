"""Provider discovery, connection parsing and the hook against the emulator."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from airflow.sdk import Connection

import airflow_facility.hooks
from airflow_facility.connections import facility_descriptors
from airflow_facility.hooks import HOOK_CLASSES, FacilityHook
from facility_common import (
    BackendDescriptor,
    ConfigurationError,
    descriptors,
    get_backend_class,
    get_descriptor,
    settings_from_connection,
)

from .conftest import SITE_A, SITE_B


def test_provider_is_discovered_with_its_connection_types(airflow_env: None) -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert "hpc-facility-providers" in manager.providers
    hooks = ProvidersManagerTaskRuntime().hooks
    for descriptor in descriptors():
        hook = hooks[descriptor.conn_type]
        assert hook is not None and hook.hook_name == descriptor.label
        assert hook.hook_class_name.endswith(f".{descriptor.hook_class}")
        assert manager.field_behaviours[descriptor.conn_type]["relabeling"]["host"] == "Base URL"
    assert "airflow_facility.links.FacilityJobLink" in manager.extra_links_class_names


def _connection(conn_type: str = "facility_iri", **fields: Any) -> Connection:
    extra = fields.pop("extra", None)
    return Connection(
        conn_id="c", conn_type=conn_type, extra=json.dumps(extra) if extra is not None else None, **fields
    )


def test_settings_from_a_token_connection() -> None:
    settings = settings_from_connection(
        _connection(host="https://api.example.org/api/v1/", password="tok-123")
    )
    assert (settings.backend, settings.base_url, settings.auth) == (
        "iri",
        "https://api.example.org/api/v1",
        {"type": "token", "token": "tok-123"},
    )
    assert "tok-123" not in repr(settings)
    assert "tok-123" not in settings.fingerprint


def test_settings_from_host_schema_and_port() -> None:
    settings = settings_from_connection(_connection(host="api.example.org/api/v2", schema="http", port=8080))
    assert settings.base_url == "http://api.example.org:8080/api/v2"


def test_settings_for_client_credentials_and_backend_options() -> None:
    connection = _connection(
        host="https://api.example.org/api/v2",
        login="client",
        password="s3cret",
        extra={
            "auth_type": "oidc_client_credentials",
            "token_url": "https://idp.example.org/token",
            "project": "m1234",
            "timeout": "12",
            "job_url_template": "https://portal.example.org/jobs/{resource}/{job_id}",
        },
    )
    settings = settings_from_connection(connection)
    assert settings.auth == {
        "type": "oidc_client_credentials",
        "token_url": "https://idp.example.org/token",
        "client_id": "client",
        "client_secret": "s3cret",
    }
    assert settings.options == {"project": "m1234", "timeout": "12"}
    options = get_descriptor("iri").options_class().from_mapping("iri", settings.options)
    assert options.timeout == 12.0
    assert settings.job_url_template is not None
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize("descriptor", descriptors(), ids=lambda d: d.name)
def test_every_connection_type_has_its_backend_and_hook(descriptor: BackendDescriptor) -> None:
    assert get_backend_class(descriptor.name).name == descriptor.name
    settings = settings_from_connection(
        _connection(descriptor.conn_type, host="https://example.org", password="x")
    )
    assert settings.backend == descriptor.name
    hook = getattr(airflow_facility.hooks, descriptor.hook_class)
    assert HOOK_CLASSES[descriptor.hook_class] is hook
    assert issubclass(hook, FacilityHook)
    assert (hook.conn_type, hook.hook_name, hook.__name__) == (
        descriptor.conn_type,
        descriptor.label,
        descriptor.hook_class,
    )


def test_the_hooks_module_names_exactly_the_descriptors_hooks() -> None:
    named = {name for name in airflow_facility.hooks.__all__ if name.endswith("Hook")} - {"FacilityHook"}
    assert named == {descriptor.hook_class for descriptor in facility_descriptors()} == set(HOOK_CLASSES)


def test_a_backend_missing_from_the_installation_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import facility_common.registry

    monkeypatch.setattr(facility_common.registry, "available_backends", lambda: ["iri"])
    with pytest.raises(ConfigurationError, match=r"'sfapi' backend is not available"):
        settings_from_connection(_connection("facility_sfapi", host="https://example.org", password="x"))


def test_foreign_connection_type_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not a facility connection type"):
        settings_from_connection(_connection("http", host="https://example.org"))


def test_an_auth_type_of_another_api_is_refused() -> None:
    connection = _connection(host="https://example.org", extra={"auth_type": "flux_password"})
    with pytest.raises(ConfigurationError, match=r"extra.auth_type: 'flux_password' is not an auth type"):
        settings_from_connection(connection)


def test_hook_test_connection_and_job_url(
    airflow_env: None, facility: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = FacilityHook(facility_conn_id=SITE_B).test_connection()
    assert ok, message
    assert "polaris" in message

    bad = json.loads(os.environ[f"AIRFLOW_CONN_{SITE_A.upper()}"])
    bad["password"] = "not-a-valid-token"
    bad["extra"] = {"job_url_template": "https://portal.example.org/{resource}/jobs/{job_id}"}
    monkeypatch.setenv("AIRFLOW_CONN_BAD_TOKEN", json.dumps(bad))
    hook = FacilityHook(facility_conn_id="bad_token")
    ok, message = hook.test_connection()
    assert not ok
    assert "AuthenticationError" in message or "APIError" in message
    assert "not-a-valid-token" not in message
    assert hook.job_url("polaris", "7") == "https://portal.example.org/polaris/jobs/7"
    assert FacilityHook(facility_conn_id=SITE_A).job_url("polaris", "7") is None

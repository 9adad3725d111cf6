"""Each connection type's form holds what its API's descriptor says, and what the forms write is
what the shared parser reads."""

from __future__ import annotations

import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from airflow.sdk import Connection

from airflow_facility.connections import (
    connection_type_info,
    facility_descriptors,
    form_behaviour,
    form_fields,
    globus_connection_type_info,
)
from airflow_facility.get_provider_info import get_provider_info
from facility_common import BackendDescriptor, settings_from_connection
from facility_common.connection_settings import AUTH_TYPES

DESCRIPTORS = facility_descriptors()


def _ids(descriptor: BackendDescriptor) -> str:
    return descriptor.name


def test_the_provider_has_one_connection_type_per_descriptor_and_the_globus_one() -> None:
    types = get_provider_info()["connection-types"]
    assert types == [
        *(connection_type_info(descriptor) for descriptor in DESCRIPTORS),
        globus_connection_type_info(),
    ]
    assert len({entry["connection-type"] for entry in types}) == len(DESCRIPTORS) + 1


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=_ids)
def test_the_auth_type_field_offers_only_the_apis_own_types_with_their_help(
    descriptor: BackendDescriptor,
) -> None:
    field = form_fields(descriptor)["auth_type"]
    assert field["schema"]["enum"] == list(descriptor.auth_types)
    assert field["schema"]["default"] == descriptor.default_auth_type
    for name in descriptor.auth_types:
        assert f"{name}: {AUTH_TYPES[name].help}" in field["description"]
    for other in sorted(set(AUTH_TYPES) - set(descriptor.auth_types)):
        assert f"{other}:" not in field["description"]


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=_ids)
def test_every_option_a_form_may_set_is_a_field_with_a_valid_schema(descriptor: BackendDescriptor) -> None:
    fields = form_fields(descriptor)
    names = [name for name, _, _ in descriptor.options_class().form_fields()]
    assert set(names) <= set(fields)
    assert {"ca_bundle", "verify", "timeout", "job_url_template", "globus_collections"} <= set(fields)
    for name, field in fields.items():
        jsonschema.Draft7Validator.check_schema(field["schema"])
        if "default" in field["schema"]:
            jsonschema.validate(field["schema"]["default"], field["schema"])
        assert field["label"] and field["description"], name


def _secret_extras(descriptor: BackendDescriptor) -> set[str]:
    secrets = set()
    for name in descriptor.auth_types:
        info = AUTH_TYPES[name]
        aliases = {key: extra for extra, key in info.extra_aliases}
        secrets |= {aliases.get(key, key) for key in info.secrets - {info.login_key, info.password_key}}
    return secrets


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=_ids)
def test_secret_extras_are_password_fields(descriptor: BackendDescriptor) -> None:
    fields = form_fields(descriptor)
    for name, field in fields.items():
        secret = field["schema"].get("format") == "password"
        assert secret == (name in _secret_extras(descriptor)), name


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=_ids)
def test_each_auth_type_can_be_filled_in_through_the_form(descriptor: BackendDescriptor) -> None:
    """Every required key of every auth type of the API has its place on the form (Login,
    Password or an extra field), and the parser turns the filled form into that auth type."""
    fields = form_fields(descriptor)
    hidden = form_behaviour(descriptor)["hidden-fields"]
    for name in descriptor.auth_types:
        info = AUTH_TYPES[name]
        aliases = {key: extra for extra, key in info.extra_aliases}
        values: dict[str, Any] = {"login": None, "password": None}
        extras: dict[str, Any] = {"auth_type": name}
        for key in sorted(info.required - ({"base_url"} if info.needs_base_url else set())):
            if key == info.login_key:
                assert "login" not in hidden, (name, key)
                values["login"] = f"{key}-value"
            elif key == info.password_key:
                values["password"] = f"{key}-value"
            else:
                extra = aliases.get(key, key)
                assert extra in fields, (name, key)
                extras[extra] = f"{key}-value"
        connection = Connection(
            conn_id="c",
            conn_type=descriptor.conn_type,
            host=descriptor.url_placeholder,
            extra=json.dumps(extras),
            **values,
        )
        auth = settings_from_connection(connection).auth
        assert auth["type"] == name
        assert info.required - {"base_url"} <= set(auth), name


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=_ids)
def test_login_and_password_are_labelled_by_what_the_auth_types_put_there(
    descriptor: BackendDescriptor,
) -> None:
    behaviour = form_behaviour(descriptor)
    infos = [AUTH_TYPES[name] for name in descriptor.auth_types]
    assert ("login" in behaviour["hidden-fields"]) == all(info.login_key is None for info in infos)
    assert behaviour["placeholders"]["host"] == descriptor.url_placeholder
    for info in infos:
        if info.password_key:
            assert info.password_key.replace("_", " ") in behaviour["relabeling"]["password"].lower()
            assert info.name in behaviour["placeholders"]["password"]


def test_the_fields_the_apis_need_are_where_they_belong() -> None:
    by_type = {descriptor.conn_type: form_fields(descriptor) for descriptor in DESCRIPTORS}
    needs = {
        "secret_key": {"flux_shared_secret"},
        "key_path": {"private_key_jwt"},
        "token_url": {"oidc_client_credentials", "private_key_jwt"},
        "storage_path": {"globus_refresh_token"},
        "scope": {"oidc_client_credentials", "private_key_jwt", "globus_confidential"},
        "token_file": {"token_file"},
    }
    for descriptor in DESCRIPTORS:
        for extra, auth_types in needs.items():
            wanted = bool(auth_types & set(descriptor.auth_types))
            assert (extra in by_type[descriptor.conn_type]) == wanted, (descriptor.name, extra)

"""``docs/airflow.md`` describes each connection type's form as the provider builds it: its auth
types in order, the extras each reads, and the API's own options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_facility.connections import form_fields
from facility_common import BackendDescriptor, BackendOptions
from facility_common.connection_settings import AUTH_TYPES
from facility_common.registry import BUILTIN_DESCRIPTORS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "airflow.md"
SHARED_OPTIONS = {name for name, _, _ in BackendOptions.form_fields()}
CODE = re.compile(r"`([^`]+)`")


def _section(conn_type: str) -> str:
    text = PAGE.read_text()
    start = text.index(f"### `{conn_type}`")
    following = text.find("\n### ", start + 1)
    other = text.find("\n## ", start + 1)
    ends = [end for end in (following, other) if end != -1]
    return text[start : min(ends) if ends else len(text)]


def _auth_rows(section: str) -> dict[str, set[str]]:
    """auth type -> the extras its row names, in the order of the table."""
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 4:
            rows[CODE.findall(cells[0])[0]] = set(CODE.findall(cells[3]))
    return rows


def _form_extras(descriptor: BackendDescriptor, auth_type: str) -> set[str]:
    """The form fields of ``auth_type``'s extras (its description names the types using it)."""
    fields = form_fields(descriptor)
    return {
        name
        for name, field in fields.items()
        if name not in SHARED_OPTIONS
        and "Auth types: " in field["description"]
        and auth_type in field["description"].partition("Auth types: ")[2].rstrip(".").split(", ")
    }


@pytest.mark.parametrize("descriptor", BUILTIN_DESCRIPTORS, ids=lambda d: d.name)
def test_each_connection_type_is_documented_as_its_form_is(descriptor: BackendDescriptor) -> None:
    section = _section(descriptor.conn_type)
    assert descriptor.label in section.splitlines()[0]
    rows = _auth_rows(section)
    assert list(rows) == list(descriptor.auth_types)
    for auth_type, extras in rows.items():
        assert auth_type in AUTH_TYPES
        assert extras == _form_extras(descriptor, auth_type), auth_type
    options_text = section[section.index("Options of the API:") :].split("\n\n")[0]
    own = [name for name, _, _ in descriptor.options_class().form_fields() if name not in SHARED_OPTIONS]
    assert CODE.findall(options_text) == own


def test_the_shared_options_are_listed_once() -> None:
    text = PAGE.read_text()
    shared = text[text.index("The options every API has:") :].split("\n- ")[0]
    assert set(CODE.findall(shared)) == SHARED_OPTIONS

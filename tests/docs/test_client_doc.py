"""``docs/client.md`` names every auth type with its required keys, and every shared option."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from facility_common import BackendOptions
from facility_common.auth import AUTH_TYPES

PAGE = Path(__file__).resolve().parents[2] / "docs" / "client.md"
CODE = re.compile(r"`([^`]+)`")


def _rows(header: str) -> dict[str, str]:
    """First cell's code name -> the rest of the row, for the table under ``header``."""
    lines = PAGE.read_text().splitlines()
    start = lines.index(header) + 2
    rows: dict[str, str] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        first, _, rest = line.strip("|").partition("|")
        rows[CODE.findall(first)[0]] = rest
    return rows


def test_the_auth_table_has_every_auth_type_and_its_required_keys() -> None:
    rows = _rows("| `type` | keys (optional ones in brackets) | use |")
    assert set(rows) == set(AUTH_TYPES)
    for name, info in AUTH_TYPES.items():
        named = set(CODE.findall(rows[name].partition("|")[0]))
        assert info.required - {"base_url"} <= named, (name, sorted(info.required - named))
        assert named <= info.keys, (name, sorted(named - info.keys))


def test_the_options_table_has_every_shared_option() -> None:
    rows = _rows("| option | default | meaning |")
    assert set(rows) == {field.name for field in dataclasses.fields(BackendOptions) if field.init}

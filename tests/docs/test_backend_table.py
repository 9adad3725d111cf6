"""The README's table of backends says what the built-in backends' descriptors say."""

from __future__ import annotations

from pathlib import Path

from facility_common.registry import BUILTIN_DESCRIPTORS

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| backend | API | where | docs |"


def _rows() -> dict[str, list[str]]:
    lines = README.read_text().splitlines()
    start = lines.index(HEADER) + 2  # after the header and its |---| line
    rows: dict[str, list[str]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_readme_lists_every_backend_once_with_its_descriptors_facts() -> None:
    rows = _rows()
    assert set(rows) == {descriptor.name for descriptor in BUILTIN_DESCRIPTORS}
    for descriptor in BUILTIN_DESCRIPTORS:
        api, where, docs = rows[descriptor.name]
        assert api == descriptor.label or api.startswith(
            (f"{descriptor.label} (", f"{descriptor.label}, ")
        ), (
            descriptor.name,
            api,
        )
        assert where == descriptor.where, descriptor.name
        assert docs == f"`{descriptor.docs}`", descriptor.name
        assert descriptor.docs is not None and (README.parent / descriptor.docs).is_file()

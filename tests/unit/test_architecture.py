"""The shape of the code: no import circles, small modules, layers that only look down.

The import graph counts every import, also those inside functions and under TYPE_CHECKING: a lazy
import that closes a circle still ties the two modules together.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "facility_common": ROOT / "common",
    "facility_emulator": ROOT / "facility_emulator",
    "parsl_facility": ROOT / "parsl_facility",
    "airflow_facility": ROOT / "airflow_facility",
    "facility_cli": ROOT / "facility_cli",
}
MAX_LINES = 600
#: Packages whose modules must stay under MAX_LINES.
SIZE_CHECKED = ("facility_common", "airflow_facility", "parsl_facility", "facility_cli")


def _modules() -> dict[str, tuple[Path, bool]]:
    found: dict[str, tuple[Path, bool]] = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if alias.name in MODULES)
        return
    if node.level:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        prefix = ".".join([*parts, *([node.module] if node.module else [])])
    else:
        prefix = node.module or ""
    for alias in node.names:
        candidate = f"{prefix}.{alias.name}"
        target = candidate if candidate in MODULES else prefix
        if target in MODULES:
            yield target


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in MODULES.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges.update(_imported(module, is_package, node))
        # Importing a module imports its parent packages anyway: not an edge that closes a circle.
        parents = {".".join(module.split(".")[:n]) for n in range(1, module.count(".") + 1)}
        graph[module] = edges - parents - {module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_there_are_no_import_circles() -> None:
    assert _cycles(_graph()) == []


def test_the_client_layer_imports_none_of_the_integrations_and_the_emulator_not_the_client() -> None:
    graph = _graph()
    for module, edges in graph.items():
        if module.startswith("facility_common"):
            assert not {e for e in edges if not e.startswith("facility_common")}, module
        if module.startswith("facility_emulator"):
            assert not {e for e in edges if e.startswith("facility_common")}, module


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.split(".")[0] in SIZE_CHECKED))
def test_modules_stay_small(module: str) -> None:
    path, _ = MODULES[module]
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


def test_every_package_is_in_the_distribution() -> None:
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {module for module, (_, is_package) in MODULES.items() if is_package}
    assert packages - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"

"""Only the registry and the backends name a built-in backend.

Everything else (the client's shared modules, the Airflow provider, the Parsl provider, the
``facility`` command) derives what it needs from the descriptors, so adding an API touches its
package, its descriptor and its emulator flavour only. A module outside those places that holds a
backend's registry name or connection type as a string literal, or imports a backend's module,
fails here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from facility_common.registry import BUILTIN_DESCRIPTORS

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("common", "airflow_facility", "parsl_facility", "facility_cli")
#: The places that may name backends: the registry and the backends themselves.
EXEMPT_FILES = {"common/registry.py"}
EXEMPT_DIRS = ("common/backends/",)
IMPORT_NAMES = {"common": "facility_common"}

NAMES = {descriptor.name for descriptor in BUILTIN_DESCRIPTORS}
CONN_TYPES = {descriptor.conn_type for descriptor in BUILTIN_DESCRIPTORS}
PACKAGES = {f"facility_common.backends.{name}" for name in NAMES}
MODULES = {
    path.partition(":")[0]
    for descriptor in BUILTIN_DESCRIPTORS
    for path in (descriptor.backend, descriptor.options, descriptor.auth_module or "")
    if path.startswith("facility_common.backends.")
}


def _backend_module(module: str) -> bool:
    return module in MODULES or any(module == p or module.startswith(p + ".") for p in PACKAGES)


def _modules() -> Iterator[Path]:
    for package in CHECKED:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative not in EXEMPT_FILES and not relative.startswith(EXEMPT_DIRS):
                yield path


def _absolute(path: Path, module: str | None, level: int) -> str:
    """The absolute name of ``from <level dots><module> import``, written in ``path``."""
    if level == 0:
        return module or ""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    parts[0] = IMPORT_NAMES.get(parts[0], parts[0])
    base = parts[: len(parts) - level]
    return ".".join([*base, module] if module else base)


def backend_names_in(path: Path, text: str | None = None) -> list[str]:
    """Where the module ``path`` (its ``text``, read when not given) names a built-in backend:
    ``line: what``, in line order."""
    found = []
    source = path.read_text() if text is None else text
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text in NAMES or text in CONN_TYPES or any(m in text for m in PACKAGES | MODULES):
                found.append(f"{node.lineno}: string {text[:60]!r}")
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(path, node.module, node.level)
            imported = [module, *(f"{module}.{alias.name}" for alias in node.names)]
            if any(_backend_module(name) for name in imported):
                found.append(f"{node.lineno}: from {'.' * node.level}{node.module or ''} import")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if _backend_module(a.name)]
    return sorted(found, key=lambda item: int(item.partition(":")[0]))


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_outside_the_registry_names_a_backend(path: Path) -> None:
    assert backend_names_in(path) == []


def test_the_check_sees_names_and_imports() -> None:
    descriptor = BUILTIN_DESCRIPTORS[0]
    sample = (
        f'API = "{descriptor.name}"\nTYPE = "{descriptor.conn_type}"\n'
        f"from facility_common.backends.{descriptor.name} import x\n"
        f"from .backends import {descriptor.name}\n"
        "from .backends.base import FacilityBackend\nLABEL = f'facility-{API}'\n"
    )
    found = backend_names_in(ROOT / "common" / "sample.py", sample)
    assert [line.partition(":")[0] for line in found] == ["1", "2", "3", "4"]

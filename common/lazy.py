"""Lazy package exports: a package's public names loaded from their modules on first use.

A backend package's ``__init__`` exports its backend class, its options class and a few
constants. Importing the backend pulls in its HTTP machinery; the registry, the Airflow forms and
the command only need the light options class. :func:`lazy_exports` gives a package a module-level
``__getattr__`` and ``__dir__`` that import each name's home module only when the name is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose names live in the (relative) modules of
    ``homes`` (``{"IRIBackend": ".backend"}``)."""

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(home, package)
        value = getattr(module, name)
        vars(importlib.import_module(package))[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*vars(importlib.import_module(package)), *homes})

    return getattr_, dir_

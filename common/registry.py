"""Backend registry: API name -> backend class, imported lazily.

Built-in backends are listed by dotted path so that importing :mod:`facility_common` costs nothing
for the APIs a user does not touch. Third-party packages add backends through the entry-point group
``facility_common.backends`` (``name = "package.module:BackendClass"``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .backends.base import FacilityBackend

__all__ = ["ENTRY_POINT_GROUP", "available_backends", "get_backend_class", "register_backend"]

ENTRY_POINT_GROUP = "facility_common.backends"

# Keep sorted: name -> "module:Class".
_BUILTIN: dict[str, str] = {
    "firecrest": "facility_common.backends.firecrest:FirecrestBackend",
    "flux": "facility_common.backends.flux:FluxBackend",
    "iri": "facility_common.backends.iri:IRIBackend",
    "s3m": "facility_common.backends.s3m:S3MBackend",
    "sfapi": "facility_common.backends.sfapi:SFAPIBackend",
    "slurmrest": "facility_common.backends.slurmrest:SlurmRestBackend",
}
assert list(_BUILTIN) == sorted(_BUILTIN), "keep the built-in backends sorted"

_registered: dict[str, str | type[FacilityBackend]] = {}


def register_backend(name: str, target: str | type[FacilityBackend]) -> None:
    """Register a backend at run time (a class or a ``"module:Class"`` path)."""
    _registered[name] = target


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_backends() -> list[str]:
    """Every backend name that :func:`get_backend_class` accepts, sorted."""
    return sorted({*_BUILTIN, *_entry_points(), *_registered})


def get_backend_class(name: str) -> type[FacilityBackend]:
    """Return the backend class registered as ``name``, importing it on first use."""
    target: str | type[FacilityBackend] | None = (
        _registered.get(name) or _BUILTIN.get(name) or _entry_points().get(name)
    )
    if target is None:
        raise ConfigurationError(
            f"api: unknown facility API {name!r}; available: {', '.join(available_backends())}",
            facility=name,
        )
    if not isinstance(target, str):
        return target
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"the {name!r} backend could not be imported ({exc}); "
            "install hpc-facility-providers with the extras it needs",
            facility=name,
        ) from exc
    backend: type[FacilityBackend] = getattr(module, class_name)
    return backend

"""Hooks: :class:`FacilityHook` and one subclass per connection type."""

from .facility import (
    FacilityHook,
    FirecrestHook,
    FluxHook,
    IRIHook,
    S3MHook,
    SlurmRestHook,
    SuperfacilityHook,
)

__all__ = [
    "FacilityHook",
    "FirecrestHook",
    "FluxHook",
    "IRIHook",
    "S3MHook",
    "SlurmRestHook",
    "SuperfacilityHook",
]

"""Hooks: :class:`FacilityHook` and one subclass per connection type, made from the descriptors."""

from .facility import (
    HOOK_CLASSES,
    FacilityHook,
    FirecrestHook,
    FluxHook,
    IRIHook,
    S3MHook,
    SlurmRestHook,
    SuperfacilityHook,
)

__all__ = [
    "HOOK_CLASSES",
    "FacilityHook",
    "FirecrestHook",
    "FluxHook",
    "IRIHook",
    "S3MHook",
    "SlurmRestHook",
    "SuperfacilityHook",
]

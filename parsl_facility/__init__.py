"""Parsl integration: :class:`FacilityProvider` runs Parsl blocks as pilot jobs submitted through
an HPC facility's REST API (DOE IRI today; the other registry backends as they land)."""

from __future__ import annotations

from .provider import FacilityProvider

__all__ = ["FacilityProvider"]

"""Parsl integration: :class:`FacilityProvider` runs Parsl blocks as pilot jobs submitted through
an HPC facility's REST API, any API in the backend registry (``facility_common.descriptors()``)."""

from __future__ import annotations

from .provider import FacilityProvider

__all__ = ["FacilityProvider"]

"""Parsl integration: :class:`FacilityProvider` runs Parsl blocks as pilot jobs submitted through
an HPC facility's REST API, any API in the backend registry (``facility_common.descriptors()``);
:class:`FacilityStaging` stages ``facility://`` files between facilities with Globus."""

from __future__ import annotations

from .provider import FacilityProvider
from .staging import FacilityStaging

__all__ = ["FacilityProvider", "FacilityStaging"]

"""Operators: submit a job and wait, move files, move data between facilities, gate a run on a
resource's status."""

from .files import (
    FacilityChmodOperator,
    FacilityCopyOperator,
    FacilityDownloadOperator,
    FacilityListOperator,
    FacilityMkdirOperator,
    FacilityMoveOperator,
    FacilityRemoveOperator,
    FacilityUploadOperator,
)
from .gate import FacilityResourceGateOperator
from .job import FacilitySubmitJobOperator
from .transfer import FacilityTransferOperator

__all__ = [
    "FacilityChmodOperator",
    "FacilityCopyOperator",
    "FacilityDownloadOperator",
    "FacilityListOperator",
    "FacilityMkdirOperator",
    "FacilityMoveOperator",
    "FacilityRemoveOperator",
    "FacilityResourceGateOperator",
    "FacilitySubmitJobOperator",
    "FacilityTransferOperator",
    "FacilityUploadOperator",
]

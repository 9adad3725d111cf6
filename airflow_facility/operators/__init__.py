"""Operators: submit a job and wait, move files, gate a run on a resource's status."""

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
    "FacilityUploadOperator",
]

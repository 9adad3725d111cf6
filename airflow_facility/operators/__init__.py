"""Operators: submit a job and wait, move files, move data between facilities, gate a run on a
resource's status, provision and delete streaming clusters."""

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
from .streaming import (
    FacilityStreamingClusterDeleteOperator,
    FacilityStreamingClusterOperator,
    FacilityStreamingJobOperator,
)
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
    "FacilityStreamingClusterDeleteOperator",
    "FacilityStreamingClusterOperator",
    "FacilityStreamingJobOperator",
    "FacilitySubmitJobOperator",
    "FacilityTransferOperator",
    "FacilityUploadOperator",
]

"""Triggers: waits that run in Airflow's triggerer without holding a worker slot."""

from .incident import FacilityIncidentTrigger
from .job import FacilityJobTrigger
from .resource import FacilityResourceTrigger
from .transfer import FacilityTransferTrigger

__all__ = [
    "FacilityIncidentTrigger",
    "FacilityJobTrigger",
    "FacilityResourceTrigger",
    "FacilityTransferTrigger",
]

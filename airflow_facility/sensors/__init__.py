"""Sensors: wait for a job or a transfer started elsewhere, or for a resource to be usable."""

from .job import FacilityJobSensor
from .resource import FacilityResourceSensor
from .transfer import FacilityTransferSensor

__all__ = ["FacilityJobSensor", "FacilityResourceSensor", "FacilityTransferSensor"]

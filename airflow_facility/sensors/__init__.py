"""Sensors: wait for a job submitted elsewhere, or for a resource to be usable."""

from .job import FacilityJobSensor
from .resource import FacilityResourceSensor

__all__ = ["FacilityJobSensor", "FacilityResourceSensor"]

"""Sensors: wait for a job submitted elsewhere, for a resource to be usable, or for an outage
to end."""

from .incident import FacilityIncidentSensor
from .job import FacilityJobSensor
from .resource import FacilityResourceSensor

__all__ = ["FacilityIncidentSensor", "FacilityJobSensor", "FacilityResourceSensor"]

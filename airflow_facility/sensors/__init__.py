"""Sensors: wait for a job or a transfer started elsewhere, for a resource to be usable, or for an
outage to end."""

from .incident import FacilityIncidentSensor
from .job import FacilityJobSensor
from .resource import FacilityResourceSensor
from .transfer import FacilityTransferSensor

__all__ = ["FacilityIncidentSensor", "FacilityJobSensor", "FacilityResourceSensor", "FacilityTransferSensor"]

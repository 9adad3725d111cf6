"""The emulated facility: site, resources, incidents and events (an ALCF-like catalog).

Resource ids are stable: ``uuid5(NAMESPACE_URL, "urn:facility-emulator:resource:<name>")``.
A resource's reported ``current_status`` is the status set by an admin (``up`` initially),
overridden to ``down`` while an incident covering it is active (``start <= now < end`` and not
resolved).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EPOCH_MODIFIED = datetime(2025, 1, 1, tzinfo=UTC)


def stable_id(kind: str, name: str) -> str:
    """A stable UUID for a named object."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:facility-emulator:{kind}:{name}"))


def iso(moment: datetime) -> str:
    """ISO 8601 with a ``Z`` suffix."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Parse an ISO datetime (``Z`` accepted); naive values are taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class ResourceRecord:
    """One facility resource."""

    name: str
    resource_type: str
    group: str
    description: str
    status: str = "up"
    last_modified: datetime = EPOCH_MODIFIED
    capabilities: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return stable_id("resource", self.name)


@dataclass
class IncidentRecord:
    """A planned or unplanned outage."""

    id: str
    name: str
    type: str
    start: datetime
    end: datetime | None
    resources: list[str]
    description: str = ""
    status: str = "down"
    resolution: str = "pending"
    last_modified: datetime = field(default_factory=lambda: datetime.now(UTC))

    def active(self, now: datetime) -> bool:
        """Whether the incident is in effect at ``now``."""
        if self.resolution in ("completed", "cancelled"):
            return False
        return self.start <= now and (self.end is None or now < self.end)


DEFAULT_RESOURCES = [
    ResourceRecord("polaris", "compute", "compute", "Polaris: HPE Apollo 6500 Gen10+ with NVIDIA A100 GPUs"),
    ResourceRecord("aurora", "compute", "compute", "Aurora: HPE Cray EX with Intel Data Center GPU Max"),
    ResourceRecord("eagle", "storage", "storage", "Eagle: Lustre project file system"),
    ResourceRecord("home", "storage", "storage", "Home file system"),
    ResourceRecord("globus", "service", "services", "Globus data transfer service"),
    ResourceRecord("api", "website", "services", "Facility API"),
]


class Facility:
    """Mutable catalog of resources and incidents, safe to use from several threads."""

    site_name = "Argonne Leadership Computing Facility (emulated)"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.resources: dict[str, ResourceRecord] = {
            r.name: ResourceRecord(r.name, r.resource_type, r.group, r.description) for r in DEFAULT_RESOURCES
        }
        self.incidents: dict[str, IncidentRecord] = {}
        self.facility_id = stable_id("facility", "alcf-emulated")
        self.site_id = stable_id("site", "argonne")
        self.created = datetime.now(UTC)

    def find(self, key: str) -> ResourceRecord | None:
        """A resource by id or by name."""
        with self._lock:
            if key in self.resources:
                return self.resources[key]
            return next((r for r in self.resources.values() if r.id == key), None)

    def effective_status(self, resource: ResourceRecord, now: datetime | None = None) -> str:
        """The status a resource reports now, taking active incidents into account."""
        moment = now or datetime.now(UTC)
        with self._lock:
            for incident in self.incidents.values():
                if resource.name in incident.resources and incident.active(moment):
                    return incident.status
        return resource.status

    def set_status(self, name: str, status: str) -> ResourceRecord:
        """Change a resource's base status (admin)."""
        if status not in ("up", "down", "degraded", "unknown"):
            raise ValueError(f"invalid status {status!r}")
        with self._lock:
            resource = self.resources[name]
            resource.status = status
            resource.last_modified = datetime.now(UTC)
            return resource

    def add_incident(
        self,
        name: str,
        type_: str,
        start: datetime,
        end: datetime | None,
        resources: list[str],
        description: str = "",
        status: str = "down",
    ) -> IncidentRecord:
        """Create an incident (admin, or the outage fault)."""
        if type_ not in ("planned", "unplanned", "reservation"):
            raise ValueError(f"invalid incident type {type_!r}")
        unknown = [r for r in resources if self.find(r) is None]
        if unknown:
            raise ValueError(f"unknown resources {unknown}")
        names = [r.name for r in (self.find(x) for x in resources) if r is not None]
        record = IncidentRecord(
            id=str(uuid.uuid4()),
            name=name,
            type=type_,
            start=start,
            end=end,
            resources=names,
            description=description,
            status=status,
            resolution="unresolved" if type_ == "unplanned" else "pending",
        )
        with self._lock:
            self.incidents[record.id] = record
        return record

    def add_outage(
        self, resources: list[str], start_in: float, duration: float, type_: str
    ) -> IncidentRecord:
        """An outage starting ``start_in`` seconds from now lasting ``duration`` seconds."""
        now = time.time()
        start = datetime.fromtimestamp(now + start_in, UTC)
        end = datetime.fromtimestamp(now + start_in + duration, UTC)
        return self.add_incident(f"{type_} outage", type_, start, end, resources, "injected outage")

    def resolve_incident(self, incident_id: str, resolution: str = "completed") -> IncidentRecord:
        """End an incident now (``completed`` or ``cancelled``): its resolution is set and an
        end still ahead (or none) becomes now. KeyError when unknown."""
        if resolution not in ("completed", "cancelled"):
            raise ValueError(f"invalid resolution {resolution!r}")
        now = datetime.now(UTC)
        with self._lock:
            incident = self.incidents[incident_id]
            incident.resolution = resolution
            if incident.end is None or incident.end > now:
                incident.end = max(now, incident.start)
            incident.last_modified = now
            return incident

    def remove_incident(self, incident_id: str) -> bool:
        """Delete an incident; False when unknown."""
        with self._lock:
            return self.incidents.pop(incident_id, None) is not None

    def incident_list(self) -> list[IncidentRecord]:
        """All incidents, oldest start first."""
        with self._lock:
            return sorted(self.incidents.values(), key=lambda i: i.start)

    def resource_list(self) -> list[ResourceRecord]:
        """All resources in catalog order."""
        with self._lock:
            return list(self.resources.values())

    def events(self) -> list[dict[str, Any]]:
        """Events derived from incidents: one when an incident starts, one when it ends."""
        result: list[dict[str, Any]] = []
        for incident in self.incident_list():
            for resource in incident.resources:
                result.append(
                    {
                        "id": stable_id("event", f"{incident.id}:{resource}:start"),
                        "incident": incident,
                        "resource": resource,
                        "occurred_at": incident.start,
                        "status": incident.status,
                        "name": f"{incident.name} begins",
                    }
                )
                if incident.end is not None:
                    result.append(
                        {
                            "id": stable_id("event", f"{incident.id}:{resource}:end"),
                            "incident": incident,
                            "resource": resource,
                            "occurred_at": incident.end,
                            "status": "up",
                            "name": f"{incident.name} ends",
                        }
                    )
        return result

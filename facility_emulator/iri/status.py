"""IRI facility and status routes (public), plus the compute/filesystem resource lists.

v2 answers carry HAL ``_links`` (see :mod:`facility_emulator.iri.links`) on every Facility, Site,
Resource, Incident and Event, an empty object where nothing is linked; in reference mode none do,
and an empty page of sites, incidents or events is a 404 (``No incidents found``), as the
reference server answers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facility_emulator.facility import IncidentRecord, ResourceRecord, iso, parse_time
from facility_emulator.iri import links
from facility_emulator.iri.common import (
    api_base,
    json_response,
    lookup_resource,
    page_or_not_found,
    paginate,
    prefix,
    reference_mode,
)
from facility_emulator.problems import ProblemError
from facility_emulator.state import EmulatorState

#: Resource type -> the API endpoints (routers) its resources can be used with.
SUPPORTED_ENDPOINTS = {"compute": ["compute", "filesystem"], "storage": ["filesystem"]}


def _time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise ProblemError(422, f"query parameter {name!r} is not an ISO datetime: {raw!r}") from exc


class StatusRoutes:
    """facility/*, status/*, compute/resources, filesystem/resources for one API version."""

    def __init__(self, state: EmulatorState, version: str) -> None:
        self.state = state
        self.version = version

    def routes(self) -> list[Route]:
        p = prefix(self.version)
        fs_methods = ["POST", "GET"] if self.version == "v2" else ["GET"]
        return [
            Route(f"{p}/facility", self.facility, methods=["GET"]),
            Route(f"{p}/facility/sites", self.sites, methods=["GET"]),
            Route(f"{p}/facility/sites/{{site_id}}", self.site, methods=["GET"]),
            Route(f"{p}/status/resources", self.resources, methods=["GET"]),
            Route(f"{p}/status/resources/{{resource_id}}", self.resource, methods=["GET"]),
            Route(f"{p}/status/incidents", self.incidents, methods=["GET"]),
            Route(f"{p}/status/incidents/{{incident_id}}", self.incident, methods=["GET"]),
            Route(f"{p}/status/events", self.events, methods=["GET"]),
            Route(f"{p}/status/events/{{event_id}}", self.event, methods=["GET"]),
            Route(f"{p}/compute/resources", self.compute_resources, methods=["GET"]),
            Route(f"{p}/filesystem/resources", self.filesystem_resources, methods=fs_methods),
        ]

    # -- views ---------------------------------------------------------------------------

    def _linked(self, view: dict[str, Any], make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``view`` with ``_links`` added where this version and fidelity serve them."""
        if self.version == "v2" and not reference_mode(self.state):
            view["_links"] = make()
        return view

    def resource_view(self, request: Request, resource: ResourceRecord) -> dict[str, Any]:
        base = api_base(request, self.version)
        view = {
            "id": resource.id,
            "name": resource.name,
            "description": resource.description,
            "last_modified": iso(resource.last_modified),
            "group": resource.group,
            "current_status": self.state.facility.effective_status(resource),
            "resource_type": resource.resource_type,
            "supported_endpoints": SUPPORTED_ENDPOINTS.get(resource.resource_type, []),
            "self_uri": f"{base}/status/resources/{resource.id}",
            "site_uri": f"{base}/facility/sites/{self.state.facility.site_id}",
            "capability_uris": [
                f"{base}/account/capabilities/{c.id}"
                for c in self.state.ledger.capabilities_of(resource.name)
            ],
        }
        return self._linked(view, lambda: links.resource_links(base, resource, view))

    def incident_view(self, request: Request, incident: IncidentRecord) -> dict[str, Any]:
        base = api_base(request, self.version)
        facility = self.state.facility
        resource_ids = [r.id for r in (facility.find(n) for n in incident.resources) if r is not None]
        event_ids = [e["id"] for e in facility.events() if e["incident"].id == incident.id]
        view = {
            "id": incident.id,
            "name": incident.name,
            "description": incident.description,
            "last_modified": iso(incident.last_modified),
            "status": incident.status,
            "start": iso(incident.start),
            "end": iso(incident.end) if incident.end else None,
            "type": incident.type,
            "resolution": incident.resolution,
            "self_uri": f"{base}/status/incidents/{incident.id}",
            "event_uris": [f"{base}/status/events/{e}" for e in event_ids],
            "resource_uris": [f"{base}/status/resources/{r}" for r in resource_ids],
        }
        return self._linked(
            view,
            lambda: links.hal(
                self=view["self_uri"], iri_has_event=view["event_uris"], iri_may_impact=view["resource_uris"]
            ),
        )

    def event_view(self, request: Request, event: dict[str, Any]) -> dict[str, Any]:
        base = api_base(request, self.version)
        incident: IncidentRecord = event["incident"]
        resource = self.state.facility.find(event["resource"])
        rid = resource.id if resource else event["resource"]
        view = {
            "id": event["id"],
            "name": event["name"],
            "last_modified": iso(incident.last_modified),
            "occurred_at": iso(event["occurred_at"]),
            "status": event["status"],
            "self_uri": f"{base}/status/events/{event['id']}",
            "resource_uri": f"{base}/status/resources/{rid}",
            "incident_uri": f"{base}/status/incidents/{incident.id}",
        }
        return self._linked(
            view,
            lambda: links.hal(
                self=view["self_uri"], iri_generated_by=view["incident_uri"], iri_impacts=view["resource_uri"]
            ),
        )

    def site_view(self, request: Request) -> dict[str, Any]:
        base = api_base(request, self.version)
        facility = self.state.facility
        view = {
            "id": facility.site_id,
            "name": "Argonne National Laboratory",
            "last_modified": iso(facility.created),
            "short_name": "ANL",
            "operating_organization": "UChicago Argonne, LLC",
            "country_name": "United States",
            "locality_name": "Lemont",
            "state_or_province_name": "Illinois",
            "street_address": "9700 S Cass Ave",
            "unlocode": "USLMT",
            "altitude": 220.0,
            "latitude": 41.7183,
            "longitude": -87.9786,
            "self_uri": f"{base}/facility/sites/{facility.site_id}",
            "resource_uris": [f"{base}/status/resources/{r.id}" for r in facility.resource_list()],
        }
        return self._linked(
            view, lambda: links.hal(self=view["self_uri"], iri_has_resource=view["resource_uris"])
        )

    # -- handlers ------------------------------------------------------------------------

    async def facility(self, request: Request) -> Response:
        base = api_base(request, self.version)
        facility = self.state.facility
        view = {
            "id": facility.facility_id,
            "name": facility.site_name,
            "last_modified": iso(facility.created),
            "short_name": "ALCF",
            "organization_name": "Argonne National Laboratory",
            "support_uri": "https://www.alcf.anl.gov/support-center",
            "self_uri": f"{base}/facility",
            "site_uris": [f"{base}/facility/sites/{facility.site_id}"],
        }
        return json_response(
            self._linked(
                view,
                lambda: links.hal(
                    self=view["self_uri"], help=view["support_uri"], iri_has_site=view["site_uris"]
                ),
            )
        )

    async def sites(self, request: Request) -> Response:
        site = self.site_view(request)
        name = request.query_params.get("name")
        short = request.query_params.get("short_name")
        keep = (name is None or name == site["name"]) and (short is None or short == site["short_name"])
        return json_response(
            page_or_not_found(self.state, paginate([site] if keep else [], request), "sites")
        )

    async def site(self, request: Request) -> Response:
        if request.path_params["site_id"] != self.state.facility.site_id:
            raise ProblemError(404, "site not found")
        return json_response(self.site_view(request))

    def _filtered_resources(self, request: Request, resource_type: str | None = None) -> list[dict[str, Any]]:
        q = request.query_params
        since = _time_param(request, "modified_since")
        views = []
        for resource in self.state.facility.resource_list():
            view = self.resource_view(request, resource)
            if resource_type and view["resource_type"] != resource_type:
                continue
            if any(
                q.get(key) not in (None, view[key])
                for key in ("name", "group", "resource_type", "current_status")
            ):
                continue
            if q.get("description") and q["description"].lower() not in view["description"].lower():
                continue
            if since and resource.last_modified < since:
                continue
            if q.get("capability") and not any(
                uri.rsplit("/", 1)[-1] == q["capability"] for uri in view["capability_uris"]
            ):
                continue
            views.append(view)
        return views

    async def resources(self, request: Request) -> Response:
        return json_response(paginate(self._filtered_resources(request), request))

    async def resource(self, request: Request) -> Response:
        resource = lookup_resource(self.state, request.path_params["resource_id"])
        return json_response(self.resource_view(request, resource))

    async def incidents(self, request: Request) -> Response:
        q = request.query_params
        start, end, at = (
            _time_param(request, "from"),
            _time_param(request, "to"),
            _time_param(request, "time"),
        )
        since = _time_param(request, "modified_since")
        wanted_resource = lookup_resource(self.state, q["resource_id"]).name if q.get("resource_id") else None
        views = []
        for incident in self.state.facility.incident_list():
            inc_end = incident.end or datetime.max.replace(tzinfo=UTC)
            if q.get("type") and incident.type != q["type"]:
                continue
            if q.get("status") and incident.status != q["status"]:
                continue
            if q.get("resolution") and incident.resolution != q["resolution"]:
                continue
            if q.get("name") and q["name"] != incident.name:
                continue
            if q.get("description") and q["description"].lower() not in incident.description.lower():
                continue
            if start and inc_end < start:
                continue
            if end and incident.start > end:
                continue
            if at and not (incident.start <= at < inc_end):
                continue
            if since and incident.last_modified < since:
                continue
            if wanted_resource and wanted_resource not in incident.resources:
                continue
            views.append(self.incident_view(request, incident))
        return json_response(page_or_not_found(self.state, paginate(views, request), "incidents"))

    async def incident(self, request: Request) -> Response:
        incident_id = request.path_params["incident_id"]
        found = next((i for i in self.state.facility.incident_list() if i.id == incident_id), None)
        if found is None:
            raise ProblemError(404, f"incident {incident_id!r} not found")
        return json_response(self.incident_view(request, found))

    async def events(self, request: Request) -> Response:
        q = request.query_params
        start, end = _time_param(request, "from"), _time_param(request, "to")
        wanted_resource = lookup_resource(self.state, q["resource_id"]).name if q.get("resource_id") else None
        views = []
        for event in self.state.facility.events():
            if q.get("incident_id") and event["incident"].id != q["incident_id"]:
                continue
            if wanted_resource and event["resource"] != wanted_resource:
                continue
            if q.get("status") and event["status"] != q["status"]:
                continue
            if start and event["occurred_at"] < start:
                continue
            if end and event["occurred_at"] > end:
                continue
            views.append(self.event_view(request, event))
        return json_response(page_or_not_found(self.state, paginate(views, request), "events"))

    async def event(self, request: Request) -> Response:
        event_id = request.path_params["event_id"]
        found = next((e for e in self.state.facility.events() if e["id"] == event_id), None)
        if found is None:
            raise ProblemError(404, f"event {event_id!r} not found")
        return json_response(self.event_view(request, found))

    async def compute_resources(self, request: Request) -> Response:
        return json_response(self._filtered_resources(request, "compute"))

    async def filesystem_resources(self, request: Request) -> Response:
        return json_response(self._filtered_resources(request, "storage"))

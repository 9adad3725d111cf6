"""IRI ``/account`` routes: capabilities, the caller's projects, their allocations and v2's whoami.

Answers come from the emulator's ledger (:mod:`facility_emulator.ledger`), so an allocation's
``usage`` grows as jobs finish. Capabilities are public, as in the spec; the rest needs a token.
Units are v1's enum words (``node_hours``) and v2's URNs (``urn:doe-iri:allocation:compute:
node-hours``). Each project allocation holds one entry per unit of its capability; the user's
allocation of it is the caller's share (here the whole of it: the emulated project has one user).

``GET /account/whoami`` is in neither revision of the v2 spec; the reference server's main branch
serves it (operation ``whoami``) and answers ``{"username": <user id>}``, so the emulator does too,
in both modes. In reference mode (``fidelity iri=reference``) the capability listing ignores its
``name``, ``modified_since``, ``offset`` and ``limit`` filters, as the reference server's demo
adapter does; an unknown project, allocation or capability is a 404 in both modes, with the
reference server's details (``Project not found``...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facility_emulator.facility import EPOCH_MODIFIED, iso, parse_time, stable_id
from facility_emulator.iri.common import api_base, json_response, paginate, prefix, reference_mode
from facility_emulator.ledger import BYTES, INODES, NODE_HOURS, CapabilityRecord, GrantRecord, LedgerView
from facility_emulator.problems import ProblemError
from facility_emulator.state import EmulatorState

_URNS = {
    NODE_HOURS: "urn:doe-iri:allocation:compute:node-hours",
    BYTES: "urn:doe-iri:allocation:storage:bytes",
    INODES: "urn:doe-iri:allocation:storage:inodes",
}


class AccountRoutes:
    """The account routes of one IRI API version."""

    def __init__(self, state: EmulatorState, version: str) -> None:
        self.state = state
        self.version = version

    def routes(self) -> list[Route]:
        p = f"{prefix(self.version)}/account"
        allocations = f"{p}/projects/{{project_id}}/project_allocations"
        users = f"{allocations}/{{allocation_id}}/user_allocations"
        table: list[tuple[str, Callable[[Request], Awaitable[Response]]]] = [
            (f"{p}/capabilities", self.capabilities),
            (f"{p}/capabilities/{{capability_id}}", self.capability),
            (f"{p}/projects", self.projects),
            (f"{p}/projects/{{project_id}}", self.project),
            (allocations, self.project_allocations),
            (f"{allocations}/{{allocation_id}}", self.project_allocation),
            (users, self.user_allocations),
            (f"{users}/{{user_allocation_id}}", self.user_allocation),
        ]
        if self.version == "v2":
            table.append((f"{p}/whoami", self.whoami))
        return [Route(path, handler, methods=["GET"]) for path, handler in table]

    # -- views -----------------------------------------------------------------------------

    def _unit(self, unit: str) -> str:
        return _URNS[unit] if self.version == "v2" else unit

    def capability_view(self, request: Request, capability: CapabilityRecord) -> dict[str, Any]:
        base = api_base(request, self.version)
        return {
            "id": capability.id,
            "name": capability.name,
            "description": capability.description or capability.name,
            "last_modified": iso(EPOCH_MODIFIED),
            "units": [self._unit(unit) for unit in capability.units],
            "self_uri": f"{base}/account/capabilities/{capability.id}",
        }

    def project_view(self, request: Request, name: str) -> dict[str, Any]:
        record = self.state.ledger.projects[name]
        return {
            "id": record.name,
            "name": record.title,
            "description": record.description,
            "user_ids": list(record.members),
            "last_modified": iso(record.last_modified),
            "self_uri": f"{api_base(request, self.version)}/account/projects/{record.name}",
        }

    def _entries(
        self, grants: list[GrantRecord], view: LedgerView, share: float = 1.0
    ) -> list[dict[str, Any]]:
        return [
            {"allocation": g.allocation * share, "usage": view.usage(g) * share, "unit": self._unit(g.unit)}
            for g in grants
        ]

    def _capabilities(self) -> list[CapabilityRecord]:
        """The capabilities of this facility's resources (the ledger also keeps other sites')."""
        names = {r.name for r in self.state.facility.resource_list()}
        return [c for c in self.state.ledger.capabilities.values() if names & set(c.resources)]

    def _grouped(self, project: str) -> dict[str, list[GrantRecord]]:
        """The project's grants here by project allocation id (one per capability)."""
        keys = {c.key for c in self._capabilities()}
        grouped: dict[str, list[GrantRecord]] = {}
        for grant in self.state.ledger.grants_of(project):
            if grant.capability in keys:
                grouped.setdefault(grant.id, []).append(grant)
        return grouped

    def allocation_view(
        self, request: Request, project: str, grants: list[GrantRecord], view: LedgerView
    ) -> dict[str, Any]:
        base = api_base(request, self.version)
        capability = self.state.ledger.capabilities[grants[0].capability]
        return {
            "id": grants[0].id,
            "entries": self._entries(grants, view),
            "project_uri": f"{base}/account/projects/{project}",
            "capability_uri": f"{base}/account/capabilities/{capability.id}",
        }

    def user_allocation_view(
        self, request: Request, project: str, grants: list[GrantRecord], view: LedgerView
    ) -> dict[str, Any]:
        base = api_base(request, self.version)
        user = self.state.config.user
        return {
            "id": stable_id("user_allocation", f"{grants[0].id}:{user}"),
            "user_id": user,
            "entries": self._entries(grants, view),
            "project_allocation_uri": f"{base}/account/projects/{project}/project_allocations/{grants[0].id}",
        }

    # -- lookups ---------------------------------------------------------------------------

    def _project_name(self, request: Request) -> str:
        self.state.require_auth(request)
        name = request.path_params["project_id"]
        if self.state.ledger.project(name) is None:
            raise ProblemError(404, "Project not found")
        return str(name)

    def _grants(self, request: Request) -> tuple[str, list[GrantRecord]]:
        project = self._project_name(request)
        grants = self._grouped(project).get(request.path_params["allocation_id"])
        if not grants:
            raise ProblemError(404, "Project allocation not found")
        return project, grants

    # -- handlers --------------------------------------------------------------------------

    async def capabilities(self, request: Request) -> Response:
        views = [self.capability_view(request, c) for c in self._capabilities()]
        if reference_mode(self.state):
            return json_response(views)
        name = request.query_params.get("name")
        since_text = request.query_params.get("modified_since")
        since = parse_time(since_text) if since_text else None
        views = [
            v
            for v in views
            if (not name or v["name"] == name) and (since is None or parse_time(v["last_modified"]) >= since)
        ]
        return json_response(paginate(views, request))

    async def capability(self, request: Request) -> Response:
        wanted = request.path_params["capability_id"]
        for capability in self._capabilities():
            if wanted in (capability.id, capability.key):
                return json_response(self.capability_view(request, capability))
        raise ProblemError(404, "Capability not found")

    async def projects(self, request: Request) -> Response:
        self.state.require_auth(request)
        return json_response([self.project_view(request, name) for name in self.state.ledger.projects])

    async def project(self, request: Request) -> Response:
        return json_response(self.project_view(request, self._project_name(request)))

    async def project_allocations(self, request: Request) -> Response:
        project = self._project_name(request)
        view = LedgerView.now(self.state.ledger)
        return json_response(
            [
                self.allocation_view(request, project, grants, view)
                for grants in self._grouped(project).values()
            ]
        )

    async def project_allocation(self, request: Request) -> Response:
        project, grants = self._grants(request)
        return json_response(
            self.allocation_view(request, project, grants, LedgerView.now(self.state.ledger))
        )

    async def user_allocations(self, request: Request) -> Response:
        project, grants = self._grants(request)
        return json_response(
            [self.user_allocation_view(request, project, grants, LedgerView.now(self.state.ledger))]
        )

    async def user_allocation(self, request: Request) -> Response:
        project, grants = self._grants(request)
        found = self.user_allocation_view(request, project, grants, LedgerView.now(self.state.ledger))
        if request.path_params["user_allocation_id"] != found["id"]:
            raise ProblemError(404, "User allocation not found")
        return json_response(found)

    async def whoami(self, request: Request) -> Response:
        self.state.require_auth(request)
        return json_response({"username": self.state.config.user})

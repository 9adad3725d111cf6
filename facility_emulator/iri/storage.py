"""IRI v2 storage routes: storage locations and data access endpoints of a resource.

Each emulated storage resource is a directory of the sandbox (``home`` is ``<root>/home``, any
other storage ``<root>/<name>``) and offers one Globus-like access endpoint: a stable UUID per
storage as ``endpoint_id``, ``uri`` ``globus://<endpoint_id>/``, ``root_path`` the storage's
sandbox directory and the ``transfer`` capability. A Globus path ``/x`` on that endpoint is the
sandbox path ``<root_path>/x``.

Storage locations (``/storage/locations``) list the tiers a compute or storage resource sees:
``home`` (the user's home) and ``project`` (eagle, ``<root>/eagle/<project>`` when a project is
given). ``intent`` filters as the spec describes; a ``logicalpath`` that matches nothing answers
404, as the reference server does. Other resources have neither locations nor endpoints (``[]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facility_emulator.facility import ResourceRecord, stable_id
from facility_emulator.iri.common import json_response, lookup_resource, prefix
from facility_emulator.problems import ProblemError
from facility_emulator.sandbox import Sandbox
from facility_emulator.state import EmulatorState

PROTOCOLS = ("globus", "xrootd", "s3")
LOGICAL_NAMES = ("home", "scratch", "project", "campaign", "archive", "shared", "temporary")
INTENTS = ("read", "write", "staging", "long-term-storage")
RW = {"read": True, "write": True, "execute": True}
PROJECT_STORAGE = "eagle"


def storage_root(sandbox: Sandbox, resource: ResourceRecord) -> Path:
    """The sandbox directory a storage resource stands for."""
    return sandbox.root / resource.name


def endpoint_id(resource: ResourceRecord) -> str:
    """The stable Globus-like endpoint UUID of a storage resource."""
    return stable_id("globus-endpoint", resource.name)


def access_endpoint(sandbox: Sandbox, resource: ResourceRecord) -> dict[str, Any]:
    """The one access endpoint of a storage resource."""
    uuid = endpoint_id(resource)
    return {
        "id": f"globus-{resource.name}",
        "resource_id": resource.id,
        "protocol": "globus",
        "display_name": f"{resource.name.capitalize()} Globus (emulated)",
        "auth_type": "globus",
        "capabilities": ["list", "read", "write", "transfer"],
        "endpoint_id": uuid,
        "uri": f"globus://{uuid}/",
        "root_path": str(storage_root(sandbox, resource)),
    }


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name)
    if value is not None and value not in allowed:
        raise ProblemError(422, f"query parameter {name!r} must be one of {list(allowed)}, got {value!r}")
    return value


class StorageRoutes:
    """storage/locations and storage/access-endpoints (v2 only)."""

    def __init__(self, state: EmulatorState, version: str) -> None:
        self.state = state
        self.version = version
        for resource in state.facility.resource_list():
            if resource.resource_type == "storage":
                storage_root(state.sandbox, resource).mkdir(parents=True, exist_ok=True)

    def routes(self) -> list[Route]:
        p = prefix(self.version)
        return [
            Route(f"{p}/storage/locations/{{resource_id}}", self.locations, methods=["GET"]),
            Route(f"{p}/storage/access-endpoints/{{resource_id}}", self.access_endpoints, methods=["GET"]),
        ]

    def _locations(self, resource: ResourceRecord, project: str | None) -> list[dict[str, Any]]:
        if resource.resource_type not in ("compute", "storage"):
            return []
        sandbox = self.state.sandbox
        found = []
        if resource.resource_type == "compute" or resource.name == "home":
            found.append(
                {"logical_name": "home", "path": str(sandbox.home), "filesystem": "home", "shared": False}
            )
        project_storage = self.state.facility.find(PROJECT_STORAGE)
        if project_storage is not None and resource.name in (PROJECT_STORAGE, *self._compute_names()):
            path = storage_root(sandbox, project_storage)
            found.append(
                {
                    "logical_name": "project",
                    "path": str(path / project if project else path),
                    "filesystem": "lustre",
                    "shared": True,
                }
            )
        return [{**item, "performance_tier": "high", "access": dict(RW)} for item in found]

    def _compute_names(self) -> list[str]:
        return [r.name for r in self.state.facility.resource_list() if r.resource_type == "compute"]

    async def locations(self, request: Request) -> Response:
        self.state.require_auth(request)
        resource = lookup_resource(self.state, request.path_params["resource_id"])
        logical = _choice(request, "logicalpath", LOGICAL_NAMES)
        intent = _choice(request, "intent", INTENTS)
        q = request.query_params
        project = q.get("project") or q.get("allocation")
        if project is not None and ("/" in project or project in (".", "..")):
            raise ProblemError(422, f"project {project!r} is not a project name")
        found = [
            item
            for item in self._locations(resource, project)
            if (logical is None or item["logical_name"] == logical)
            and not (intent == "long-term-storage" and item["logical_name"] != "archive")
            and not (intent == "staging" and item["logical_name"] == "archive")
            and not (intent == "write" and not item["access"]["write"])
        ]
        if logical and not found:
            raise ProblemError(404, f"No storage location found for logical name '{logical}'")
        return json_response(found)

    async def access_endpoints(self, request: Request) -> Response:
        self.state.require_auth(request)
        resource = lookup_resource(self.state, request.path_params["resource_id"])
        protocol = _choice(request, "protocol", PROTOCOLS)
        wanted = request.query_params.get("endpoint_id")
        endpoints = (
            [access_endpoint(self.state.sandbox, resource)] if resource.resource_type == "storage" else []
        )
        return json_response(
            [
                e
                for e in endpoints
                if (protocol is None or e["protocol"] == protocol) and (wanted is None or e["id"] == wanted)
            ]
        )

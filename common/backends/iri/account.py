"""The IRI backend's identity and allocations: the ``account`` routes of the spec.

* ``whoami``: v2's ``GET /account/whoami`` (``{"username"}``; the reference server's newer
  releases serve it, neither revision of the v2 spec names it), with the caller's projects from
  ``GET /account/projects``. v1 has no such call: UnsupportedOperation names ``projects()``.
* ``projects``: ``GET /account/projects`` (every project of the caller; ``user_ids`` are members).
* ``allocations``: ``GET /account/projects/{id}/project_allocations`` per project, one
  :class:`Allocation` per allocation *entry* (a project allocation holds one entry per unit:
  node-hours, or bytes and inodes). The capability is named from ``GET /account/capabilities``
  and the resource it pays for from the resources' ``capability_uris``, where the deployment
  serves them (both are best effort: a deployment without them still answers). Units arrive as
  v1's enum (``node_hours``) or v2's URN (``urn:doe-iri:allocation:compute:node-hours``), both
  read as ``node-hours``. A user's share of an allocation is one more call per allocation, so it
  is the IRI extra :meth:`AccountMixin.user_allocations`, not part of ``allocations``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ...account import Allocation, Identity, Project, normalise_unit, projects_named
from ...errors import FacilityError, NotFoundError, UnsupportedOperation
from ...http import ApiRequest
from .core import IRIBase
from .parsers import _items, _last_segment
from .requests import FACILITY, PAGE_LIMIT, _build_whoami

__all__ = [
    "AccountMixin",
    "build_capabilities",
    "build_project_allocations",
    "build_projects",
    "build_user_allocations",
    "parse_allocations",
    "parse_capabilities",
    "parse_projects",
    "parse_whoami",
]


def _q(value: str) -> str:
    return quote(str(value), safe="")


def build_projects() -> ApiRequest:
    """:calls: GET /account/projects"""
    return ApiRequest("GET", "account/projects")


def build_project_allocations(project_id: str) -> ApiRequest:
    """:calls: GET /account/projects/{project_id}/project_allocations"""
    return ApiRequest("GET", f"account/projects/{_q(project_id)}/project_allocations")


def build_user_allocations(project_id: str, allocation_id: str) -> ApiRequest:
    """:calls: GET /account/projects/{project_id}/project_allocations/{id}/user_allocations"""
    return ApiRequest(
        "GET",
        f"account/projects/{_q(project_id)}/project_allocations/{_q(allocation_id)}/user_allocations",
    )


def build_capabilities(offset: int = 0, limit: int = PAGE_LIMIT) -> ApiRequest:
    """:calls: GET /account/capabilities (paged with offset/limit)"""
    return ApiRequest("GET", "account/capabilities", params={"offset": offset, "limit": limit})


def parse_whoami(data: Any) -> str:
    """The user name of a ``GET /account/whoami`` answer."""
    username = data.get("username") if isinstance(data, Mapping) else None
    if not isinstance(username, str) or not username:
        raise ValueError("no username")
    return username


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return str(value) if value not in (None, "") else None


def parse_projects(data: Any) -> list[Project]:
    """``GET /account/projects`` as projects (``user_ids`` are the members)."""
    projects = []
    for item in _items(data):
        project_id = _text(item, "id")
        if project_id is None:
            raise ValueError("a project without an id")
        projects.append(
            Project(
                id=project_id,
                name=_text(item, "name") or project_id,
                description=_text(item, "description"),
                members=tuple(str(user) for user in item.get("user_ids") or ()),
                raw=item,
            )
        )
    return projects


def parse_capabilities(data: Any) -> dict[str, str]:
    """Capability id -> its name (its id where it has none), from ``GET /account/capabilities``."""
    return {
        str(item["id"]): _text(item, "name") or str(item["id"]) for item in _items(data) if item.get("id")
    }


def _entries(item: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = item.get("entries")
    if not isinstance(entries, list):
        raise ValueError("an allocation without an 'entries' list")
    return [entry for entry in entries if isinstance(entry, Mapping)]


def _allocation(
    entry: Mapping[str, Any], project: str, item: Mapping[str, Any], **extra: str | None
) -> Allocation:
    native = str(entry["unit"])
    return Allocation(
        project=project,
        unit=normalise_unit(native),
        used=float(entry["usage"]),
        allocated=float(entry["allocation"]),
        id=_text(item, "id"),
        native_unit=native,
        raw={**item, "entry": dict(entry)},
        **extra,
    )


def parse_allocations(
    data: Any,
    project: str,
    capabilities: Mapping[str, str] | None = None,
    resources: Mapping[str, str] | None = None,
) -> list[Allocation]:
    """``GET .../project_allocations`` as allocations: one per entry of each project allocation.

    ``capabilities`` names capability ids; ``resources`` maps a capability id to the resource
    whose ``capability_uris`` list it.
    """
    found = []
    for item in _items(data):
        capability_id = _last_segment(str(item.get("capability_uri") or "")) or None
        name = (capabilities or {}).get(capability_id or "", capability_id)
        resource = (resources or {}).get(capability_id or "")
        for entry in _entries(item):
            found.append(_allocation(entry, project, item, capability=name, resource=resource))
    return found


def parse_user_allocations(data: Any, project: str) -> list[Allocation]:
    """``GET .../user_allocations`` as allocations of each user's share."""
    found = []
    for item in _items(data):
        user = _text(item, "user_id")
        for entry in _entries(item):
            found.append(_allocation(entry, project, item, user=user))
    return found


CAPABILITY_CACHE_SECONDS = 300.0
"""How long the capability names and their resources are kept (they change with allocation
years, not between polls of a status gate)."""


class AccountMixin(IRIBase):
    """whoami, projects and allocations of the IRI ``account`` routes."""

    _capability_cache: tuple[float, dict[str, str], dict[str, str]] | None = None

    async def whoami(self) -> Identity:
        """The user name the facility knows the caller by, and the caller's projects.

        v2 only, and only where the deployment serves it; elsewhere :class:`UnsupportedOperation`
        names the API version and ``projects()``.

        :calls: GET /account/whoami, GET /account/projects
        """
        if self.api_version == "v1":
            raise UnsupportedOperation(
                f"whoami: the {self.facility_label} v1 has no account/whoami operation (v2 "
                "deployments may offer it); projects() lists the caller's projects",
                facility=FACILITY,
            )
        try:
            data = await self._session.call(_build_whoami())
        except NotFoundError:
            raise UnsupportedOperation(
                f"whoami: this {self.facility_label} {self.api_version} deployment does not offer "
                "GET /account/whoami; projects() lists the caller's projects",
                facility=FACILITY,
            ) from None
        username = self._parsed("whoami", "GET /account/whoami", "", parse_whoami, data)
        try:
            projects = await self.projects()
        except NotFoundError:
            projects = []  # a deployment without the account routes (OLCF's IRI)
        default = self.project or (projects[0].id if len(projects) == 1 else None)
        return Identity(
            username=username,
            projects=tuple(project.id for project in projects),
            default_project=default,
            source="GET /account/whoami",
            raw=data if isinstance(data, dict) else {},
        )

    async def projects(self) -> list[Project]:
        """The caller's projects.

        :calls: GET /account/projects
        """
        data = await self._session.call(build_projects())
        projects: list[Project] = self._parsed("projects", "GET /account/projects", "", parse_projects, data)
        return projects

    async def _project(self, key: str) -> Project:
        projects = await self.projects()
        chosen = projects_named(projects, key)
        if not chosen:
            known = ", ".join(sorted(p.id for p in projects)) or "none"
            raise NotFoundError(
                f"project {key!r} is not one of the caller's projects (known: {known})", facility=FACILITY
            )
        return chosen[0]

    async def _capability_names(self) -> dict[str, str]:
        """Capability id -> name, or nothing where the deployment does not serve capabilities."""
        try:
            items = await self._pages(lambda offset: build_capabilities(offset))
            return parse_capabilities(items)
        except (FacilityError, KeyError, TypeError, ValueError):
            return {}

    async def _resources_of_capabilities(self) -> dict[str, str]:
        """Capability id -> the name of the resource listing it in ``capability_uris``."""
        try:
            resources = await self._load_resources()
        except FacilityError:
            return {}
        found: dict[str, str] = {}
        for resource in resources:
            for uri in resource.raw.get("capability_uris") or ():
                found.setdefault(_last_segment(str(uri)), resource.name)
        return found

    async def _capabilities(self) -> tuple[dict[str, str], dict[str, str]]:
        """Capability names and resources, asked again after ``CAPABILITY_CACHE_SECONDS``."""
        cached = self._capability_cache
        if cached is not None and time.monotonic() - cached[0] < CAPABILITY_CACHE_SECONDS:
            return cached[1], cached[2]
        names = await self._capability_names()
        resources = await self._resources_of_capabilities()
        self._capability_cache = (time.monotonic(), names, resources)
        return names, resources

    async def allocations(self, project: str | None = None) -> list[Allocation]:
        """The allocations of the caller's projects (or of ``project``, an id or a name).

        :calls: GET /account/projects, GET /account/projects/{id}/project_allocations, and
            every ``CAPABILITY_CACHE_SECONDS`` GET /account/capabilities and GET /status/resources
        """
        chosen: Sequence[Project] = [await self._project(project)] if project else await self.projects()
        names, resources = await self._capabilities()
        found: list[Allocation] = []
        for item in chosen:
            path = f"GET /account/projects/{item.id}/project_allocations"
            data = await self._session.call(build_project_allocations(item.id))
            found += self._parsed("allocations", path, "", parse_allocations, data, item.id, names, resources)
        return found

    async def user_allocations(self, project: str, allocation_id: str) -> list[Allocation]:
        """Each user's share of one project allocation (an IRI extra).

        :calls: GET /account/projects/{id}/project_allocations/{allocation_id}/user_allocations
        """
        chosen = await self._project(project)
        data = await self._session.call(build_user_allocations(chosen.id, allocation_id))
        path = f"GET /account/projects/{chosen.id}/project_allocations/{allocation_id}/user_allocations"
        found: list[Allocation] = self._parsed(
            "user_allocations", path, "", parse_user_allocations, data, chosen.id
        )
        return found

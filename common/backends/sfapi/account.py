"""The Superfacility API's identity and allocations: ``/account/`` and ``/account/projects``.

``GET /account/`` is the caller's ``UserInfo`` (``uid``, ``name``, names, ``email``);
``GET /account/projects`` lists each project (repository) with its hours (``ProjectStats``, as
``sfapi_client`` 0.6.0 reads it). NERSC charges Perlmutter in node-hours, CPU and GPU nodes
apart: ``cpu_project_hours_given``/``_used`` and ``gpu_project_hours_given``/``_used`` are the
project's grants and usage, ``cpu_hours_given``/``_used`` and ``gpu_hours_given``/``_used`` the
caller's share of them. A project that reports no CPU/GPU split gives ``project_hours_given``/
``_used`` (and ``hours_given``/``_used``) instead. A project is named by its repository name
(``m1234``, what ``#SBATCH -A`` takes), its numeric id kept in ``raw``.
``GET /account/groups`` lists the Unix groups the caller belongs to (``GroupStats``: ``gid``,
``name``, ``users``), which ``whoami`` gives as the identity's groups.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ...account import NODE_HOURS, Allocation, Identity, Project, projects_named
from ...errors import APIError, NotFoundError
from ...http import ApiRequest, ApiSession
from ..base import FacilityBackend

__all__ = [
    "SFAPIAccount",
    "build_groups",
    "build_projects",
    "build_user",
    "parse_allocations",
    "parse_groups",
    "parse_projects",
    "parse_user",
]

FACILITY = "sfapi"
OK = (200,)

#: (capability, project grant field, project usage field, user grant field, user usage field)
_HOURS: tuple[tuple[str | None, str, str, str, str], ...] = (
    ("cpu", "cpu_project_hours_given", "cpu_project_hours_used", "cpu_hours_given", "cpu_hours_used"),
    ("gpu", "gpu_project_hours_given", "gpu_project_hours_used", "gpu_hours_given", "gpu_hours_used"),
)
_TOTAL: tuple[str | None, str, str, str, str] = (
    None,
    "project_hours_given",
    "project_hours_used",
    "hours_given",
    "hours_used",
)


def build_user() -> ApiRequest:
    """:calls: GET /account/"""
    return ApiRequest("GET", "account/", ok=OK)


def build_projects() -> ApiRequest:
    """:calls: GET /account/projects"""
    return ApiRequest("GET", "account/projects", ok=OK)


def build_groups() -> ApiRequest:
    """:calls: GET /account/groups"""
    return ApiRequest("GET", "account/groups", ok=OK)


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return str(value) if value not in (None, "") else None


def parse_user(data: Any) -> Identity:
    """``GET /account/``'s ``UserInfo`` as an identity (projects filled in by the caller)."""
    if not isinstance(data, Mapping) or not _text(data, "name"):
        raise ValueError("expected a UserInfo object with a 'name'")
    full = " ".join(part for part in (_text(data, "firstname"), _text(data, "lastname")) if part)
    return Identity(
        username=str(data["name"]),
        user_id=_text(data, "uid"),
        name=full or None,
        email=_text(data, "email"),
        source="GET /account/",
        raw=dict(data),
    )


def parse_groups(data: Any) -> tuple[str, ...]:
    """The group names of a ``GET /account/groups`` answer (``{"groups": [GroupStats...]}``)."""
    groups = data.get("groups") if isinstance(data, Mapping) else None
    if not isinstance(groups, list):
        raise ValueError("expected an object with a list of 'groups'")
    return tuple(name for item in groups if isinstance(item, Mapping) and (name := _text(item, "name")))


def _project_items(data: Any) -> list[Mapping[str, Any]]:
    if not isinstance(data, list):
        raise ValueError("expected a list of projects")
    items = [item for item in data if isinstance(item, Mapping)]
    for item in items:
        if not _text(item, "repo_name"):
            raise ValueError("a project without a 'repo_name'")
    return items


def parse_projects(data: Any) -> list[Project]:
    """``GET /account/projects`` as projects named by their repository."""
    return [
        Project(
            id=str(item["repo_name"]),
            name=str(item["repo_name"]),
            description=_text(item, "description"),
            role=_text(item, "iris_role"),
            raw=dict(item),
        )
        for item in _project_items(data)
    ]


def _hours(item: Mapping[str, Any], key: str | None) -> float | None:
    value = item.get(key) if key else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key}: expected a number of hours, got {type(value).__name__}")
    return float(value)


def parse_allocations(data: Any, user: str | None = None) -> list[Allocation]:
    """The node-hour allocations of every project in ``GET /account/projects``: the project's
    (``user`` None) and, where reported, ``user``'s share of it."""
    found: list[Allocation] = []
    for item in _project_items(data):
        project = str(item["repo_name"])
        split = [row for row in _HOURS if _hours(item, row[1]) is not None]
        for capability, given, used, user_given, user_used in split or [_TOTAL]:
            grant = _hours(item, given)
            if grant is not None:
                found.append(_allocation(item, project, capability, grant, _hours(item, used), given))
            share = _hours(item, user_given)
            if share is not None and user is not None:
                allocation = _allocation(
                    item, project, capability, share, _hours(item, user_used), user_given
                )
                found.append(dataclasses.replace(allocation, user=user))
    return found


def _allocation(
    item: Mapping[str, Any],
    project: str,
    capability: str | None,
    grant: float,
    used: float | None,
    field: str | None,
) -> Allocation:
    return Allocation(
        project=project,
        unit=NODE_HOURS,
        used=used or 0.0,
        allocated=grant,
        id=_text(item, "id"),
        capability=capability,
        resource="perlmutter",
        native_unit=field,
        raw=dict(item),
    )


class SFAPIAccount(FacilityBackend):
    """whoami, projects and allocations of the Superfacility API (see the module docstring)."""

    _session: ApiSession
    _username: str | None = None

    def _unreadable(self, what: str, exc: Exception) -> APIError:
        return APIError(f"{what}: unexpected answer ({exc})", facility=FACILITY)

    async def _projects_answer(self) -> Any:
        return await self._session.call(build_projects())

    async def whoami(self) -> Identity:
        """The caller's user name, uid, name and email, groups and projects.

        :calls: GET /account/, GET /account/groups, GET /account/projects
        """
        data = await self._session.call(build_user())
        try:
            identity = parse_user(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._unreadable("GET /account/", exc) from None
        self._username = identity.username
        try:
            groups = parse_groups(await self._session.call(build_groups()))
        except NotFoundError:
            groups = ()  # a deployment without the route
        except (KeyError, TypeError, ValueError) as exc:
            raise self._unreadable("GET /account/groups", exc) from None
        projects = await self.projects()
        return dataclasses.replace(identity, groups=groups, projects=tuple(p.id for p in projects))

    async def projects(self) -> list[Project]:
        """The caller's projects, named by their repository (``m1234``).

        :calls: GET /account/projects
        """
        try:
            return parse_projects(await self._projects_answer())
        except (KeyError, TypeError, ValueError) as exc:
            raise self._unreadable("GET /account/projects", exc) from None

    async def allocations(self, project: str | None = None) -> list[Allocation]:
        """The node-hours of the caller's projects (or of ``project``): CPU and GPU apart, each
        the project's grant and the caller's share of it.

        :calls: GET /account/projects (and GET /account/ once, for the caller's name)
        """
        if self._username is None:
            try:
                self._username = parse_user(await self._session.call(build_user())).username
            except (KeyError, TypeError, ValueError) as exc:
                raise self._unreadable("GET /account/", exc) from None
        data = await self._projects_answer()
        try:
            projects = parse_projects(data)
            found = parse_allocations(data, self._username)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._unreadable("GET /account/projects", exc) from None
        if project is None:
            return found
        return _of_project(found, projects, project)


def _of_project(found: Sequence[Allocation], projects: Sequence[Project], key: str) -> list[Allocation]:
    chosen = projects_named(projects, key)
    if not chosen:
        known = ", ".join(sorted(p.id for p in projects)) or "none"
        raise NotFoundError(
            f"project {key!r} is not one of the caller's projects (known: {known})", facility=FACILITY
        )
    return [a for a in found if a.project == chosen[0].id]

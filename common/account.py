"""Who the caller is and what they may spend: :class:`Identity`, :class:`Project`, :class:`Allocation`.

The facility APIs tell these things in very different words (IRI's projects and allocation
entries, the SF API's project hours, FirecREST's accounts, S3M's token introspection, Slurm's
associations and accounting); every backend that has them answers in these three models. Like the
job models they are frozen dataclasses with ``to_dict()``/``from_dict()`` of plain JSON types
(they cross Airflow's trigger boundary and XCom unchanged) and hold no client.

Units are normalised to a short word (:func:`normalise_unit`): ``node-hours``, ``cpu-hours``,
``gpu-hours``, ``bytes``, ``inodes``; the API's own spelling stays in ``native_unit``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .models import _check_types, _dt_from_json, _dt_to_json

__all__ = ["Allocation", "Identity", "Project", "normalise_unit"]

NODE_HOURS = "node-hours"

_UNIT_WORDS = {
    "node_hours": NODE_HOURS,
    "nodehours": NODE_HOURS,
    "node-hours": NODE_HOURS,
    "cpu_hours": "cpu-hours",
    "gpu_hours": "gpu-hours",
    "gres/gpu-hours": "gpu-hours",
}


def normalise_unit(native: str) -> str:
    """The short word for an API's allocation unit.

    ``node_hours`` (IRI v1) and ``urn:doe-iri:allocation:compute:node-hours`` (IRI v2) are both
    ``node-hours``; a URN gives its last segment; underscores become hyphens.
    """
    text = str(native).strip()
    if text.lower().startswith("urn:"):
        text = text.rsplit(":", 1)[-1]
    word = text.lower()
    return _UNIT_WORDS.get(word, word.replace("_", "-"))


def _texts(values: Any) -> tuple[str, ...]:
    return tuple(str(value) for value in values or ())


def _amount(value: float) -> str:
    """A number for messages: up to four decimals, no trailing zeros (``1749.9994``, ``500``)."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _number(field: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"Allocation.{field}: expected a number, got {type(value).__name__}")


@dataclasses.dataclass(frozen=True)
class Identity:
    """Whom the connection's credentials stand for, as far as the API tells.

    ``username`` is the facility's user name (S3M: the project's service user ``{project}_auser``).
    ``projects`` are the projects (accounts) the API lists for the identity and
    ``default_project`` the one charged when a job names none, where the API says.
    ``expires_at`` is when the credentials stop working (S3M's planned expiry), ``permissions``
    what they allow (S3M's token scopes). ``source`` names the call that told (``GET /account/``).
    """

    username: str
    user_id: str | None = None
    name: str | None = None
    email: str | None = None
    groups: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    default_project: str | None = None
    permissions: tuple[str, ...] = ()
    expires_at: datetime | None = None
    source: str | None = None
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_types(
            self, ("username",), ("user_id", "name", "email", "default_project", "source"), ("expires_at",)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "user_id": self.user_id,
            "name": self.name,
            "email": self.email,
            "groups": list(self.groups),
            "projects": list(self.projects),
            "default_project": self.default_project,
            "permissions": list(self.permissions),
            "expires_at": _dt_to_json(self.expires_at),
            "source": self.source,
            "raw": dict(self.raw),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Identity:
        return cls(
            username=str(data["username"]),
            user_id=data.get("user_id"),
            name=data.get("name"),
            email=data.get("email"),
            groups=_texts(data.get("groups")),
            projects=_texts(data.get("projects")),
            default_project=data.get("default_project"),
            permissions=_texts(data.get("permissions")),
            expires_at=_dt_from_json(data.get("expires_at")),
            source=data.get("source"),
            raw=data.get("raw") or {},
        )


@dataclasses.dataclass(frozen=True)
class Project:
    """A project (account, repository) the caller may charge.

    ``id`` is what the API calls it by and what :meth:`allocations` takes (IRI: the project's
    id; SF API: the repository name, ``m1234``; Slurm and FirecREST: the account name); ``name``
    its human name. ``members`` are user ids where the API lists them; ``role`` the caller's role
    in it (the SF API's Iris role); ``is_default`` marks the account charged when a job names none.
    """

    id: str
    name: str
    description: str | None = None
    members: tuple[str, ...] = ()
    role: str | None = None
    is_default: bool = False
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_types(self, ("id", "name"), ("description", "role"), ())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "members": list(self.members),
            "role": self.role,
            "is_default": self.is_default,
            "raw": dict(self.raw),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Project:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or data["id"]),
            description=data.get("description"),
            members=_texts(data.get("members")),
            role=data.get("role"),
            is_default=bool(data.get("is_default", False)),
            raw=data.get("raw") or {},
        )


@dataclasses.dataclass(frozen=True)
class Allocation:
    """What a project may spend on one capability and what it has spent.

    ``allocated`` is the grant in ``unit`` (None: the API sets no limit), ``used`` what jobs have
    consumed so far; :attr:`remaining` is their difference (negative when overdrawn). ``capability``
    names what is paid for (IRI's capability, ``cpu``/``gpu`` at NERSC, the Slurm TRES) and
    ``resource`` the resource it pays for where the API says. ``user`` is None for the whole
    project's allocation and a user name for that user's share of it.
    """

    project: str
    unit: str
    used: float
    allocated: float | None = None
    id: str | None = None
    capability: str | None = None
    resource: str | None = None
    user: str | None = None
    native_unit: str | None = None
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_types(self, ("project", "unit"), ("id", "capability", "resource", "user", "native_unit"), ())
        _number("used", self.used, optional=False)
        _number("allocated", self.allocated, optional=True)

    @property
    def remaining(self) -> float | None:
        """``allocated - used`` (None without a limit)."""
        return None if self.allocated is None else self.allocated - self.used

    @property
    def fraction_remaining(self) -> float | None:
        """The share of the grant left, 0.0 to 1.0 (below 0 when overdrawn; None without a limit)."""
        remaining = self.remaining
        if remaining is None or self.allocated is None:
            return None
        if self.allocated <= 0:
            return 0.0
        return remaining / self.allocated

    def describe(self) -> str:
        """One line for logs and messages: ``demo polaris: 12.5 of 1000 node-hours remaining``."""
        what = " ".join(part for part in (self.project, self.capability or self.resource) if part)
        if self.allocated is None or self.remaining is None:
            return f"{what}: {_amount(self.used)} {self.unit} used, no limit"
        return f"{what}: {_amount(self.remaining)} of {_amount(self.allocated)} {self.unit} remaining"

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "unit": self.unit,
            "used": self.used,
            "allocated": self.allocated,
            "remaining": self.remaining,
            "id": self.id,
            "capability": self.capability,
            "resource": self.resource,
            "user": self.user,
            "native_unit": self.native_unit,
            "raw": dict(self.raw),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Allocation:
        allocated = data.get("allocated")
        return cls(
            project=str(data["project"]),
            unit=str(data["unit"]),
            used=float(data["used"]),
            allocated=None if allocated is None else float(allocated),
            id=data.get("id"),
            capability=data.get("capability"),
            resource=data.get("resource"),
            user=data.get("user"),
            native_unit=data.get("native_unit"),
            raw=data.get("raw") or {},
        )


def projects_named(projects: Sequence[Project], key: str) -> list[Project]:
    """The projects whose id or name is ``key``."""
    return [project for project in projects if key in (project.id, project.name)]

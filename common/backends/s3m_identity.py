"""S3M's identity: what token introspection (``GET olcf/v1/token/ctls/introspect``) tells.

An S3M token belongs to one project and acts as its service user (``{project}_auser``); its
introspection names both, the token's permissions and its planned expiry. So ``whoami`` is that
identity, ``projects`` the token's one project, and ``allocations`` an UnsupportedOperation:
S3M reports no usage (myOLCF shows the project's allocation). The S3M backend's Slurm routes
have no accounting (``slurmdb``) calls, so slurmrestd's association-based allocations do not
apply either.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..account import Allocation, Identity, Project
from ..errors import APIError
from .base import FacilityBackend

__all__ = ["S3MIdentity", "identity_from_introspection"]

SOURCE = "GET olcf/v1/token/ctls/introspect"


def identity_from_introspection(token: Mapping[str, Any]) -> Identity:
    """The identity of an introspected token (the ``token`` object, with ``planned_expiration``)."""
    username = token.get("username")
    if not isinstance(username, str) or not username:
        raise ValueError("the token names no username")
    project = token.get("project")
    project = str(project) if project not in (None, "") else None
    expires = token.get("planned_expiration")
    permissions = token.get("permissions") or ()
    return Identity(
        username=username,
        projects=(project,) if project else (),
        default_project=project,
        permissions=tuple(str(p) for p in permissions),
        expires_at=expires if isinstance(expires, datetime) else None,
        source=SOURCE,
        raw={key: value for key, value in token.items() if key != "planned_expiration"},
    )


class S3MIdentity(FacilityBackend):
    """whoami and projects from S3M's token introspection (see the module docstring)."""

    async def introspect(self) -> dict[str, Any]:  # pragma: no cover - S3MBackend's own
        raise NotImplementedError

    async def whoami(self) -> Identity:
        """The token's user, project, permissions and planned expiry.

        :calls: GET olcf/v1/token/ctls/introspect
        """
        token = await self.introspect()
        try:
            return identity_from_introspection(token)
        except (TypeError, ValueError) as exc:
            raise self._unreadable_token(exc) from None

    async def projects(self) -> list[Project]:
        """The token's one project.

        :calls: GET olcf/v1/token/ctls/introspect
        """
        identity = await self.whoami()
        return [Project(id=name, name=name, is_default=True) for name in identity.projects]

    async def allocations(self, project: str | None = None) -> list[Allocation]:
        """S3M reports no usage: UnsupportedOperation naming myOLCF."""
        raise self._unsupported("allocations", self.identity_hint or None)

    def _unreadable_token(self, exc: Exception) -> APIError:
        return APIError(f"{SOURCE}: unusable answer ({exc})", facility=self.name)

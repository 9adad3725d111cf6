"""FirecREST's identity: ``GET /status/{system}/userinfo`` (user, primary group, groups, accounts).

``whoami`` and ``projects`` ask the first system FirecREST lists (or ``system`` of the extra
:meth:`AccountMixin.userinfo`); the accounts are the Slurm accounts the user may charge there,
one marked default. FirecREST tells no usage, so ``allocations`` keeps the base class's
UnsupportedOperation, naming where to look instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ...account import Identity, Project
from ...errors import APIError
from .core import FACILITY, FirecrestCore
from .requests import build_userinfo

__all__ = ["AccountMixin", "parse_accounts", "parse_userinfo"]


def _named(value: Any) -> tuple[str | None, str | None]:
    """``(id, name)`` of a ``PosixIdentified`` object."""
    if not isinstance(value, Mapping):
        return None, None
    ident, name = value.get("id"), value.get("name")
    return (str(ident) if ident not in (None, "") else None, str(name) if name not in (None, "") else None)


def parse_accounts(data: Any) -> list[Project]:
    """The ``accounts`` of a ``UserInfoResponse`` as projects (``is_default`` from ``default``)."""
    if not isinstance(data, Mapping):
        raise ValueError("expected a UserInfoResponse object")
    found = []
    for item in data.get("accounts") or ():
        if isinstance(item, Mapping) and item.get("name"):
            name = str(item["name"])
            found.append(Project(id=name, name=name, is_default=bool(item.get("default")), raw=dict(item)))
    return found


def parse_userinfo(data: Any, system: str) -> Identity:
    """A ``UserInfoResponse`` as an identity."""
    user_id, username = _named(data.get("user") if isinstance(data, Mapping) else None)
    if username is None:
        raise ValueError("expected a UserInfoResponse with user.name")
    assert isinstance(data, Mapping)
    groups = [_named(group)[1] for group in data.get("groups") or ()]
    accounts = parse_accounts(data)
    default = next((a.id for a in accounts if a.is_default), None)
    return Identity(
        username=username,
        user_id=user_id,
        groups=tuple(name for name in groups if name),
        projects=tuple(a.id for a in accounts),
        default_project=default,
        source=f"GET /status/{system}/userinfo",
        raw=dict(data),
    )


class AccountMixin(FirecrestCore):
    """whoami and projects from FirecREST's ``userinfo``."""

    async def _first_system(self) -> str:
        systems = self._systems if self._systems_at is not None else await self._load_systems()
        if not systems:
            raise APIError("FirecREST lists no systems to ask about the user", facility=FACILITY)
        return next(iter(systems))

    async def userinfo(self, system: str | None = None) -> Identity:
        """The user as ``system`` (default: the first one listed) knows them: a FirecREST extra.

        :calls: GET /status/{system}/userinfo
        """
        name = await self._system(system) if system else await self._first_system()
        data = await self._call(build_userinfo(name), name)
        try:
            identity = parse_userinfo(data, name)
        except (KeyError, TypeError, ValueError) as exc:
            raise APIError(
                f"GET /status/{name}/userinfo: unexpected answer ({exc})", facility=FACILITY
            ) from None
        if self._user is None:
            self._user = identity.username
        return identity

    async def whoami(self) -> Identity:
        """The user's name, uid, groups and accounts (the backend's ``account`` option, where set,
        is the default project).

        :calls: GET /status/systems (once), GET /status/{system}/userinfo
        """
        identity = await self.userinfo()
        if self.account and self.account != identity.default_project:
            identity = dataclasses.replace(identity, default_project=self.account)
        return identity

    async def projects(self) -> list[Project]:
        """The accounts the user may charge on the first system listed.

        :calls: GET /status/systems (once), GET /status/{system}/userinfo
        """
        return parse_accounts((await self.userinfo()).raw)

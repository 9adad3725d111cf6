"""SF API ``/account/`` (the caller's ``UserInfo``), ``/account/groups`` (``GroupStats``) and
``/account/projects`` (``ProjectStats``).

Shapes are those ``sfapi_client`` 0.6.0 reads. The hours come from the emulator's ledger
(:mod:`facility_emulator.ledger`): Perlmutter's CPU and GPU node-hours of each project
(``cpu_project_hours_given``/``_used``, ``gpu_...``), their sums (``project_hours_...``) and the
caller's share, which is the whole project's (``cpu_hours_...``, ``hours_...``: the emulated
projects have one user). Jobs on Perlmutter charge its CPU hours when they finish. The caller's
groups are its Unix group (as FirecREST's emulated ``userinfo`` tells it) and, as at NERSC, a
group per project, named as the project.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.ledger import NODE_HOURS, LedgerView
from facility_emulator.state import EmulatorState

__all__ = ["SFAPIAccountRoutes"]

#: Ledger capability -> the ProjectStats field prefix of its hours.
_KINDS = {"perlmutter-cpu": "cpu", "perlmutter-gpu": "gpu"}
_ROLES = {"demo": "PI"}


class SFAPIAccountRoutes:
    """The account routes of the SF API flavour."""

    def __init__(self, state: EmulatorState, prefix: str) -> None:
        self.state = state
        self.prefix = prefix

    def routes(self) -> list[Route]:
        p = f"{self.prefix}/account"
        return [
            Route(f"{p}/", self.user, methods=["GET"]),
            Route(p, self.user, methods=["GET"]),
            Route(f"{p}/projects", self.projects, methods=["GET"]),
            Route(f"{p}/groups", self.groups, methods=["GET"]),
        ]

    async def user(self, request: Request) -> Response:
        self.state.require_auth(request)
        return JSONResponse({"uid": os.getuid(), "name": self.state.config.user})

    async def groups(self, request: Request) -> Response:
        self.state.require_auth(request)
        me = {"uid": os.getuid(), "name": self.state.config.user}
        groups = [{"gid": os.getgid(), "name": self.state.config.user, "users": [me]}]
        for name, record in self.state.ledger.projects.items():
            groups.append({"gid": 60000 + record.number, "name": name, "users": [me]})
        return JSONResponse({"groups": groups})

    def project_stats(self, name: str, view: LedgerView) -> dict[str, Any]:
        ledger = self.state.ledger
        record = ledger.projects[name]
        stats: dict[str, Any] = {
            "id": record.number,
            "description": record.description,
            "repo_name": record.name,
            "iris_role": _ROLES.get(name, "Member"),
        }
        given = used = 0.0
        for capability, kind in _KINDS.items():
            grants = ledger.grants_of(name, capability)
            grant = next((g for g in grants if g.unit == NODE_HOURS), None)
            if grant is None:
                continue
            usage = view.usage(grant)
            given += grant.allocation
            used += usage
            for field, value in (("given", grant.allocation), ("used", usage)):
                stats[f"{kind}_project_hours_{field}"] = value
                stats[f"{kind}_hours_{field}"] = value
        stats.update(project_hours_given=given, project_hours_used=used, hours_given=given, hours_used=used)
        return stats

    async def projects(self, request: Request) -> Response:
        self.state.require_auth(request)
        view = LedgerView.now(self.state.ledger)
        return JSONResponse([self.project_stats(name, view) for name in self.state.ledger.projects])

"""The emulated slurmdbd's users, associations and job records (``/slurmdb/v0.0.43/...``).

What ``sacctmgr`` and ``sacct`` would tell of the emulated cluster, from the emulator's ledger
(:mod:`facility_emulator.ledger`):

* ``GET user/{name}``: the cluster's user with one association per ledger project (its accounts)
  and the ledger's default project as its default account; another name is error 9003.
* ``GET associations`` (``account``, ``user`` filters): per project an account association whose
  ``GrpTRESMins`` (``max.tres.group.minutes``) is the node-minutes of the project's node-hour
  grants on the cluster's resources, and the user's association under it.
* ``GET jobs`` (``account`` filter): the accounting records of the cluster's jobs (a job that named
  no account is recorded under the default one), with ``tres.allocated`` (its nodes and a CPU per
  node) and ``time.elapsed`` in whole seconds rounded up, as the ledger charges them.

An empty answer carries error 9003 ("Nothing found"): in a 500 for users and associations, in a
200 for jobs, as Debian's slurmrestd answers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facility_emulator.ledger import NODE_HOURS, job_account, job_nodes
from facility_emulator.slurmrestd.accounting import ESLURM_REST_EMPTY_RESULT, accounting_record
from facility_emulator.slurmrestd.common import CLUSTER, VERSION, slurm_answer

if TYPE_CHECKING:
    from facility_emulator.scheduler import JobRecord
    from facility_emulator.slurmrestd.routes import SlurmRestdRoutes

__all__ = ["AccountingRoutes"]


def _nothing(source: str) -> dict[str, Any]:
    return {
        "description": "Nothing found",
        "error_number": ESLURM_REST_EMPTY_RESULT,
        "error": "Nothing found with query",
        "source": source,
    }


def _tres(kind: str, count: int, ident: int) -> dict[str, Any]:
    return {"type": kind, "name": "", "id": ident, "count": count}


class AccountingRoutes:
    """The slurmdb user, association and job-list routes of one emulated slurmrestd."""

    def __init__(self, cluster: SlurmRestdRoutes) -> None:
        self.cluster = cluster
        self.state = cluster.state

    def routes(self) -> list[Route]:
        base = f"{self.cluster.prefix}/slurmdb/{VERSION}"
        guarded = self.cluster._guarded
        routes = [Route(f"{base}/user/{{name}}", guarded(self.user), methods=["GET"])]
        for name, handler in (("associations", self.associations), ("jobs", self.jobs)):
            routes += [
                Route(f"{base}/{name}{slash}", guarded(handler), methods=["GET"]) for slash in ("", "/")
            ]
        return routes

    def _answer(self, body: dict[str, Any], source: str, empty: bool, status: int = 500) -> Response:
        user = self.cluster.auth.user_name
        if empty:
            return slurm_answer(body, errors=[_nothing(source)], user_name=user, status=status)
        return slurm_answer(body, user_name=user)

    def _node_minutes(self, project: str) -> int:
        """The project's node-hour grants on the cluster's resources, in node-minutes."""
        ledger = self.state.ledger
        names = {p.resource.name for p in self._partitions()}
        hours = sum(
            grant.allocation
            for grant in ledger.grants_of(project)
            if grant.unit == NODE_HOURS and names & set(ledger.capabilities[grant.capability].resources)
        )
        return round(hours * 60)

    def _partitions(self) -> list[Any]:
        from facility_emulator.slurmrestd.routes import partitions

        return partitions(self.state)

    def _association(self, account: str, user: str | None) -> dict[str, Any]:
        minutes = [_tres("node", self._node_minutes(account), 4)] if user is None else []
        return {
            "account": account,
            "cluster": CLUSTER,
            "partition": "",
            "user": user or "",
            "is_default": user is not None and account == self.state.ledger.default_project,
            "max": {"tres": {"group": {"minutes": minutes, "active": []}, "total": [], "per": {}}},
            "shares_raw": 1,
        }

    async def user(self, request: Request) -> Response:
        name = request.path_params["name"]
        ledger = self.state.ledger
        if name != self.cluster.auth.user_name:
            return self._answer({"users": []}, "slurmdb_users_get", empty=True)
        user = {
            "name": name,
            "administrator_level": ["None"],
            "default": {"account": ledger.default_project, "wckey": ""},
            "associations": [
                {"account": account, "cluster": CLUSTER, "partition": "", "user": name, "id": index}
                for index, account in enumerate(ledger.projects, start=1)
            ],
            "coordinators": [],
            "flags": [],
        }
        return self._answer({"users": [user]}, "slurmdb_users_get", empty=False)

    async def associations(self, request: Request) -> Response:
        wanted_account = request.query_params.get("account")
        wanted_user = request.query_params.get("user")
        user = self.cluster.auth.user_name
        found = []
        for account in self.state.ledger.projects:
            if wanted_account and account not in wanted_account.split(","):
                continue
            for member in (None, user):
                if wanted_user and member != wanted_user:
                    continue
                found.append(self._association(account, member))
        return self._answer({"associations": found}, "slurmdb_associations_get", empty=not found)

    def _record(self, job: JobRecord) -> dict[str, Any]:
        record = accounting_record(self.cluster._job_info(job))
        nodes = job_nodes(job.spec)
        record["account"] = job_account(job.spec) or self.state.ledger.default_project
        if job.started is not None and job.finished is not None:
            record["time"]["elapsed"] = math.ceil(max(0.0, job.finished - job.started))
        allocated = [_tres("cpu", nodes, 1), _tres("node", nodes, 4)] if job.started is not None else []
        record["tres"] = {
            "allocated": allocated,
            "requested": [_tres("cpu", nodes, 1), _tres("node", nodes, 4)],
        }
        return record

    async def jobs(self, request: Request) -> Response:
        wanted = request.query_params.get("account")
        records = [self._record(job) for job in self.cluster._accounted()]
        if wanted:
            records = [r for r in records if r["account"] in wanted.split(",")]
        return self._answer({"jobs": records}, "slurmdb_jobs_get", empty=not records, status=200)

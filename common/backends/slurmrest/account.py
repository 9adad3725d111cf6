"""slurmrestd's identity and allocations, from the accounting database (the ``slurmdb`` routes).

What ``sacctmgr`` and ``sacct`` know, over REST (v0.0.38 to v0.0.44):

* ``whoami``/``projects``: ``GET slurmdb/{version}/user/{name}``: the user's associations (one
  per account, cluster and partition) and default account. The user is the backend's
  ``user_name``, or (without one, over the UNIX socket) the ``meta.client.user`` slurmrestd
  reports from v0.0.39 on.
* ``allocations``: per account, the limits are the account association's ``GrpTRESMins``
  (``max.tres.group.minutes``: node, cpu, gres/gpu or billing minutes, read as hours), from
  ``GET slurmdb/{version}/associations?account=``. The association's own usage is not in these
  answers (v0.0.38 leaves ``usage`` empty; later versions roll it up hourly), so ``used`` is what
  accounting recorded of the account's finished jobs, every user's: each TRES count times the
  job's elapsed seconds, from ``GET slurmdb/{version}/jobs?account=`` (as ``sacct`` would sum
  it; Slurm's own limit check uses a decayed usage, which may be less). An account without a
  ``GrpTRESMins`` has no limit: its node-hours are reported with ``allocated`` None.

Slurm answers an unknown user or account with error 9003 ("Nothing found"), in a 500 or a 200.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ...account import NODE_HOURS, Allocation, Identity, Project
from ...errors import APIError, ConfigurationError, NotFoundError, UnsupportedOperation
from ...http import ApiRequest, ApiSession
from ..base import FacilityBackend
from .parsers import error_numbers, error_text, whole_number
from .requests import build_ping

__all__ = [
    "AccountCalls",
    "build_account_jobs",
    "build_associations",
    "build_db_user",
    "parse_limits",
    "parse_usage",
    "parse_user_accounts",
]

NOTHING_FOUND = 9003
"""slurmdbd's "Nothing found with query" (an unknown user or account, an account without jobs)."""
_TIME_TRES = {"node": "node", "cpu": "cpu", "gres/gpu": "gpu", "billing": "billing"}
"""TRES whose minutes an allocation counts (their hours are ``<word>-hours``)."""


def _q(value: str) -> str:
    return quote(str(value), safe="")


def _minor(version: str) -> int:
    return int(version.rsplit(".", 1)[1])


def build_db_user(prefix: str, version: str, name: str) -> ApiRequest:
    """:calls: GET {prefix}/user/{name} (``slurmdb/v0.0.38``; from v0.0.39 with ``with_assocs``)"""
    params = {"with_assocs": "true"} if _minor(version) > 38 else None
    return ApiRequest("GET", f"{prefix}/user/{_q(name)}", params=params, ok=(200, 404, 500))


def build_associations(prefix: str, account: str) -> ApiRequest:
    """:calls: GET {prefix}/associations?account={account}"""
    return ApiRequest("GET", f"{prefix}/associations", params={"account": account}, ok=(200, 404, 500))


def build_account_jobs(prefix: str, account: str) -> ApiRequest:
    """:calls: GET {prefix}/jobs?account={account} (every job accounting recorded for it)"""
    return ApiRequest("GET", f"{prefix}/jobs", params={"account": account}, ok=(200, 404, 500))


def _nothing_found(data: Any) -> bool:
    return NOTHING_FOUND in error_numbers(data)


def _records(data: Any, key: str) -> list[Mapping[str, Any]]:
    if not isinstance(data, Mapping):
        raise ValueError("expected an object")
    items = data.get(key)
    if items is None and _nothing_found(data):
        return []
    if not isinstance(items, list):
        raise ValueError(f"expected a {key!r} list")
    return [item for item in items if isinstance(item, Mapping)]


def parse_user_accounts(data: Any, name: str) -> tuple[list[str], str | None]:
    """The accounts of the user ``name`` (in the order of its associations) and its default."""
    users = [u for u in _records(data, "users") if u.get("name") == name] or _records(data, "users")[:1]
    if not users:
        return [], None
    user = users[0]
    accounts: list[str] = []
    for association in user.get("associations") or ():
        account = association.get("account") if isinstance(association, Mapping) else None
        if account and account not in accounts:
            accounts.append(str(account))
    default = user.get("default")
    chosen = default.get("account") if isinstance(default, Mapping) else None
    return accounts, (str(chosen) if chosen else None)


def _tres_key(tres: Mapping[str, Any]) -> str:
    kind, name = tres.get("type"), tres.get("name")
    return f"{kind}/{name}" if name else str(kind)


def _tres_counts(items: Any) -> dict[str, int]:
    found: dict[str, int] = {}
    for tres in items or ():
        if isinstance(tres, Mapping):
            count = whole_number(tres.get("count"))
            if count is not None and count >= 0:
                found[_tres_key(tres)] = count
    return found


def parse_limits(data: Any, account: str) -> tuple[dict[str, int], str | None]:
    """The account association's ``GrpTRESMins`` (TRES -> minutes) and its cluster."""
    rows = [
        a
        for a in _records(data, "associations")
        if a.get("account") == account and not a.get("user") and not a.get("partition")
    ]
    if not rows:
        return {}, None
    row = rows[0]
    tres = ((row.get("max") or {}).get("tres") or {}).get("group") or {}
    cluster = row.get("cluster")
    return _tres_counts(tres.get("minutes")), (str(cluster) if cluster else None)


def parse_usage(data: Any) -> dict[str, float]:
    """TRES -> hours used by the finished jobs of a ``slurmdb`` jobs answer."""
    used: dict[str, float] = {}
    for job in _records(data, "jobs"):
        times = job.get("time") or {}
        elapsed = whole_number(times.get("elapsed")) or 0
        if not whole_number(times.get("end")) or elapsed <= 0:
            continue
        allocated = (job.get("tres") or {}).get("allocated")
        for key, count in _tres_counts(allocated).items():
            used[key] = used.get(key, 0.0) + count * elapsed / 3600.0
    return used


def allocations_of(
    account: str, limits: Mapping[str, int], usage: Mapping[str, float], cluster: str | None
) -> list[Allocation]:
    """One allocation per time TRES limited by ``GrpTRESMins``; node-hours with no limit when
    the account has none."""
    limited = {key: minutes for key, minutes in limits.items() if key in _TIME_TRES}
    if not limited:
        return [
            Allocation(
                project=account,
                unit=NODE_HOURS,
                used=usage.get("node", 0.0),
                capability="node",
                resource=cluster,
            )
        ]
    return [
        Allocation(
            project=account,
            unit=f"{_TIME_TRES[key]}-hours",
            used=usage.get(key, 0.0),
            allocated=minutes / 60.0,
            capability=key,
            resource=cluster,
            native_unit=f"GrpTRESMins {key}",
        )
        for key, minutes in limited.items()
    ]


class AccountCalls(FacilityBackend):
    """whoami, projects and allocations of slurmrestd's accounting routes."""

    _session: ApiSession
    user_name: str | None

    async def _version(self) -> str:
        """The data-parser version in use (the backend's)."""
        raise NotImplementedError

    def _accounting_prefix(self, version: str, resource: str | None) -> str | None:
        """The accounting calls' path prefix (the backend's)."""
        raise NotImplementedError

    async def _db_prefix(self) -> tuple[str, str]:
        version = await self._version()
        prefix = self._accounting_prefix(version, None)
        if prefix is None or getattr(self, "_accounting", None) is False:
            raise UnsupportedOperation(
                f"this {self.facility_label} serves no accounting (slurmdb) routes: ask sacctmgr "
                "and sacct on the cluster",
                facility=self.name,
            )
        return version, prefix

    async def _user(self, version: str) -> str:
        """The user the calls run as: ``user_name``, else what slurmrestd says of its client."""
        if self.user_name:
            return self.user_name
        data = await self._session.call(build_ping(f"slurm/{version}"))
        client = ((data or {}).get("meta") or {}).get("client") if isinstance(data, Mapping) else None
        user = client.get("user") if isinstance(client, Mapping) else None
        if not user:
            raise ConfigurationError(
                "user_name: give the user the calls run as (slurmrestd does not say)", facility=self.name
            )
        return str(user)

    def _checked(self, data: Any, what: str) -> Any:
        if isinstance(data, Mapping) and error_numbers(data) and not _nothing_found(data):
            raise APIError(f"{what}: {error_text(data)}", facility=self.name)
        return data

    async def _accounts(self) -> tuple[str, list[str], str | None, str]:
        version, prefix = await self._db_prefix()
        user = await self._user(version)
        path = f"GET {prefix}/user/{user}"
        data = self._checked(await self._session.call(build_db_user(prefix, version, user)), path)
        try:
            accounts, default = parse_user_accounts(data, user)
        except (KeyError, TypeError, ValueError) as exc:
            raise APIError(f"{path}: unexpected answer ({exc})", facility=self.name) from None
        return user, accounts, default, path

    async def whoami(self) -> Identity:
        """The user, its accounts and its default account, as accounting knows them.

        :calls: GET slurmdb/{version}/user/{name}
        """
        user, accounts, default, path = await self._accounts()
        return Identity(username=user, projects=tuple(accounts), default_project=default, source=path)

    async def projects(self) -> list[Project]:
        """The accounts the user has an association with.

        :calls: GET slurmdb/{version}/user/{name}
        """
        _, accounts, default, _ = await self._accounts()
        return [Project(id=name, name=name, is_default=name == default) for name in accounts]

    async def allocations(self, project: str | None = None) -> list[Allocation]:
        """Each account's ``GrpTRESMins`` and what its finished jobs used (see the module docstring).

        :calls: GET slurmdb/{version}/user/{name}, then per account
            GET slurmdb/{version}/associations?account=, GET slurmdb/{version}/jobs?account=
        """
        _, accounts, _, _ = await self._accounts()
        if project is not None and project not in accounts:
            known = ", ".join(accounts) or "none"
            raise NotFoundError(
                f"account {project!r} is not one of the user's accounts (known: {known})", facility=self.name
            )
        _, prefix = await self._db_prefix()
        found: list[Allocation] = []
        for account in [project] if project else accounts:
            found += await self._account_allocations(prefix, account)
        return found

    async def _account_allocations(self, prefix: str, account: str) -> Sequence[Allocation]:
        what = f"GET {prefix}/associations?account={account}"
        limits_answer = self._checked(await self._session.call(build_associations(prefix, account)), what)
        jobs_what = f"GET {prefix}/jobs?account={account}"
        jobs_answer = self._checked(await self._session.call(build_account_jobs(prefix, account)), jobs_what)
        try:
            limits, cluster = parse_limits(limits_answer, account)
            usage = parse_usage(jobs_answer)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise APIError(f"{what}: unexpected answer ({exc})", facility=self.name) from None
        return allocations_of(account, limits, usage, cluster)

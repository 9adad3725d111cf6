"""The emulated facility's projects, allocations and the usage jobs really charge to them.

One ledger per emulator, read by every flavour that tells of allocations (IRI's account routes,
the SF API's project hours, slurmrestd's associations, FirecREST's accounts), so a job run
through any API charges the same allocation and every API sees it drop.

* **Projects**: ``demo`` (the user's default: a job naming no account charges it) and ``staff``.
* **Capabilities** are what an allocation pays for: the node-hours of ``polaris``, ``aurora``,
  Perlmutter's CPU and GPU nodes (``perlmutter-cpu``, ``perlmutter-gpu``) and the bytes and
  inodes of ``eagle``. Each names the resources whose jobs charge it.
* **Charging.** A job is charged once it has finished: its node count times its run time
  (start to end, rounded *up* to whole seconds, so any job that ran costs something), in
  node-hours, to the grant of its account on the capability of the resource it ran on. The node
  count and account are read from the job as the flavour recorded it (IRI's
  ``resources.node_count`` and ``attributes.account``, the Slurm APIs' ``nodes`` and
  ``account``); an account the ledger does not know charges nothing, as a facility would have
  refused it. Perlmutter's jobs charge its CPU nodes.
* **Usage before now**: each grant starts with some usage (``base_usage``) that no job of this
  emulator made. ``PUT /_emulator/allocations`` changes a grant's size or base usage, so a test can
  bring a project close to exhaustion without running hours of jobs.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from facility_emulator.facility import EPOCH_MODIFIED, stable_id

__all__ = ["CapabilityRecord", "GrantRecord", "Ledger", "ProjectRecord"]

NODE_HOURS = "node_hours"
BYTES = "bytes"
INODES = "inodes"
TIB = 1024**4
_LEADING_NUMBER = re.compile(r"^\s*(\d+)")


class _Job(Protocol):
    """What the ledger reads of a scheduler job (:class:`~facility_emulator.scheduler.JobRecord`)."""

    resource: str
    spec: dict[str, Any]
    started: float | None
    finished: float | None


class _Jobs(Protocol):
    def jobs(self) -> list[Any]: ...


@dataclass(frozen=True)
class CapabilityRecord:
    """Something an allocation pays for, and the resources whose jobs charge it."""

    key: str
    name: str
    units: tuple[str, ...]
    resources: tuple[str, ...] = ()
    description: str = ""

    @property
    def id(self) -> str:
        return stable_id("capability", self.key)


@dataclass
class ProjectRecord:
    """A project and its members."""

    name: str
    title: str
    description: str
    members: list[str]
    number: int
    last_modified: datetime = EPOCH_MODIFIED


@dataclass
class GrantRecord:
    """A project's allocation of one unit of one capability."""

    project: str
    capability: str
    unit: str
    allocation: float
    base_usage: float = 0.0

    @property
    def id(self) -> str:
        """The project allocation's id (one per project and capability, whatever the unit)."""
        return stable_id("project_allocation", f"{self.project}:{self.capability}")


CAPABILITIES = (
    CapabilityRecord("polaris", "Polaris compute nodes", (NODE_HOURS,), ("polaris",), "A100 GPU nodes"),
    CapabilityRecord("aurora", "Aurora compute nodes", (NODE_HOURS,), ("aurora",), "Intel GPU nodes"),
    CapabilityRecord("perlmutter-cpu", "Perlmutter CPU nodes", (NODE_HOURS,), ("perlmutter",)),
    CapabilityRecord("perlmutter-gpu", "Perlmutter GPU nodes", (NODE_HOURS,), ()),
    CapabilityRecord("eagle", "Eagle project storage", (BYTES, INODES), ("eagle",)),
)

#: (project, capability, unit, allocation, base usage)
GRANTS: tuple[tuple[str, str, str, float, float], ...] = (
    ("demo", "polaris", NODE_HOURS, 1000.0, 120.0),
    ("demo", "aurora", NODE_HOURS, 500.0, 0.0),
    ("demo", "perlmutter-cpu", NODE_HOURS, 2000.0, 250.0),
    ("demo", "perlmutter-gpu", NODE_HOURS, 1000.0, 100.0),
    ("demo", "eagle", BYTES, 10.0 * TIB, 1.5 * TIB),
    ("demo", "eagle", INODES, 1_000_000.0, 25_000.0),
    ("staff", "polaris", NODE_HOURS, 100.0, 40.0),
    ("staff", "perlmutter-cpu", NODE_HOURS, 200.0, 20.0),
)


def job_account(spec: Mapping[str, Any]) -> str:
    """The account a job charges, as its flavour recorded it ("" when it named none)."""
    attributes = spec.get("attributes")
    if isinstance(attributes, Mapping) and attributes.get("account"):
        return str(attributes["account"])
    return str(spec.get("account") or "")


def job_nodes(spec: Mapping[str, Any]) -> int:
    """The number of nodes a job held (1 when its record does not say)."""
    resources = spec.get("resources")
    candidates: list[Any] = []
    if isinstance(resources, Mapping):
        candidates.append(resources.get("node_count"))
    candidates += [spec.get(key) for key in ("nodes", "num_nodes", "node_count", "minimum_nodes")]
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        match = _LEADING_NUMBER.match(str(value)) if isinstance(value, str) else None
        if match and int(match.group(1)) > 0:
            return int(match.group(1))
    return 1


def node_hours(job: _Job) -> float:
    """What a finished job costs: nodes times its run time in whole seconds (rounded up)."""
    if job.started is None or job.finished is None:
        return 0.0
    seconds = math.ceil(max(0.0, job.finished - job.started))
    return job_nodes(job.spec) * seconds / 3600.0


class Ledger:
    """Projects, grants and usage of one emulator; thread safe."""

    def __init__(self, user: str, scheduler: _Jobs) -> None:
        self.user = user
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self.default_project = "demo"
        self.capabilities = {c.key: c for c in CAPABILITIES}
        self.projects = {
            "demo": ProjectRecord("demo", "Demo project", "The emulated user's own project", [user], 1001),
            "staff": ProjectRecord("staff", "Staff project", "A second project of the user", [user], 1002),
        }
        self.grants = [GrantRecord(*grant) for grant in GRANTS]

    # -- reading ----------------------------------------------------------------------------

    def project(self, key: str) -> ProjectRecord | None:
        """A project by name."""
        return self.projects.get(key)

    def capability_for(self, resource: str) -> CapabilityRecord | None:
        """The capability that jobs on ``resource`` charge."""
        return next((c for c in CAPABILITIES if resource in c.resources), None)

    def capabilities_of(self, resource: str) -> list[CapabilityRecord]:
        """The capabilities of a resource (what its ``capability_uris`` list)."""
        return [c for c in CAPABILITIES if resource in c.resources]

    def grants_of(self, project: str, capability: str | None = None) -> list[GrantRecord]:
        """A project's grants, optionally of one capability."""
        with self._lock:
            return [
                g
                for g in self.grants
                if g.project == project and (capability is None or g.capability == capability)
            ]

    def charges(self, jobs: Iterable[_Job] | None = None) -> dict[tuple[str, str], float]:
        """Node-hours charged by finished jobs, per (project, capability)."""
        found: dict[tuple[str, str], float] = {}
        for job in self._scheduler.jobs() if jobs is None else jobs:
            capability = self.capability_for(job.resource)
            if capability is None or NODE_HOURS not in capability.units or job.finished is None:
                continue
            project = job_account(job.spec) or self.default_project
            if project not in self.projects:
                continue
            key = (project, capability.key)
            found[key] = found.get(key, 0.0) + node_hours(job)
        return found

    def usage(self, grant: GrantRecord, charges: Mapping[tuple[str, str], float] | None = None) -> float:
        """What a grant has used: its base usage and, in node-hours, its jobs' charges."""
        if grant.unit != NODE_HOURS:
            return grant.base_usage
        charged = (self.charges() if charges is None else charges).get((grant.project, grant.capability), 0.0)
        return grant.base_usage + charged

    def snapshot(self) -> list[dict[str, Any]]:
        """Every grant with its usage (the admin view)."""
        charges = self.charges()
        with self._lock:
            grants = list(self.grants)
        return [
            {
                "project": g.project,
                "capability": g.capability,
                "unit": g.unit,
                "allocation": g.allocation,
                "base_usage": g.base_usage,
                "usage": self.usage(g, charges),
            }
            for g in grants
        ]

    # -- changing (admin) -------------------------------------------------------------------

    def set_grant(
        self,
        project: str,
        capability: str,
        *,
        unit: str = NODE_HOURS,
        allocation: float | None = None,
        base_usage: float | None = None,
    ) -> GrantRecord:
        """Change (or create) a grant's size or base usage; raises ``ValueError`` for an unknown
        project, capability or unit."""
        if project not in self.projects:
            raise ValueError(f"unknown project {project!r}; known: {sorted(self.projects)}")
        record = self.capabilities.get(capability)
        if record is None:
            raise ValueError(f"unknown capability {capability!r}; known: {sorted(self.capabilities)}")
        if unit not in record.units:
            raise ValueError(f"capability {capability!r} is counted in {list(record.units)}, not {unit!r}")
        for name, value in (("allocation", allocation), ("base_usage", base_usage)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise ValueError(f"{name} must be a number >= 0")
        with self._lock:
            grant = next(
                (g for g in self.grants if (g.project, g.capability, g.unit) == (project, capability, unit)),
                None,
            )
            if grant is None:
                grant = GrantRecord(project, capability, unit, float(allocation or 0.0))
                self.grants.append(grant)
            if allocation is not None:
                grant.allocation = float(allocation)
            if base_usage is not None:
                grant.base_usage = float(base_usage)
            return grant


@dataclass
class LedgerView:
    """A consistent reading of the ledger for one answer: grants with usage computed once."""

    ledger: Ledger
    charges: dict[tuple[str, str], float] = field(default_factory=dict)

    @classmethod
    def now(cls, ledger: Ledger) -> LedgerView:
        return cls(ledger, ledger.charges())

    def usage(self, grant: GrantRecord) -> float:
        return self.ledger.usage(grant, self.charges)

"""The allocation side of the status gate: is enough of the project's allocation left?

The gate operator, the resource sensor and its trigger take the same three optional arguments:

* ``min_remaining``: the least that must be left, a number in the allocation's unit (``50``
  node-hours) or a percentage of the grant (``"5%"``); None (the default) checks nothing;
* ``project``: the project (account) the jobs charge; needed when the connection's identity has
  several;
* ``capability``: which of the project's allocations to check (``"gpu"``, ``"polaris"``,
  ``"node-hours"``); by default every allocation counted in time.

The rule itself is :class:`facility_common.AllocationThreshold`. An API that cannot tell
allocations (Flux, FirecREST, S3M), a project the caller does not have or a capability no
allocation matches fails the task: waiting would never end, and passing would not check what the
DAG asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facility_common import (
    AllocationThreshold,
    AllocationVerdict,
    AsyncFacilityClient,
    ConfigurationError,
    FacilityClient,
    NotFoundError,
    UnsupportedOperation,
)

__all__ = ["FATAL_ALLOCATION_ERRORS", "AllocationGate"]

FATAL_ALLOCATION_ERRORS = (UnsupportedOperation, ConfigurationError, NotFoundError)
"""Errors of an allocation check that waiting cannot cure."""


@dataclass(frozen=True)
class AllocationGate:
    """A threshold and the project it applies to."""

    threshold: AllocationThreshold
    project: str | None = None
    min_remaining: float | str = 0.0

    @classmethod
    def from_arguments(
        cls, min_remaining: float | str | None, project: str | None = None, capability: str | None = None
    ) -> AllocationGate | None:
        """The gate of an operator's arguments, or None without ``min_remaining``; a bad value
        raises ConfigurationError naming it (when the DAG is parsed, not when it runs)."""
        if min_remaining is None:
            if project is not None or capability is not None:
                raise ConfigurationError("min_remaining: required when project or capability is given")
            return None
        if project is not None and (not isinstance(project, str) or not project.strip()):
            raise ConfigurationError("project: a non-empty project name is required")
        threshold = AllocationThreshold.parse(min_remaining, capability)
        return cls(threshold, project, min_remaining)

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this gate (for a trigger's ``serialize``)."""
        return {
            "min_remaining": self.min_remaining,
            "project": self.project,
            "capability": self.threshold.capability,
        }

    def check(self, client: FacilityClient) -> AllocationVerdict:
        """The verdict on what ``client``'s API reports now.

        :calls: the backend's ``allocations(project)``
        """
        allocations = client.allocations(self.project)
        return self.threshold.verdict(allocations, self.project, facility=client.facility)

    async def acheck(self, client: AsyncFacilityClient) -> AllocationVerdict:
        """:meth:`check` on the async client (for the triggerer)."""
        allocations = await client.allocations(self.project)
        return self.threshold.verdict(allocations, self.project, facility=client.facility)

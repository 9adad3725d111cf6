"""``FacilityResourceGateOperator``: skip instead of wait when a resource is not usable.

The same check as :class:`~airflow_facility.sensors.FacilityResourceSensor` (resource up or
degraded, no outage overlapping now..now+duration, and with ``min_remaining`` enough of the
project's allocation left), made once: when it fails the task is skipped, and with it every
downstream task whose trigger rule needs it to succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from ..allocation_gate import AllocationGate
from ..hooks.facility import FacilityHook

__all__ = ["FacilityResourceGateOperator"]


class FacilityResourceGateOperator(BaseOperator):
    """Succeed when ``resource`` is usable for ``duration``; skip otherwise.

    :param duration: the window that must be free of outages (a timedelta or seconds).
    :param min_remaining: also skip when the project's allocation has less than this left: a
        number in the allocation's unit (``50`` node-hours) or a percentage of the grant
        (``"5%"``); see :mod:`airflow_facility.allocation_gate`. None (default) checks no allocation.
    :param project: the project the jobs charge (needed when the identity has several).
    :param capability: which allocation to check (``"gpu"``, ``"polaris"``); default: all
        allocations counted in time.
    """

    template_fields: Sequence[str] = ("resource", "project")

    def __init__(
        self,
        *,
        facility_conn_id: str,
        resource: str,
        duration: timedelta | float = timedelta(hours=1),
        min_remaining: float | str | None = None,
        project: str | None = None,
        capability: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.facility_conn_id = facility_conn_id
        self.resource = resource
        self.duration = duration if isinstance(duration, timedelta) else timedelta(seconds=float(duration))
        self.min_remaining = min_remaining
        self.project = project
        self.capability = capability
        AllocationGate.from_arguments(min_remaining, project, capability)  # refuse bad values now

    @cached_property
    def hook(self) -> FacilityHook:
        """The hook of ``facility_conn_id``, kept for the task's lifetime (one client per try)."""
        return FacilityHook(facility_conn_id=self.facility_conn_id)

    def execute(self, context: Context) -> bool:
        client = self.hook.get_conn()
        if not client.is_available(self.resource, self.duration):
            raise AirflowSkipException(
                f"{self.resource} is down or has an outage within the next {self.duration}; skipping"
            )
        self.log.info("%s is available for the next %s", self.resource, self.duration)
        gate = AllocationGate.from_arguments(self.min_remaining, self.project, self.capability)
        if gate is not None:
            verdict = gate.check(client)
            if not verdict.ok:
                raise AirflowSkipException(f"{verdict.message}; skipping")
            self.log.info("allocation: %s", verdict.message)
        return True

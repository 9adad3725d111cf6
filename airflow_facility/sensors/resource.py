"""``FacilityResourceSensor``: hold a run while a resource is down or an outage is near.

It passes once the resource is up or degraded and no planned or current outage overlaps
now..now+``duration`` (set ``duration`` to the walltime of the jobs that follow) and, with
``min_remaining``, the project's allocation has at least that much left (see
:mod:`airflow_facility.allocation_gate`). Deferrable mode waits in the triggerer through
:class:`~airflow_facility.triggers.FacilityResourceTrigger`.
For "skip instead of wait", use :class:`~airflow_facility.operators.FacilityResourceGateOperator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException

from facility_common import FacilityClient, FacilityError

from ..allocation_gate import FATAL_ALLOCATION_ERRORS, AllocationGate
from ..hooks.facility import FacilityHook
from ..triggers.resource import FacilityResourceTrigger

__all__ = ["FacilityResourceSensor"]


class FacilityResourceSensor(BaseSensorOperator):
    """Wait until ``resource`` is usable for the next ``duration`` (and, with ``min_remaining``,
    until the project's allocation has that much left; ``project`` and ``capability`` as for
    :class:`~airflow_facility.operators.FacilityResourceGateOperator`)."""

    template_fields: Sequence[str] = ("resource", "project")

    def __init__(
        self,
        *,
        facility_conn_id: str,
        resource: str,
        duration: timedelta | float = timedelta(hours=1),
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        min_remaining: float | str | None = None,
        project: str | None = None,
        capability: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.facility_conn_id = facility_conn_id
        self.resource = resource
        self.duration = duration if isinstance(duration, timedelta) else timedelta(seconds=float(duration))
        self.deferrable = deferrable
        self.min_remaining = min_remaining
        self.project = project
        self.capability = capability
        AllocationGate.from_arguments(min_remaining, project, capability)  # refuse bad values now

    @cached_property
    def hook(self) -> FacilityHook:
        """The hook of ``facility_conn_id``, kept for the task's lifetime (one client per try)."""
        return FacilityHook(facility_conn_id=self.facility_conn_id)

    def poke(self, context: Context) -> bool:
        client = self.hook.get_conn()
        try:
            available = client.is_available(self.resource, self.duration)
        except FacilityError as exc:
            self.log.warning("status of %s could not be read (%s); trying again", self.resource, exc)
            return False
        if not available:
            self.log.info(
                "%s is down or has an outage within the next %s; waiting", self.resource, self.duration
            )
            return False
        return self._allocation_left(client)

    def _gate(self) -> AllocationGate | None:
        return AllocationGate.from_arguments(self.min_remaining, self.project, self.capability)

    def _allocation_left(self, client: FacilityClient) -> bool:
        """True without ``min_remaining`` or when enough is left; a check that cannot succeed
        (no allocations in this API, an unknown project) fails the task."""
        gate = self._gate()
        if gate is None:
            return True
        try:
            verdict = gate.check(client)
        except FATAL_ALLOCATION_ERRORS as exc:
            raise AirflowException(
                f"the allocation of {self.project or 'the project'} cannot be checked: {exc}"
            ) from exc
        except FacilityError as exc:
            self.log.warning("allocations could not be read (%s); trying again", exc)
            return False
        if not verdict.ok:
            self.log.info("%s; waiting", verdict.message)
        return verdict.ok

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        self.defer(
            trigger=FacilityResourceTrigger(
                facility_conn_id=self.facility_conn_id,
                resource=self.resource,
                duration=self.duration.total_seconds(),
                poll_interval=float(self.poke_interval),
                **(gate.arguments() if (gate := self._gate()) is not None else {}),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)) if self.timeout else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Resume after the trigger fired: the resource is available, or the wait failed."""
        if not isinstance(event, dict) or event.get("status") not in ("available", "error"):
            raise AirflowException(f"unexpected trigger event: {event!r}")
        if event["status"] == "error":
            raise AirflowException(f"waiting for {self.resource} failed: {event.get('message')}")
        self.log.info("%s is available for the next %s", self.resource, self.duration)
        if event.get("allocation"):
            self.log.info("allocation: %s", event["allocation"])

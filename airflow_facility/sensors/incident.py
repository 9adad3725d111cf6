"""``FacilityIncidentSensor``: hold a run until an outage (an IRI incident, a planned outage, a
maintenance reservation) has ended.

It passes once :meth:`~facility_common.Outage.has_ended` holds for the outage read by id
(:meth:`~facility_common.FacilityClient.outage`), or once the facility stops listing an outage it
showed before. Deferrable mode waits in the triggerer through
:class:`~airflow_facility.triggers.FacilityIncidentTrigger`. To wait for a resource to be usable
whatever the incident, use :class:`~airflow_facility.sensors.FacilityResourceSensor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException

from facility_common import FacilityError, NotFoundError

from ..hooks.facility import FacilityHook
from ..triggers.incident import FacilityIncidentTrigger

__all__ = ["FacilityIncidentSensor"]


class FacilityIncidentSensor(BaseSensorOperator):
    """Wait until the outage ``incident_id`` has ended.

    :param incident_id: the outage's id (IRI: the incident id of ``/status/incidents``).
    :param resource: the resource the outage concerns; narrows the look-up on APIs without a call
        for one outage.
    :param missing_is_ended: whether an outage the facility does not show at the first look counts
        as ended (on APIs that list only current and coming outages, an outage that just ended
        is no longer shown); by default that fails the task, since the id may be mistyped.
    """

    template_fields: Sequence[str] = ("incident_id", "resource")

    def __init__(
        self,
        *,
        facility_conn_id: str,
        incident_id: str,
        resource: str | None = None,
        missing_is_ended: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.facility_conn_id = facility_conn_id
        self.incident_id = incident_id
        self.resource = resource
        self.missing_is_ended = missing_is_ended
        self.deferrable = deferrable
        self._seen = False

    @cached_property
    def hook(self) -> FacilityHook:
        """The hook of ``facility_conn_id``, kept for the task's lifetime (one client per try)."""
        return FacilityHook(facility_conn_id=self.facility_conn_id)

    def poke(self, context: Context) -> bool:
        client = self.hook.get_conn()
        try:
            outage = client.outage(self.incident_id, self.resource)
        except NotFoundError as exc:
            if self._seen or self.missing_is_ended:
                self.log.info("outage %s is no longer listed: it has ended", self.incident_id)
                return True
            raise AirflowException(f"outage {self.incident_id}: {exc}") from None
        except FacilityError as exc:
            self.log.warning("outage %s could not be read (%s); trying again", self.incident_id, exc)
            return False
        self._seen = True
        if outage.has_ended():
            self.log.info("outage %s (%s) has ended", self.incident_id, outage.name)
            return True
        self.log.info("outage %s (%s) is not over yet", self.incident_id, outage.name)
        return False

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        self.defer(
            trigger=FacilityIncidentTrigger(
                facility_conn_id=self.facility_conn_id,
                incident_id=self.incident_id,
                resource=self.resource,
                poll_interval=float(self.poke_interval),
                seen=self._seen,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)) if self.timeout else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Resume after the trigger fired: the outage has ended, or the wait failed."""
        if not isinstance(event, dict) or event.get("status") not in ("ended", "error"):
            raise AirflowException(f"unexpected trigger event: {event!r}")
        if event["status"] == "error":
            raise AirflowException(f"waiting for outage {self.incident_id} failed: {event.get('message')}")
        self.log.info("outage %s has ended", self.incident_id)

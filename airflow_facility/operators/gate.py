"""``FacilityResourceGateOperator``: skip instead of wait when a resource is not usable.

The same check as :class:`~airflow_facility.sensors.FacilityResourceSensor` (resource up or
degraded, no outage overlapping now..now+duration), made once: when it fails the task is skipped,
and with it every downstream task whose trigger rule needs it to succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from ..hooks.facility import FacilityHook

__all__ = ["FacilityResourceGateOperator"]


class FacilityResourceGateOperator(BaseOperator):
    """Succeed when ``resource`` is usable for ``duration``; skip otherwise.

    :param duration: the window that must be free of outages (a timedelta or seconds).
    """

    template_fields: Sequence[str] = ("resource",)

    def __init__(
        self,
        *,
        facility_conn_id: str,
        resource: str,
        duration: timedelta | float = timedelta(hours=1),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.facility_conn_id = facility_conn_id
        self.resource = resource
        self.duration = duration if isinstance(duration, timedelta) else timedelta(seconds=float(duration))
        self._hook: FacilityHook | None = None

    @property
    def hook(self) -> FacilityHook:
        """The hook of ``facility_conn_id``, kept for the task's lifetime (one client per try)."""
        if self._hook is None:
            self._hook = FacilityHook(facility_conn_id=self.facility_conn_id)
        return self._hook

    def execute(self, context: Context) -> bool:
        client = self.hook.get_conn()
        if not client.is_available(self.resource, self.duration):
            raise AirflowSkipException(
                f"{self.resource} is down or has an outage within the next {self.duration}; skipping"
            )
        self.log.info("%s is available for the next %s", self.resource, self.duration)
        return True

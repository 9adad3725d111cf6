"""``FacilityJobSensor``: wait for a job that was submitted elsewhere (another task, a user).

Poke mode asks for the job's state each ``poke_interval``; deferrable mode hands the wait to
:class:`~airflow_facility.triggers.FacilityJobTrigger`. A job that ends in any state but
COMPLETED fails the sensor with its native state and stderr tail in the log.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException

from ..hooks.facility import FacilityHook
from ..outcome import finish_job
from ..payloads import job_from_payload
from ..triggers.job import FacilityJobTrigger

__all__ = ["FacilityJobSensor"]


class FacilityJobSensor(BaseSensorOperator):
    """Wait until job ``job_id`` on ``resource`` ends; succeed only if it COMPLETED."""

    template_fields: Sequence[str] = ("resource", "job_id")

    def __init__(
        self,
        *,
        facility_conn_id: str,
        resource: str,
        job_id: str,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        stderr_tail_lines: int = 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.facility_conn_id = facility_conn_id
        self.resource = resource
        self.job_id = job_id
        self.deferrable = deferrable
        self.stderr_tail_lines = stderr_tail_lines

    @cached_property
    def hook(self) -> FacilityHook:
        """The hook of ``facility_conn_id``, kept for the task's lifetime (one client per try)."""
        return FacilityHook(facility_conn_id=self.facility_conn_id)

    def poke(self, context: Context) -> bool:
        client = self.hook.get_conn()
        [job] = client.poll_jobs(self.resource, [str(self.job_id)])
        self.log.info("job %s: %s (%s)", job.id, job.state.value, job.native_state)
        if not job.is_terminal:
            return False
        finish_job(client, job, tail_lines=self.stderr_tail_lines, log=self.log)
        return True

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        deadline = time.time() + float(self.timeout) if self.timeout is not None else None
        self.defer(
            trigger=FacilityJobTrigger(
                facility_conn_id=self.facility_conn_id,
                resource=self.resource,
                job_id=str(self.job_id),
                poll_interval=float(self.poke_interval),
                deadline=deadline,
                cancel_on_kill=False,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Resume after the trigger fired; fail unless the job completed."""
        if not isinstance(event, dict) or event.get("status") not in ("terminal", "timeout", "error"):
            raise AirflowException(f"unexpected trigger event: {event!r}")
        if event["status"] != "terminal":
            raise AirflowException(f"waiting for job {self.job_id} failed: {event.get('message')}")
        try:
            job = job_from_payload(event.get("job"))
        except ValueError as exc:
            raise AirflowException(f"unexpected trigger event: {exc}") from exc
        client = self.hook.get_conn()
        finish_job(client, job, tail_lines=self.stderr_tail_lines, log=self.log)

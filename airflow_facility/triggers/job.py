"""``FacilityJobTrigger``: wait in the triggerer until a facility job ends.

Every trigger of one connection on the triggerer's event loop uses the same async client
(:func:`~airflow_facility.hooks.facility.shared_async_client`), and polls through the client's
shared :class:`~facility_common.StatusPoller` with ``max_age`` equal to its interval: a hundred
deferred tasks waiting on one resource cost one batched status request per interval, not a hundred.

With ``finish_on_success`` (the submit operator's choice) a COMPLETED job ends the task from here,
with a ``TaskSuccessEvent`` carrying the job as the task's return value: the task does not resume
on a worker, which saves a worker slot and leaves no window for Airflow's race between a quickly
fired trigger and the executor's report of the deferral (apache/airflow#72716, #71580, which
fails the resumed task). Any other outcome resumes the task, whose ``execute_complete`` shows the
job's stderr and records what it saw.

Airflow 3.3 calls a trigger's ``on_kill`` when a user marks the deferred task failed or success,
or clears it. The trigger asks Airflow which it was: a task marked **success** means "treat it as
done", so its job is left running; a task marked failed or cleared gets its job cancelled (a
cleared task runs a new job, see :mod:`airflow_facility.attach`). When the task's state cannot be
read, the job is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from facility_common import FacilityError, JobState

from ..hooks.facility import shared_async_client
from ..payloads import event, job_payload
from .ending import EndingTrigger
from .killed import deferred_task_state, keep_on_kill_work

__all__ = ["FacilityJobTrigger"]


class FacilityJobTrigger(EndingTrigger):
    """Yield one event when the job is terminal, when ``deadline`` passes, or on an error.

    Event payloads: ``{"status": "terminal", "job": {...}}``, ``{"status": "timeout", "job": {...},
    "message"}``, ``{"status": "error", "message"}``.

    :param facility_conn_id: the facility connection.
    :param resource: the compute resource the job runs on.
    :param job_id: the facility's job id.
    :param poll_interval: seconds between status rounds (shared by all waits on the resource).
    :param deadline: a UNIX time after which the wait gives up with a ``timeout`` event.
    :param cancel_on_kill: cancel the job when a user marks the deferred task failed or clears
        it (never on a triggerer restart, which only stops this trigger, nor when a user marks the
        task success).
    :param first_poll_at: a UNIX time before which the trigger does not ask (the operator has
        just asked); the wait starts at once when it is past, as after a triggerer restart.
    :param finish_on_success: end the task here when the job COMPLETED (see the module).
    :param push_return_value: with ``finish_on_success``, push the job as the return value.
    """

    serialized_fields: ClassVar[tuple[str, ...]] = (
        "facility_conn_id",
        "resource",
        "job_id",
        *EndingTrigger.ending_fields,
    )

    def __init__(
        self,
        facility_conn_id: str,
        resource: str,
        job_id: str,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        cancel_on_kill: bool = True,
        first_poll_at: float | None = None,
        finish_on_success: bool = False,
        push_return_value: bool = True,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        # Stored as primitives and checked now: a bad value must fail in the worker that
        # defers, not later in the triggerer where nobody reads the traceback.
        if not isinstance(facility_conn_id, str) or not facility_conn_id:
            raise ValueError("facility_conn_id: a connection id is required")
        if not isinstance(resource, str) or not resource:
            raise ValueError("resource: a resource name is required")
        if not isinstance(job_id, str) or not job_id:
            raise ValueError("job_id: a job id string is required")
        self._set_ending(
            poll_interval, deadline, cancel_on_kill, first_poll_at, finish_on_success, push_return_value
        )
        self.facility_conn_id = facility_conn_id
        self.resource = resource
        self.job_id = job_id

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll through the shared poller until the job ends or the deadline passes."""
        try:
            client, _ = await shared_async_client(self.facility_conn_id)
        except FacilityError as exc:
            yield event({"status": "error", "message": str(exc)})
            return
        await self._until_first_poll()
        last_state = None
        while True:
            [job] = await client.poll_jobs(self.resource, [self.job_id], max_age=self.poll_interval)
            if job.state != last_state:
                self.log.info(
                    "job %s on %s: %s (%s)", job.id, self.resource, job.state.value, job.native_state
                )
                last_state = job.state
            ending = self._ending(
                "job",
                job_payload(job),
                succeeded=job.is_terminal and job.state == JobState.COMPLETED,
                terminal=job.is_terminal,
                still=f"job {job.id} still {job.state.value}",
            )
            if ending is not None:
                if isinstance(ending, TaskSuccessEvent):
                    self.log.info(
                        "job %s on %s completed (exit code %s)", job.id, self.resource, job.exit_code
                    )
                yield ending
                return
            await asyncio.sleep(self.poll_interval)

    async def on_kill(self) -> None:
        """Cancel the job, unless the user marked the deferred task success (see the module)."""
        if not self.cancel_on_kill:
            return
        await keep_on_kill_work(asyncio.ensure_future(self._settle_killed_job()))

    async def _settle_killed_job(self) -> None:
        state = await deferred_task_state(self)
        if state == "success":
            self.log.info(
                "the task was marked success: job %s on %s is left running", self.job_id, self.resource
            )
            return
        self.log.info("cancelling job %s on %s (the task is now %s)", self.job_id, self.resource, state)
        try:
            client, _ = await shared_async_client(self.facility_conn_id)
            await client.cancel(self.resource, self.job_id)
        except FacilityError as exc:
            self.log.warning("cancelling job %s failed: %s", self.job_id, exc)

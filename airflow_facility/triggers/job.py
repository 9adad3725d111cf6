"""``FacilityJobTrigger``: wait in the triggerer until a facility job ends.

Every trigger of one connection on the triggerer's event loop uses the same async client
(:func:`~airflow_facility.hooks.facility.shared_async_client`), and polls through the client's
shared :class:`~facility_common.StatusPoller` with ``max_age`` equal to its interval: a hundred
deferred tasks waiting on one resource cost one batched status request per interval, not a hundred.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from facility_common import FacilityError

from ..hooks.facility import shared_async_client
from ..payloads import event, job_payload

__all__ = ["FacilityJobTrigger"]


class FacilityJobTrigger(BaseTrigger):
    """Yield one event when the job is terminal, when ``deadline`` passes, or on an error.

    Event payloads: ``{"status": "terminal", "job": {...}}``, ``{"status": "timeout", "job": {...},
    "message"}``, ``{"status": "error", "message"}``.

    :param facility_conn_id: the facility connection.
    :param resource: the compute resource the job runs on.
    :param job_id: the facility's job id.
    :param poll_interval: seconds between status rounds (shared by all waits on the resource).
    :param deadline: a UNIX time after which the wait gives up with a ``timeout`` event.
    :param cancel_on_kill: cancel the job when a user kills the deferred task (never on a
        triggerer restart, which only stops this trigger).
    """

    def __init__(
        self,
        facility_conn_id: str,
        resource: str,
        job_id: str,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        cancel_on_kill: bool = True,
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
        if float(poll_interval) <= 0:
            raise ValueError("poll_interval: must be positive")
        self.facility_conn_id = facility_conn_id
        self.resource = resource
        self.job_id = job_id
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline) if deadline is not None else None
        self.cancel_on_kill = bool(cancel_on_kill)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and the keyword arguments that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "facility_conn_id": self.facility_conn_id,
                "resource": self.resource,
                "job_id": self.job_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll through the shared poller until the job ends or the deadline passes."""
        try:
            client, _ = await shared_async_client(self.facility_conn_id)
        except FacilityError as exc:
            yield event({"status": "error", "message": str(exc)})
            return
        last_state = None
        while True:
            [job] = await client.poll_jobs(self.resource, [self.job_id], max_age=self.poll_interval)
            if job.state != last_state:
                self.log.info(
                    "job %s on %s: %s (%s)", job.id, self.resource, job.state.value, job.native_state
                )
                last_state = job.state
            if job.is_terminal:
                yield event({"status": "terminal", "job": job_payload(job)})
                return
            if self.deadline is not None and time.time() >= self.deadline:
                yield event(
                    {
                        "status": "timeout",
                        "job": job_payload(job),
                        "message": f"job {job.id} still {job.state.value} at the deadline",
                    }
                )
                return
            await asyncio.sleep(self.poll_interval)

    async def on_kill(self) -> None:
        """Cancel the job: a user marked the deferred task failed or success, or cleared it."""
        if not self.cancel_on_kill:
            return
        client, _ = await shared_async_client(self.facility_conn_id)
        self.log.info("cancelling job %s on %s", self.job_id, self.resource)
        await client.cancel(self.resource, self.job_id)

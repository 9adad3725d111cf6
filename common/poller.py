"""The shared, batched job-status poller.

One :class:`StatusPoller` serves every waiter of one (client, resource): the Parsl provider's
``status()`` and all Airflow triggers of a triggerer process. However many jobs are watched, a
refresh costs one ``list_jobs`` call (the API's cheapest batched call), and concurrent callers that
arrive while a refresh is in flight, or within ``max_age`` of the last one, share its answer.

Two facility habits are absorbed here rather than in every caller:

* a job may be invisible for a while right after submit (status caches): within ``grace`` seconds
  of being first watched, a job the API does not report is PENDING, not lost;
* a status call may fail (throttling, a gateway blip): the round keeps each job's last known state
  and records the error instead of failing every waiter.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import anyio

from .errors import FacilityError, NotFoundError, WaitTimeout
from .models import Job, JobState

if TYPE_CHECKING:
    from .client import AsyncFacilityClient

__all__ = ["StatusPoller", "TrackedJob"]

logger = logging.getLogger("facility_common.poller")

FALLBACK_CONCURRENCY = 8


@dataclasses.dataclass
class TrackedJob:
    """What the poller knows of one job."""

    job_id: str
    first_watched: float
    job: Job | None = None
    last_error: str | None = None

    def view(self, resource: str, grace: float, now: float) -> Job:
        """The job as callers should see it now (synthesised while it is not yet visible)."""
        if self.job is not None:
            return self.job
        within_grace = now - self.first_watched <= grace
        return Job(
            id=self.job_id,
            resource=resource,
            state=JobState.PENDING if within_grace else JobState.UNKNOWN,
            message=self.last_error or ("not yet visible" if within_grace else "not reported by the API"),
        )


class StatusPoller:
    """Batched status for the jobs of one resource, shared by every waiter of a client."""

    def __init__(
        self,
        client: AsyncFacilityClient,
        resource: str,
        *,
        interval: float = 5.0,
        grace: float = 120.0,
    ) -> None:
        self.client = client
        self.resource = resource
        self.interval = interval
        self.grace = grace
        self._jobs: dict[str, TrackedJob] = {}
        self._lock = anyio.Lock()
        self._last_refresh = float("-inf")
        self.requests = 0
        """How many refresh rounds reached the API (for tests and benchmarks)."""

    @classmethod
    def shared(cls, client: AsyncFacilityClient, resource: str, **options: float) -> StatusPoller:
        """The poller of ``client`` for ``resource``, created on first use."""
        pollers = client._pollers
        poller = pollers.get(resource)
        if poller is None:
            poller = pollers[resource] = cls(client, resource, **options)
        return poller

    def watch(self, job_ids: Sequence[str]) -> None:
        """Start tracking ``job_ids`` (the grace period starts now for new ones)."""
        now = time.monotonic()
        for job_id in job_ids:
            if job_id not in self._jobs:
                self._jobs[job_id] = TrackedJob(job_id=job_id, first_watched=now)

    def forget(self, job_ids: Sequence[str]) -> None:
        """Stop tracking ``job_ids``."""
        for job_id in job_ids:
            self._jobs.pop(job_id, None)

    async def refresh(self, job_ids: Sequence[str], *, max_age: float = 0.0) -> dict[str, Job]:
        """Return the current view of ``job_ids``, in order of the argument.

        A new ``list_jobs`` round is made only if the last one ended ``max_age`` seconds or more
        before this call and some watched job is not terminal; callers arriving during a round
        wait for it. Age counts from a round's end: waiters answered at the end of a slow round
        and sleeping one interval must find the next round due, not start an extra one.
        """
        self.watch(job_ids)
        requested_at = time.monotonic()
        async with self._lock:
            if self._last_refresh <= requested_at - max_age:
                try:
                    await self._poll()
                finally:
                    self._last_refresh = time.monotonic()
        now = time.monotonic()
        return {job_id: self._jobs[job_id].view(self.resource, self.grace, now) for job_id in job_ids}

    async def _poll(self) -> None:
        pending = [t.job_id for t in self._jobs.values() if t.job is None or not t.job.is_terminal]
        if not pending:
            return
        self.requests += 1
        try:
            reported = await self.client.list_jobs(self.resource, pending)
        except FacilityError as exc:
            logger.warning("status round for %s failed, keeping last states: %s", self.resource, exc)
            for job_id in pending:
                self._jobs[job_id].last_error = str(exc)
            return
        by_id = {job.id: job for job in reported}
        now = time.monotonic()
        overdue: list[str] = []
        for job_id in pending:
            tracked = self._jobs[job_id]
            job = by_id.get(job_id)
            if job is not None:
                tracked.job, tracked.last_error = job, None
            elif tracked.job is None and now - tracked.first_watched > self.grace:
                overdue.append(job_id)
        if overdue:
            await self._fetch_individually(overdue)

    async def _fetch_individually(self, job_ids: list[str]) -> None:
        """Ask one by one for jobs the list call left out past their grace period (some list
        calls are known to drop jobs); bounded concurrency keeps the API unharmed."""
        limiter = anyio.CapacityLimiter(FALLBACK_CONCURRENCY)

        async def fetch(job_id: str) -> None:
            async with limiter:
                tracked = self._jobs[job_id]
                try:
                    tracked.job = await self.client.get_job(self.resource, job_id)
                    tracked.last_error = None
                except NotFoundError as exc:
                    tracked.last_error = f"not found: {exc}"
                except FacilityError as exc:
                    tracked.last_error = str(exc)

        async with anyio.create_task_group() as group:
            for job_id in job_ids:
                group.start_soon(fetch, job_id)

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        interval: float | None = None,
        on_update: Callable[[Job], None] | None = None,
    ) -> Job:
        """Wait until ``job_id`` is terminal and return it; WaitTimeout after ``timeout`` s.

        ``interval`` (default: the poller's) is how stale an answer may be; waiters of one poller
        share its rounds, so a thousand waits cost one request per interval.
        """
        interval = self.interval if interval is None else interval
        deadline = None if timeout is None else time.monotonic() + timeout
        last_state: JobState | None = None
        while True:
            job = (await self.refresh([job_id], max_age=interval))[job_id]
            if on_update is not None and job.state != last_state:
                on_update(job)
            last_state = job.state
            if job.is_terminal:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"job {job_id} still {job.state.value} after {timeout} s",
                    facility=self.client.facility,
                    resource=self.resource,
                )
            pause = interval
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            await anyio.sleep(pause)

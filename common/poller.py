"""The shared, batched job-status poller.

One :class:`StatusPoller` serves every waiter of one (client, resource): the Parsl provider's
``status()`` and all Airflow triggers of a triggerer process. However many jobs are watched, a
refresh costs one ``list_jobs`` call (the API's cheapest batched call), and concurrent callers that
arrive while a refresh is in flight, or within ``max_age`` of the last one, share its answer.

The poller depends only on :class:`JobLister` (``facility``, ``list_jobs``, ``get_job``), not on the
client. Facility habits are absorbed here rather than in every caller:

* a job may be invisible for a while right after submit (status caches): within ``grace`` seconds
  of being first watched, a job the API does not report is PENDING, not lost;
* a listing may leave a job out although the job exists: the server ignores the id filter and
  answers one page of everyone's jobs, or the job finished and was purged from the live listing.
  Such jobs are asked about one by one in the same round (bounded concurrency): at once when the
  server has shown that it ignores the filter (learnt once per poller) or the job was seen before,
  and after ``grace`` otherwise. A job the API no longer knows at all ends the wait with
  :class:`NotFoundError`; its view says why, and never keeps claiming RUNNING;
* a status call may fail (throttling, a gateway blip): the round asks the jobs one by one instead,
  and when that fails too keeps each job's last known state with the error, so waiters do not
  fail on a blip; a wait that times out says what the server last answered.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import anyio

from .errors import FacilityError, NotFoundError, WaitTimeout
from .models import Job, JobState

__all__ = ["JobLister", "StatusPoller", "TrackedJob"]

logger = logging.getLogger("facility_common.poller")

FALLBACK_CONCURRENCY = 8


class JobLister(Protocol):
    """What the poller needs of a client: the batched listing and the single look-up."""

    @property
    def facility(self) -> str: ...

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]: ...

    async def get_job(self, resource: str, job_id: str) -> Job: ...


@dataclasses.dataclass
class TrackedJob:
    """What the poller knows of one job."""

    job_id: str
    first_watched: float
    job: Job | None = None
    last_error: str | None = None
    missing_since: float | None = None
    """When the API was first found not to know the job at all (NotFound on the single look-up)."""

    def view(self, resource: str, grace: float, now: float) -> Job:
        """The job as callers should see it now (synthesised while it is not yet visible)."""
        if self.missing_since is not None and self.job is not None and not self.job.is_terminal:
            return dataclasses.replace(
                self.job,
                state=JobState.UNKNOWN,
                message=f"no longer reported by the facility (last seen {self.job.state.value})",
            )
        if self.job is not None:
            return self.job
        within_grace = now - self.first_watched <= grace
        return Job(
            id=self.job_id,
            resource=resource,
            state=JobState.PENDING if within_grace else JobState.UNKNOWN,
            message=self.last_error or ("not yet visible" if within_grace else "not reported by the API"),
        )

    def gone(self, grace: float, now: float) -> bool:
        """Whether the API has shown, past the grace period, that it does not know the job."""
        if self.missing_since is None:
            return False
        if self.job is None:
            return now - self.first_watched > grace
        return now - self.missing_since > grace


class StatusPoller:
    """Batched status for the jobs of one resource, shared by every waiter of a client."""

    def __init__(
        self,
        client: JobLister,
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
        self.filter_ignored = False
        """Learnt: the API's listing answered jobs that were not asked for while leaving out asked
        ones (it ignores the id filter), so left-out jobs are asked about at once."""
        self.requests = 0
        """How many refresh rounds reached the API (for tests and benchmarks)."""

    @classmethod
    def shared(cls, client: JobLister, resource: str, **options: float) -> StatusPoller:
        """The poller of ``client`` for ``resource``, created on first use (kept in the client's
        ``pollers`` mapping when it has one)."""
        pollers: dict[str, StatusPoller] | None = getattr(client, "pollers", None)
        if pollers is None:
            return cls(client, resource, **options)
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

        A new round is made only if the last one ended ``max_age`` seconds or more before this
        call and some watched job is not terminal; callers arriving during a round wait for it.
        Age counts from a round's end: waiters answered at the end of a slow round and sleeping
        one interval must find the next round due, not start an extra one.
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

    def _live(self) -> list[str]:
        return [
            t.job_id
            for t in self._jobs.values()
            if (t.job is None or not t.job.is_terminal) and not t.gone(self.grace, time.monotonic())
        ]

    async def _poll(self) -> None:
        pending = self._live()
        if not pending:
            return
        self.requests += 1
        try:
            reported = await self.client.list_jobs(self.resource, pending)
        except FacilityError as exc:
            logger.warning("status round for %s failed, asking job by job: %s", self.resource, exc)
            for job_id in pending:
                self._jobs[job_id].last_error = str(exc)
            await self._fetch_individually(pending)
            return
        by_id = {job.id: job for job in reported}
        if set(by_id) - set(pending) and set(pending) - set(by_id) and not self.filter_ignored:
            logger.info(
                "the %s listing ignores its id filter; asking left-out jobs one by one", self.resource
            )
            self.filter_ignored = True
        now = time.monotonic()
        left_out: list[str] = []
        for job_id in pending:
            tracked = self._jobs[job_id]
            job = by_id.get(job_id)
            if job is not None:
                tracked.job, tracked.last_error, tracked.missing_since = job, None, None
            elif self.filter_ignored or tracked.job is not None or now - tracked.first_watched > self.grace:
                left_out.append(job_id)
        if left_out:
            await self._fetch_individually(left_out)

    async def _fetch_individually(self, job_ids: list[str]) -> None:
        """Ask one by one for jobs the list call left out or could not answer; bounded
        concurrency keeps the API unharmed."""
        limiter = anyio.CapacityLimiter(FALLBACK_CONCURRENCY)

        async def fetch(job_id: str) -> None:
            async with limiter:
                tracked = self._jobs[job_id]
                try:
                    job = await self.client.get_job(self.resource, job_id)
                except NotFoundError as exc:
                    tracked.last_error = f"not found: {exc}"
                    if tracked.missing_since is None:
                        tracked.missing_since = time.monotonic()
                    return
                except FacilityError as exc:
                    tracked.last_error = str(exc)
                    return
                tracked.job, tracked.last_error, tracked.missing_since = job, None, None

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
        """Wait until ``job_id`` is terminal and return it.

        Raises :class:`WaitTimeout` after ``timeout`` seconds (saying what the server last
        answered, when a status call failed) and :class:`NotFoundError` once the facility has
        shown past the grace period that it does not know the job. ``interval`` (default: the
        poller's) is how stale an answer may be; waiters of one poller share its rounds, so a
        thousand waits cost one request per interval.
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
            tracked = self._jobs.get(job_id)
            if tracked is not None and tracked.gone(self.grace, time.monotonic()):
                raise NotFoundError(
                    f"job {job_id} is not known to the facility on {self.resource} "
                    f"({tracked.last_error or 'not listed and not found'})",
                    facility=self.client.facility,
                    resource=self.resource,
                )
            if deadline is not None and time.monotonic() >= deadline:
                said = (
                    f"; the last status call failed: {tracked.last_error}"
                    if tracked and tracked.last_error
                    else ""
                )
                raise WaitTimeout(
                    f"job {job_id} still {job.state.value} after {timeout} s{said}",
                    facility=self.client.facility,
                    resource=self.resource,
                )
            pause = interval
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            await anyio.sleep(pause)

"""A job the API reported once and then no longer knows is gone, never PENDING again: the
"not yet visible" grace covers only jobs the API has not reported yet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from facility_common import AsyncFacilityClient, Job, JobSpec, JobState, NotFoundError
from facility_common.backends.base import Capability, FacilityBackend


class Purging(FacilityBackend):
    """Submits into a dict; lists and gets from it; the test purges entries."""

    name = "purging"
    capabilities: ClassVar[frozenset[str]] = frozenset({Capability.JOBS})

    def __init__(self, **values: Any) -> None:
        super().__init__(base_url="https://purging.example", **values)
        self._guard = self.submit_guard()
        self.jobs: dict[str, JobState] = {}

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        self.jobs["1"] = JobState.RUNNING
        return self._guard.memory.submitted(Job(id="1", resource=resource, state=JobState.PENDING))

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        return [Job(id=i, resource=resource, state=s) for i, s in self.jobs.items() if i in (job_ids or [])]

    async def get_job(self, resource: str, job_id: str) -> Job:
        if job_id in self.jobs:
            return Job(id=job_id, resource=resource, state=self.jobs[job_id])
        pending = self._guard.memory.pending_view(resource, job_id)
        if pending is None:
            raise NotFoundError(f"job {job_id} not found", facility=self.name)
        return pending


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_job_not_reported_yet_is_pending_within_the_grace() -> None:
    backend = Purging()
    client = AsyncFacilityClient(backend)
    job = await client.submit("r", JobSpec(executable="/bin/true"))
    backend.jobs.clear()  # the API does not show it yet
    assert (await client.get_job("r", job.id)).state is JobState.PENDING


@pytest.mark.anyio
async def test_a_job_reported_and_then_purged_is_not_found_not_pending() -> None:
    backend = Purging()
    client = AsyncFacilityClient(backend)
    job = await client.submit("r", JobSpec(executable="/bin/true"))
    assert [j.state for j in await client.list_jobs("r", [job.id])] == [JobState.RUNNING]
    backend.jobs.clear()  # finished and purged from the listing
    with pytest.raises(NotFoundError):
        await client.get_job("r", job.id)

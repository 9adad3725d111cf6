"""StatusPoller logic on an in-memory backend: batching, grace period, blips, terminal jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import anyio
import pytest

from facility_common import AsyncFacilityClient, Job, JobState, ServerError, StatusPoller
from facility_common.backends.base import Capability, FacilityBackend


class ScriptedBackend(FacilityBackend):
    """Answers list_jobs from a dict the test edits; counts calls."""

    name = "scripted"
    capabilities: ClassVar[frozenset[str]] = frozenset({Capability.JOBS})

    def __init__(self, **options: Any) -> None:
        self.facility = "scripted"
        self.states: dict[str, JobState] = {}
        self.list_calls: list[list[str]] = []
        self.fail_next = 0

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        self.list_calls.append(list(job_ids or []))
        if self.fail_next:
            self.fail_next -= 1
            raise ServerError("503 blip", facility="scripted", status_code=503)
        return [
            Job(id=job_id, resource=resource, state=self.states[job_id])
            for job_id in job_ids or []
            if job_id in self.states
        ]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_many_waiters_share_one_request_per_round() -> None:
    backend = ScriptedBackend()
    client = AsyncFacilityClient(backend)
    poller = StatusPoller.shared(client, "r", interval=0.05)
    ids = [f"j{n}" for n in range(100)]
    backend.states = dict.fromkeys(ids, JobState.RUNNING)
    results: dict[str, Job] = {}

    async def waiter(job_id: str) -> None:
        results[job_id] = await poller.wait(job_id, timeout=5)

    async with anyio.create_task_group() as group:
        for job_id in ids:
            group.start_soon(waiter, job_id)
        await anyio.sleep(0.2)
        backend.states = dict.fromkeys(ids, JobState.COMPLETED)
    assert all(job.state is JobState.COMPLETED for job in results.values())
    # ~0.2 s of waiting at a 0.05 s interval: a handful of rounds, not one per waiter.
    assert len(backend.list_calls) <= 12
    assert max(len(call) for call in backend.list_calls) == 100


@pytest.mark.anyio
async def test_grace_period_then_unknown() -> None:
    backend = ScriptedBackend()
    poller = StatusPoller(AsyncFacilityClient(backend), "r", grace=0.1)
    assert (await poller.refresh(["new"]))["new"].state is JobState.PENDING
    await anyio.sleep(0.15)
    # Past the grace period the poller asks individually; this backend has no get_job.
    assert (await poller.refresh(["new"]))["new"].state is JobState.UNKNOWN


@pytest.mark.anyio
async def test_api_error_keeps_last_known_state() -> None:
    backend = ScriptedBackend()
    poller = StatusPoller(AsyncFacilityClient(backend), "r")
    backend.states = {"a": JobState.RUNNING}
    assert (await poller.refresh(["a"]))["a"].state is JobState.RUNNING
    backend.fail_next = 1
    assert (await poller.refresh(["a"]))["a"].state is JobState.RUNNING


@pytest.mark.anyio
async def test_terminal_jobs_are_not_asked_again() -> None:
    backend = ScriptedBackend()
    poller = StatusPoller(AsyncFacilityClient(backend), "r")
    backend.states = {"a": JobState.TIMEOUT, "b": JobState.RUNNING}
    await poller.refresh(["a", "b"])
    views = await poller.refresh(["a", "b"])
    assert views["a"].state is JobState.TIMEOUT
    assert backend.list_calls[-1] == ["b"]

"""StatusPoller when a listing leaves jobs out: a server that ignores the id filter, a job purged
after it was seen, a failing listing, and a job the facility does not know."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from facility_common import Job, JobState, NotFoundError, ServerError, StatusPoller, WaitTimeout


class Lister:
    """A client whose listing and look-ups answer from dicts the test edits."""

    facility = "scripted"

    def __init__(self) -> None:
        self.listed: dict[str, JobState] = {}
        self.known: dict[str, JobState] = {}
        self.list_fails = False
        self.get_calls: list[str] = []
        self.list_calls = 0

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        self.list_calls += 1
        if self.list_fails:
            raise ServerError("GET /jobs answered 503: maintenance", facility="scripted", status_code=503)
        return [Job(id=i, resource=resource, state=s) for i, s in self.listed.items()]

    async def get_job(self, resource: str, job_id: str) -> Job:
        self.get_calls.append(job_id)
        if job_id not in self.known:
            raise NotFoundError(f"job {job_id} not found", facility="scripted", status_code=404)
        return Job(id=job_id, resource=resource, state=self.known[job_id])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_listing_that_ignores_its_filter_is_learnt_and_left_out_jobs_are_asked_at_once() -> None:
    lister = Lister()
    lister.listed = {"other-1": JobState.RUNNING, "other-2": JobState.PENDING}
    lister.known = {"mine": JobState.COMPLETED}
    poller = StatusPoller(lister, "r", grace=3600)
    job = await poller.wait("mine", timeout=30, interval=0)
    assert job.state is JobState.COMPLETED
    assert poller.filter_ignored and lister.list_calls == 1


@pytest.mark.anyio
async def test_a_job_seen_running_then_purged_is_asked_for_and_ends_terminal() -> None:
    lister = Lister()
    lister.listed = {"j": JobState.RUNNING}
    poller = StatusPoller(lister, "r", grace=3600)
    assert (await poller.refresh(["j"]))["j"].state is JobState.RUNNING
    lister.listed = {}
    lister.known = {"j": JobState.COMPLETED}
    assert (await poller.refresh(["j"]))["j"].state is JobState.COMPLETED
    assert lister.get_calls == ["j"]


@pytest.mark.anyio
async def test_a_job_seen_then_unknown_is_never_reported_running_and_its_wait_ends() -> None:
    lister = Lister()
    lister.listed = {"j": JobState.RUNNING}
    poller = StatusPoller(lister, "r", grace=0)
    await poller.refresh(["j"])
    lister.listed = {}
    view = (await poller.refresh(["j"]))["j"]
    assert view.state is JobState.UNKNOWN and "no longer reported" in (view.message or "")
    with pytest.raises(NotFoundError, match="not known to the facility"):
        await poller.wait("j", timeout=30, interval=0)


@pytest.mark.anyio
async def test_a_mistyped_job_id_ends_its_wait_with_not_found_after_the_grace_period() -> None:
    lister = Lister()
    poller = StatusPoller(lister, "r", grace=0)
    with pytest.raises(NotFoundError):
        await poller.wait("424242", timeout=30, interval=0)


@pytest.mark.anyio
async def test_a_failing_listing_falls_back_to_single_look_ups() -> None:
    lister = Lister()
    lister.list_fails = True
    lister.known = {"j": JobState.COMPLETED}
    poller = StatusPoller(lister, "r", grace=3600)
    assert (await poller.wait("j", timeout=30, interval=0)).state is JobState.COMPLETED


@pytest.mark.anyio
async def test_a_wait_that_times_out_says_what_the_server_answered() -> None:
    lister = Lister()
    lister.list_fails = True
    lister.known = {"j": JobState.RUNNING}
    lister.get_job = _failing  # type: ignore[method-assign]
    poller = StatusPoller(lister, "r", grace=3600)
    with pytest.raises(WaitTimeout, match=r"last status call failed: .*maintenance"):
        await poller.wait("j", timeout=0, interval=0)


async def _failing(resource: str, job_id: str) -> Job:
    raise ServerError("GET /jobs/j answered 503: maintenance", facility="scripted", status_code=503)

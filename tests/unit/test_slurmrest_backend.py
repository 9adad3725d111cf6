"""SlurmRestBackend's plumbing on a fake slurmrestd: auth headers, version detection, a submit
whose answer is lost (found by its tag, never sent twice), cancel of a finished job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from facility_common import AsyncFacilityClient, JobSpec
from facility_common.backends.slurmrest.discovery import forget_served
from facility_common.errors import APIError, ConfigurationError, JobSubmissionError
from facility_common.http import RetryPolicy

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "slurmrest"


@pytest.fixture(autouse=True)
def _fresh_discovery() -> Iterator[None]:
    """What a daemon serves is kept per base URL for the process: these fakes share one URL."""
    forget_served()
    yield
    forget_served()


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


class FakeSlurmrestd:
    """Serves v0.0.38 only; the first submit is processed but its answer is lost (502)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.submitted: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if not path.startswith("/slurm/v0.0.38/"):
            return httpx.Response(404, text="Unable to find plugin")
        if path.endswith("/ping"):
            return httpx.Response(200, json=load("v0.0.38_ping.json"))
        if path.endswith("/job/submit"):
            body = json.loads(request.content)
            self.submitted.append(body)
            return httpx.Response(502, text="bad gateway")
        if path.endswith("/jobs"):
            jobs = load("v0.0.38_jobs.json")
            job = dict(jobs["jobs"][0], job_id=77, comment=self.submitted[-1]["job"]["comment"])
            return httpx.Response(200, json={**jobs, "jobs": [*jobs["jobs"], job]})
        if request.method == "DELETE":
            error = {"error": "Job/step already completing or completed", "error_number": 2021}
            return httpx.Response(500, json={"errors": [error]})
        return httpx.Response(404)


def test_lost_submit_answer_is_found_by_tag_and_not_resent() -> None:
    fake = FakeSlurmrestd()

    async def main() -> None:
        async with AsyncFacilityClient.connect(
            "slurmrest",
            base_url="http://127.0.0.1:6820",
            auth="jwt-token",
            user_name="alice",
            transport=httpx.MockTransport(fake),
            retry=RetryPolicy(attempts=1),
            submit_lookup_delays=(0.0,),
        ) as client:
            job = await client.submit("debug", JobSpec(executable="/bin/true"))
            assert job.id == "77"
            await client.cancel("debug", "77")  # already finished: not an error
            assert client.backend.api_version == "v0.0.38"

    anyio.run(main)
    assert len(fake.submitted) == 1
    probed = [r.url.path for r in fake.requests if r.url.path.endswith("/ping")]
    assert probed[0] == "/slurm/v0.0.44/ping" and probed[-1] == "/slurm/v0.0.38/ping"
    for request in fake.requests:
        assert request.headers["x-slurm-user-name"] == "alice"
        assert request.headers["x-slurm-user-token"] == "jwt-token"
        assert "authorization" not in request.headers


def test_a_token_needs_its_user_name() -> None:
    with pytest.raises(ConfigurationError, match="user_name"):
        AsyncFacilityClient.connect("slurmrest", base_url="http://127.0.0.1:6820", auth="jwt")


def test_an_unknown_job_is_not_found_and_a_broken_controller_is_a_server_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/job/1"):
            error = {"description": "Unable to find JobId=1", "error_number": 2017}
            return httpx.Response(500, json={"jobs": [], "errors": [error]})
        error = {"description": "slurmctld config is unable to load", "error_number": -1}
        return httpx.Response(500, json={"errors": [error]})

    async def main() -> None:
        from facility_common.errors import NotFoundError, ServerError

        async with AsyncFacilityClient.connect(
            "slurmrest",
            base_url="http://127.0.0.1:6820",
            api_version="v0.0.38",
            transport=httpx.MockTransport(answer),
        ) as client:
            with pytest.raises(NotFoundError):
                await client.get_job("debug", "1")
            with pytest.raises(ServerError, match="unable to load"):
                await client.get_job("debug", "2")

    anyio.run(main)


def test_a_lost_submit_answer_is_not_resent_when_the_jobs_cannot_be_listed() -> None:
    """The job may exist: with no way to look, sending again could make two."""
    submitted: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/ping"):
            return httpx.Response(200, json=load("v0.0.38_ping.json"))
        if path.endswith("/job/submit"):
            submitted.append(request)
            return httpx.Response(502, text="bad gateway")
        if path.endswith("/jobs"):
            return httpx.Response(503, text="slurmctld is busy")
        return httpx.Response(404)

    async def main() -> None:
        async with AsyncFacilityClient.connect(
            "slurmrest",
            base_url="http://127.0.0.1:6820",
            auth="jwt-token",
            user_name="alice",
            transport=httpx.MockTransport(answer),
            retry=RetryPolicy(attempts=1),
            submit_lookup_delays=(0.0, 0.0),
        ) as client:
            spec = JobSpec(executable="/bin/true", environment={"FACILITY_SUBMIT_TAG": "run-5"})
            with pytest.raises(JobSubmissionError, match="outcome is unknown") as unknown:
                await client.submit("debug", spec)
            assert "run-5" in str(unknown.value) and "jwt-token" not in str(unknown.value)

    anyio.run(main)
    assert len(submitted) == 1


def _listing(*jobs: dict[str, Any]) -> dict[str, Any]:
    template = load("v0.0.38_jobs.json")
    return {**template, "jobs": [dict(template["jobs"][0], **job) for job in jobs]}


def _connect(answer: Any) -> AsyncFacilityClient:
    return AsyncFacilityClient.connect(
        "slurmrest",
        base_url="http://127.0.0.1:6820",
        auth="jwt-token",
        user_name="alice",
        transport=httpx.MockTransport(answer),
        retry=RetryPolicy(attempts=1),
        submit_lookup_delays=(0.0,),
    )


@pytest.mark.parametrize(
    ("submit_answer", "listed"),
    [
        (httpx.Response(200, text="<html>upstream said something</html>"), True),
        (httpx.Response(200, text="<html>upstream said something</html>"), False),
        (httpx.Response(200, json={"job_id": [5], "errors": []}), False),
        (httpx.Response(200, json={"result": {"job_id": {"id": 5}}}), False),
    ],
)
def test_an_unreadable_submit_answer_is_looked_for_and_never_called_a_refusal(
    submit_answer: httpx.Response, listed: bool
) -> None:
    """A 200 the client cannot use: the job may exist, so it is looked for by its tag."""
    submitted: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/ping"):
            return httpx.Response(200, json=load("v0.0.38_ping.json"))
        if path.endswith("/job/submit"):
            submitted.append(request)
            return submit_answer
        if path.endswith("/jobs"):
            jobs = [{"job_id": 88, "comment": "facility-submit-tag:t-unread"}] if listed else []
            return httpx.Response(200, json=_listing(*jobs))
        return httpx.Response(404)

    async def main() -> None:
        async with _connect(answer) as client:
            spec = JobSpec(executable="/bin/true", environment={"FACILITY_SUBMIT_TAG": "t-unread"})
            if listed:
                assert (await client.submit("debug", spec)).id == "88"
                return
            with pytest.raises(JobSubmissionError) as caught:
                await client.submit("debug", spec)
            assert caught.value.outcome_unknown
            text = str(caught.value)
            assert "could not be read" in text and "may exist" in text and "refused" not in text

    anyio.run(main)
    assert len(submitted) == 1


def test_slurmrestd_errors_in_a_submit_answer_are_a_refusal() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/ping"):
            return httpx.Response(200, json=load("v0.0.38_ping.json"))
        return httpx.Response(200, json={"errors": [{"error": "Invalid account", "error_number": 2045}]})

    async def main() -> None:
        async with _connect(answer) as client:
            with pytest.raises(JobSubmissionError, match=r"refused the job.*Invalid account") as caught:
                await client.submit("debug", JobSpec(executable="/bin/true"))
            assert not caught.value.outcome_unknown

    anyio.run(main)


def test_find_job_by_tag_returns_the_newest_tagged_job_and_refuses_odd_ids() -> None:
    jobs: list[dict[str, Any]] = [
        {"job_id": 9, "comment": "facility-submit-tag:t-1", "submit_time": 1795365500},
        {"job_id": 10, "comment": "facility-submit-tag:t-1", "submit_time": 1795365600},
        {"job_id": 11, "comment": "facility-submit-tag:t-2", "submit_time": 1795365700},
        {"job_id": 12, "comment": "by hand", "submit_time": 1795365800},
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/ping"):
            return httpx.Response(200, json=load("v0.0.38_ping.json"))
        return httpx.Response(200, json=_listing(*jobs))

    async def main() -> None:
        async with _connect(answer) as client:
            found = await client.find_job_by_tag("debug", "t-1")
            assert found is not None and found.id == "10"
            assert await client.find_job_by_tag("debug", "t-3") is None
            jobs.append({"job_id": ["13"], "comment": "facility-submit-tag:t-1"})
            with pytest.raises(APIError, match="job_id"):
                await client.find_job_by_tag("debug", "t-1")

    anyio.run(main)


def test_slurmctlds_refusal_sent_as_a_500_is_a_refusal_and_not_looked_into() -> None:
    """slurmrestd answers a refused submit (here an unknown partition) with HTTP 500."""
    requests: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/ping"):
            return httpx.Response(200, json=load("v0.0.38_ping.json"))
        if request.url.path.endswith("/job/submit"):
            return httpx.Response(500, json=load("v0.0.38_submit_refused.json"))
        return httpx.Response(200, json=_listing())

    async def main() -> None:
        async with _connect(answer) as client:
            with pytest.raises(
                JobSubmissionError, match=r"refused the job on nope.*Invalid partition"
            ) as caught:
                await client.submit("nope", JobSpec(executable="/bin/true"))
            assert not caught.value.outcome_unknown

    anyio.run(main)
    discovery = ("/ping", "/openapi/v3")
    assert [r.rpartition("/")[2] for r in requests if not r.endswith(discovery)] == ["submit"]


@pytest.mark.parametrize("created", [True, False])
def test_a_500_without_slurmctlds_verdict_leaves_the_outcome_unknown(created: bool) -> None:
    """Under the shared submit policy a 500 may hide a job: the backend looks for its tag and
    sends again only when no job carries it."""
    submitted: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/ping"):
            return httpx.Response(200, json=load("v0.0.38_ping.json"))
        if path.endswith("/job/submit"):
            submitted.append(json.loads(request.content))
            if len(submitted) == 1:
                return httpx.Response(500, json={"title": "Internal Server Error", "status": 500})
            return httpx.Response(200, json={"job_id": 91, "errors": []})
        if path.endswith("/jobs"):
            jobs = [{"job_id": 90, "comment": submitted[0]["job"]["comment"]}] if created else []
            return httpx.Response(200, json=_listing(*jobs))
        return httpx.Response(404)

    async def main() -> None:
        async with _connect(answer) as client:
            job = await client.submit("debug", JobSpec(executable="/bin/true"))
            assert job.id == ("90" if created else "91")

    anyio.run(main)
    assert len(submitted) == (1 if created else 2)
    assert submitted[-1]["job"]["comment"] == submitted[0]["job"]["comment"]

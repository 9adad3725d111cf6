"""S3M parsers on recorded payloads, the accepted job fields, the raw-token header and the paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from facility_common import AsyncFacilityClient, JobSpec, JobState, ResourceSpec
from facility_common.backends.s3m import _parse_downtimes, _parse_introspect, _parse_status
from facility_common.backends.slurmrest.parsers import parse_jobs
from facility_common.errors import InvalidJobSpec, NotFoundError, UnsupportedOperation
from facility_common.models import ResourceState

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "s3m"


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def test_status_and_downtimes() -> None:
    resources = {r.name: r for r in _parse_status(load("status.json"))}
    assert resources["polaris"].state is ResourceState.UP
    assert resources["aurora"].state is ResourceState.DOWN
    (current,) = _parse_downtimes(load("downtimes_current.json"))
    assert current.resources == ("aurora",) and current.planned is False
    (upcoming,) = _parse_downtimes(load("downtimes_upcoming.json"))
    assert upcoming.resources == ("polaris",) and upcoming.planned is True


def test_introspect_gives_the_planned_expiry() -> None:
    token = _parse_introspect(load("introspect.json"))
    assert token["planned_expiration"] is not None and token["project"] == "demo"


def test_v0043_jobs_and_the_slurmdb_shape() -> None:
    states = [job.state for job in parse_jobs(load("v0.0.43_jobs.json"), "polaris", facility="s3m")]
    assert states == [JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED]
    (job,) = parse_jobs(load("v0.0.43_job_slurmdb_timeout.json"), "odo", facility="s3m")
    assert job.state is JobState.TIMEOUT and job.exit_code == 143
    assert job.stdout_path == "/lustre/polis/demo/scratch/slurm-4242.out"
    assert job.submitted_at is not None and job.finished_at is not None


def answer(request: httpx.Request) -> httpx.Response:
    """A fake gateway: records the request and answers like S3M."""
    seen.append(request)
    if request.url.path.endswith("/job/submit"):
        return httpx.Response(200, json=load("v0.0.43_submit.json"))
    if "/job/" in request.url.path:
        return httpx.Response(404, json=load("v0.0.43_job_missing.json"))
    return httpx.Response(200, json=load("v0.0.43_jobs.json"))


seen: list[httpx.Request] = []


@pytest.mark.parametrize(
    ("template", "prefix"),
    [
        ("slurm/{enclave}/{version}/{resource}", "/slurm/open/v0.0.43/odo/"),
        ("olcf/v1/slurm/{enclave}/{version}/{resource}", "/olcf/v1/slurm/open/v0.0.43/odo/"),
    ],
)
def test_paths_raw_token_and_refused_fields(template: str, prefix: str) -> None:
    async def main() -> None:
        seen.clear()
        async with AsyncFacilityClient.connect(
            "s3m",
            base_url="https://s3m.example.org",
            auth="opaque-token",
            path_template=template,
            transport=httpx.MockTransport(answer),
        ) as client:
            job = await client.submit("odo", JobSpec(executable="/bin/true"))
            assert job.state is JobState.PENDING
            with pytest.raises(NotFoundError):
                await client.get_job("odo", "99999")
            with pytest.raises(InvalidJobSpec, match="tres_per_task"):
                await client.submit(
                    "odo", JobSpec(executable="/bin/true", resources=ResourceSpec(gpu_cores_per_process=1))
                )
            with pytest.raises(UnsupportedOperation, match="S3M Storage"):
                await client.ls("odo", "/")

    anyio.run(main)
    assert [r.url.path for r in seen] == [prefix + "job/submit", prefix + "job/99999"]
    assert all(r.headers["authorization"] == "opaque-token" for r in seen)
    body = json.loads(seen[0].content)
    assert set(body) == {"job"} and body["job"]["environment"][0].startswith("PATH=")

"""The slurmrest backend on the real local Slurm with accounting (scripts/slurm-local.sh: Debian's
Slurm 22.05, slurmrestd v0.0.38 and dbv0.0.38, slurmdbd on MariaDB): refusals in slurmrestd's
words, the version and accounting routes learnt from ``/openapi/v3``, status rounds by job id,
and finished jobs known to accounting (sacct and ``/slurmdb``). Skipped with the reason when that
Slurm is not running."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from facility_common import AsyncFacilityClient, JobAttributes, JobSpec, JobState, JobSubmissionError
from facility_common.backends.slurmrest import SlurmRestBackend
from facility_common.backends.slurmrest.discovery import ServedApi, forget_served, served_api

from ..conformance.flavours.slurmrest import ENV_FILE, slurm_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def settings() -> dict[str, str]:
    found = slurm_settings()
    if found is None:
        pytest.skip(f"local Slurm is not running ({ENV_FILE} is absent; run scripts/slurm-local.sh start)")
    if found.get("SLURM_ACCOUNTING") != "slurmdbd":
        pytest.skip("the local Slurm runs without accounting; run scripts/slurm-local.sh start to add it")
    return found


@pytest.fixture
def fresh_discovery() -> Iterator[None]:
    forget_served()
    yield
    forget_served()


def connect(settings: dict[str, str], **options: Any) -> AsyncFacilityClient:
    return AsyncFacilityClient.connect(
        "slurmrest",
        base_url=settings["SLURMREST_URL"],
        auth=settings["SLURM_JWT"],
        user_name=settings["SLURM_USER"],
        **options,
    )


def test_a_job_description_slurmrestd_cannot_read_is_refused_in_its_words(settings: dict[str, str]) -> None:
    """slurmrestd answers a field it cannot parse with HTTP 400 and its ``errors[]``: the refusal
    says what they say, not the raw JSON body."""

    async def main() -> None:
        async with connect(settings) as client:
            spec = JobSpec(
                executable="/bin/true", attributes=JobAttributes(custom_attributes={"nice": "abc"})
            )
            with pytest.raises(JobSubmissionError) as refused:
                await client.submit(settings.get("SLURM_PARTITION", "debug"), spec)
            text = str(refused.value)
            assert 'Unable to process key "nice"' in text and "(error 9001)" in text, text
            assert '"meta"' not in text and "{" not in text and not refused.value.outcome_unknown
            with pytest.raises(JobSubmissionError, match=r"Invalid partition name specified \(error 2000\)"):
                await client.submit("no-such-partition", JobSpec(executable="/bin/true"))

    anyio.run(main)


def test_the_daemon_is_asked_once_what_it_serves(settings: dict[str, str], fresh_discovery: None) -> None:
    async def main() -> None:
        async with connect(settings) as client:
            await client.resources()
            assert served_api(settings["SLURMREST_URL"]) == ServedApi("v0.0.38", accounting=True)
        async with connect(settings) as again:
            backend = again.backend
            assert isinstance(backend, SlurmRestBackend)
            await again.resources()
            assert backend.api_version == "v0.0.38"

    anyio.run(main)


def test_finished_jobs_are_in_accounting_and_rounds_ask_by_id(
    settings: dict[str, str], tmp_path: Any
) -> None:
    """A job run through slurmrestd is recorded by slurmdbd: ``sacct`` knows it, and so does
    ``/slurmdb/v0.0.38/job/{id}``, where the backend looks once slurmctld forgot a job."""
    tmp_path.chmod(0o755)
    partition = settings.get("SLURM_PARTITION", "debug")

    async def main() -> str:
        async with connect(settings, directory=str(tmp_path)) as client:
            backend = client.backend
            assert isinstance(backend, SlurmRestBackend)
            job = await client.submit(partition, JobSpec(executable="/bin/sh", arguments=["-c", "exit 3"]))
            done = await client.wait(partition, job.id, timeout=120, poll_interval=0.5)
            assert done.state is JobState.FAILED and done.exit_code == 3
            (listed,) = await client.list_jobs(partition, [job.id])
            assert listed.id == job.id and listed.state is JobState.FAILED
            accounted = None
            for _ in range(50):  # slurmctld sends the job's end to slurmdbd on its own schedule
                accounted = await backend._accounted_job(partition, job.id)
                if accounted is not None and accounted.is_terminal:
                    break
                await anyio.sleep(0.2)
            assert accounted is not None and accounted.state is JobState.FAILED
            assert await backend._accounted_job(partition, "999999999") is None
            return job.id

    job_id = anyio.run(main)
    shown = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "JobID,State,ExitCode"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shown == [f"{job_id}|FAILED|3:0"]

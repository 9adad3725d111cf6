"""The slurmrest backend against the emulated slurmrestd as a real cluster behaves: a status
round that costs what the caller's own jobs cost however many other users' jobs the cluster
lists, the version learnt once per daemon for the process, and finished jobs that slurmctld
purged after ``MinJobAge`` found in the accounting database, never left RUNNING."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from facility_common import AsyncFacilityClient, FacilityClient, JobSpec, JobState, NotFoundError
from facility_common.backends.slurmrest.discovery import forget_served, served_api
from facility_emulator import EmulatorConfig, EmulatorServer

from .emu_helpers import wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("slurm-cost"), queue_delay=0.05, kill_grace=0.5)
    with EmulatorServer(config) as srv:
        yield srv


@pytest.fixture
def knobs(server: EmulatorServer) -> Iterator[str]:
    """The emulated Slurm's admin knobs, put back to Slurm's defaults after the test."""
    url = f"{server.url}/_emulator/slurmrestd"
    yield url
    httpx.put(url, json={"min_job_age": 300, "other_jobs": 0, "minute_seconds": 60}).raise_for_status()


def options(server: EmulatorServer) -> dict[str, Any]:
    credentials = server.flavour_credentials("slurmrestd")
    return {
        "base_url": server.api_url("slurmrestd", "root"),
        "auth": {"type": "token", "token": credentials["token"]},
        "user_name": credentials["user_name"],
        "directory": credentials["home"],
        "local_output": True,
    }


def sleeper(seconds: int = 30) -> JobSpec:
    return JobSpec(executable="/bin/sleep", arguments=[str(seconds)])


def round_cost(server: EmulatorServer, client: FacilityClient, job_ids: list[str]) -> tuple[set[str], int]:
    """The paths one status round asks and the bytes it receives."""
    server.clear_exchanges()
    jobs = client.list_jobs("polaris", job_ids)
    assert sorted(job.id for job in jobs) == sorted(job_ids)
    exchanges = [e for e in server.exchanges() if "/slurmrestd/" in e.path]
    return {e.path for e in exchanges}, sum(len(e.response_body) for e in exchanges)


def test_a_status_round_costs_what_our_jobs_cost_not_the_cluster(server: EmulatorServer, knobs: str) -> None:
    """``GET jobs`` answers every user's jobs (about 4 KB each); a round asks ``job/{id}`` per
    own job instead, so 2,000 other users' jobs change neither its calls nor its bytes."""
    with FacilityClient.connect("slurmrest", **options(server)) as client:
        own = [client.submit("polaris", sleeper()).id for _ in range(3)]
        try:
            quiet_paths, quiet_bytes = round_cost(server, client, own)
            httpx.put(knobs, json={"other_jobs": 2000}).raise_for_status()
            busy_paths, busy_bytes = round_cost(server, client, own)
            listing = httpx.get(
                f"{options(server)['base_url']}/slurm/v0.0.43/jobs",
                headers={"X-SLURM-USER-TOKEN": options(server)["auth"]["token"]},
            )
            assert len(listing.json()["jobs"]) == 2000 + len(own)  # the cluster is busy
        finally:
            for job_id in own:
                client.cancel("polaris", job_id)
    expected = {f"/slurmrestd/slurm/v0.0.43/job/{job_id}" for job_id in own}
    assert quiet_paths == busy_paths == expected
    assert busy_bytes < 2 * quiet_bytes < len(listing.content) / 100


def test_the_look_up_after_a_lost_answer_asks_only_for_changes(server: EmulatorServer) -> None:
    """The look-up by tag asks ``GET jobs?update_time=`` (slurmctld answers nothing when no
    job changed); a submit whose answer is lost is still found, never sent twice."""
    httpx.put(
        f"{server.url}/_emulator/faults", json={"spec": "drop_after=count:1@POST */slurmrestd/*/job/submit"}
    ).raise_for_status()
    try:
        server.clear_exchanges()
        with FacilityClient.connect("slurmrest", **options(server)) as client:
            job = client.submit("polaris", JobSpec(executable="/bin/true"))
            client.cancel("polaris", job.id)
    finally:
        httpx.delete(f"{server.url}/_emulator/faults")
    listings = [e for e in server.exchanges() if e.path.endswith("/slurm/v0.0.43/jobs")]
    assert [e.query.split("=")[0] for e in listings] == ["update_time"]
    submits = [e for e in server.exchanges() if e.path.endswith("/job/submit")]
    assert len(submits) == 1
    unchanged = httpx.get(
        f"{options(server)['base_url']}/slurm/v0.0.43/jobs",
        params={"update_time": 2**40},
        headers={"X-SLURM-USER-TOKEN": options(server)["auth"]["token"]},
    ).json()
    assert unchanged["jobs"] == [] and "No job changes" in unchanged["warnings"][0]["description"]


def test_the_version_is_learnt_once_per_daemon_for_every_client(server: EmulatorServer) -> None:
    forget_served()
    base_url = options(server)["base_url"]

    async def main() -> None:
        for _ in range(3):
            async with AsyncFacilityClient.connect("slurmrest", **options(server)) as client:
                await client.resources()

    server.clear_exchanges()
    anyio.run(main)
    discovery = [e.path for e in server.exchanges() if e.path.endswith(("/openapi/v3", "/ping"))]
    assert discovery == ["/slurmrestd/openapi/v3"]
    served = served_api(base_url)
    assert served is not None and served.version == "v0.0.43" and served.accounting is True


def test_a_job_slurmctld_purged_is_found_in_accounting_and_ends(
    server: EmulatorServer, knobs: str, tmp_path: Path
) -> None:
    """After ``MinJobAge`` slurmctld forgets a finished job (``job/{id}`` answers 2017): the
    backend asks ``slurmdb/v0.0.43/job/{id}`` and the job ends COMPLETED, never RUNNING."""
    httpx.put(knobs, json={"min_job_age": 0.2}).raise_for_status()
    with FacilityClient.connect("slurmrest", **options(server)) as client:
        job = client.submit("polaris", JobSpec(executable="/bin/sh", arguments=["-c", "exit 3"]))
        slurm = httpx.Client(
            base_url=options(server)["base_url"],
            headers={"X-SLURM-USER-TOKEN": options(server)["auth"]["token"]},
        )
        with slurm:
            wait_for(lambda: slurm.get(f"/slurm/v0.0.43/job/{job.id}").status_code == 404, timeout=30)
            assert job.id not in {str(j["job_id"]) for j in slurm.get("/slurm/v0.0.43/jobs").json()["jobs"]}
        found = client.get_job("polaris", job.id)
        assert found.state is JobState.FAILED and found.exit_code == 3
        assert [j.id for j in client.list_jobs("polaris", [job.id])] == [job.id]
        assert client.wait("polaris", job.id, timeout=10, poll_interval=0.05).state is JobState.FAILED
        with pytest.raises(NotFoundError, match="neither slurmctld nor the accounting database"):
            client.get_job("polaris", "987654")

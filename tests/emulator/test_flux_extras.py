"""The Flux RESTful API's surface beyond the contract, through the client against the emulator:
following output on ``/output/stream`` (async and sync, dropped and quiet streams), the nodes as
the resource's details, the job search behind ``list_jobs`` of a few ids, and stopping the
service."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from facility_common import AsyncFacilityClient, FacilityClient, JobSpec, JobState, ResourceState
from facility_emulator import EmulatorServer

STREAM_ROUTE = "GET /flux-noauth/v1/jobs/{jobid}/output/stream"
OUTPUT_ROUTE = "GET /flux-noauth/v1/jobs/{jobid}/output"


def routes(server: EmulatorServer) -> dict[str, int]:
    counts: dict[str, int] = httpx.get(f"{server.url}/_emulator/stats", timeout=10).json()["routes"]
    return counts


@pytest.fixture
def flux(server: EmulatorServer) -> Iterator[FacilityClient]:
    with FacilityClient.connect("flux", base_url=server.api_url("flux", "none")) as client:
        yield client


def gated_job(home: str, gate: Path) -> JobSpec:
    """A job that prints, waits until ``gate`` exists, prints again and ends without a newline:
    whether its first line arrives before it ends does not depend on timing."""
    script = f"echo ready; while [ ! -e {gate} ]; do sleep 0.02; done; echo done; printf tail"
    return JobSpec(script=script, directory=home)


def test_follow_output_yields_lines_while_the_job_runs(server: EmulatorServer, tmp_path: Path) -> None:
    home = server.credentials["home"]
    gate = Path(home) / f"gate-{tmp_path.name}"

    async def scenario() -> list[str]:
        async with AsyncFacilityClient.connect("flux", base_url=server.api_url("flux", "none")) as client:
            job = await client.submit("flux", gated_job(home, gate))
            lines: list[str] = []
            async for line in client.follow_output("flux", job.id, poll_interval=0.05):
                lines.append(line)
                if line == "ready\n":
                    assert not (await client.get_job("flux", job.id)).is_terminal
                    gate.touch()
            assert (await client.get_job("flux", job.id)).state is JobState.COMPLETED
            return lines

    before = routes(server).get(STREAM_ROUTE, 0)
    polled = routes(server).get(OUTPUT_ROUTE, 0)
    assert anyio.run(scenario) == ["ready\n", "done\n", "tail"]
    assert routes(server).get(STREAM_ROUTE, 0) > before  # the stream, not polling
    assert routes(server).get(OUTPUT_ROUTE, 0) == polled


def test_the_sync_client_iterates_and_stops_early(
    server: EmulatorServer, flux: FacilityClient, tmp_path: Path
) -> None:
    home = server.credentials["home"]
    gate = Path(home) / f"gate-{tmp_path.name}"
    job = flux.submit("flux", gated_job(home, gate))
    lines = flux.follow_output("flux", job.id, poll_interval=0.05)
    assert next(lines) == "ready\n"
    lines.close()  # leaving early closes the stream on the client's loop
    gate.touch()
    assert flux.wait("flux", job.id, timeout=30, poll_interval=0.05).state is JobState.COMPLETED
    assert "".join(flux.follow_output("flux", job.id, poll_interval=0.05)) == "ready\ndone\ntail"


def test_a_dropped_stream_is_opened_again_without_repeating_a_line(
    server: EmulatorServer, flux: FacilityClient
) -> None:
    text = "".join(f"line {n}\n" for n in range(200))
    job = flux.submit("flux", JobSpec(script=f"printf '%s' '{text}'", directory=server.credentials["home"]))
    flux.wait("flux", job.id, timeout=30, poll_interval=0.05)
    fault = {"spec": "drop_after=count:1@GET */flux-noauth/v1/jobs/*/output/stream"}
    httpx.put(f"{server.url}/_emulator/faults", json=fault, timeout=10).raise_for_status()
    before = routes(server).get(STREAM_ROUTE, 0)
    lines = list(flux.follow_output("flux", job.id, poll_interval=0.05))
    assert "".join(lines) == text and len(lines) == 200
    assert routes(server).get(STREAM_ROUTE, 0) == before + 2


def test_a_quiet_job_outlasts_the_read_timeout(server: EmulatorServer, tmp_path: Path) -> None:
    home = server.credentials["home"]
    gate = Path(home) / f"gate-{tmp_path.name}"
    before = routes(server).get(STREAM_ROUTE, 0)

    def release_after_a_reopen() -> None:
        # The job stays silent until the client has had to open its stream a second time.
        while routes(server).get(STREAM_ROUTE, 0) < before + 2:
            time.sleep(0.05)
        gate.touch()

    with FacilityClient.connect("flux", base_url=server.api_url("flux", "none"), timeout=0.3) as client:
        job = client.submit("flux", JobSpec(script=f"while [ ! -e {gate} ]; do sleep 0.02; done; echo late"))
        releaser = threading.Thread(target=release_after_a_reopen, daemon=True)
        releaser.start()
        assert list(client.follow_output("flux", job.id, poll_interval=0.05)) == ["late\n"]
        releaser.join(timeout=10)


def test_nodes_are_the_resources_details(server: EmulatorServer, flux: FacilityClient) -> None:
    status = flux.resource("flux")
    assert status.state is ResourceState.UP
    assert status.raw["nodes"] == [f"flux-sample-{n}" for n in range(4)]
    assert flux.backend.nodes() == status.raw["nodes"]
    admin = f"{server.url}/_emulator/flux/none"
    httpx.post(f"{admin}/nodes-down", timeout=10).raise_for_status()
    try:
        down = flux.resource("flux")
        assert (down.state, down.raw["nodes"]) == (ResourceState.DOWN, [])
        assert not flux.is_available("flux")
    finally:
        httpx.post(f"{admin}/nodes-up", timeout=10).raise_for_status()


def test_list_jobs_of_a_few_ids_uses_the_search(server: EmulatorServer, flux: FacilityClient) -> None:
    jobs = [flux.submit("flux", JobSpec(executable="true")) for _ in range(3)]
    for job in jobs:
        flux.wait("flux", job.id, timeout=30, poll_interval=0.05)
    before = routes(server)
    listed = flux.list_jobs("flux", [jobs[0].id, jobs[2].id])
    after = routes(server)
    assert sorted(job.id for job in listed) == sorted([jobs[0].id, jobs[2].id])
    assert (
        after.get("GET /flux-noauth/v1/jobs/search", 0)
        == before.get("GET /flux-noauth/v1/jobs/search", 0) + 1
    )
    assert after.get("GET /flux-noauth/v1/jobs", 0) == before.get("GET /flux-noauth/v1/jobs", 0)
    assert flux.list_jobs("flux", []) == []


def test_search_jobs_pages(flux: FacilityClient) -> None:
    jobs = [flux.submit("flux", JobSpec(executable="true")) for _ in range(3)]
    query = "|".join(f"^{job.id}" for job in jobs)
    first, total = flux.backend.search_jobs("flux", query, length=2)
    second, _ = flux.backend.search_jobs("flux", query, start=2, length=2)
    assert total is not None and total >= 3
    assert [job.id for job in first + second] == [job.id for job in reversed(jobs)]


def test_bad_search_arguments_fail_before_any_request(flux: FacilityClient) -> None:
    from facility_common import InvalidJobSpec

    with pytest.raises(InvalidJobSpec, match="query"):
        flux.backend.search_jobs("flux", "(")
    with pytest.raises(InvalidJobSpec, match="start"):
        flux.backend.search_jobs("flux", start=-1)


def test_stop_service_is_an_explicit_call(server: EmulatorServer, flux: FacilityClient) -> None:
    admin = f"{server.url}/_emulator/flux"
    assert httpx.get(admin, timeout=10).json()["none"]["running"] is True  # nothing stopped it
    try:
        assert flux.backend.stop_service() is None
        assert httpx.get(admin, timeout=10).json()["none"]["running"] is False
    finally:
        httpx.post(f"{admin}/none/start", timeout=10).raise_for_status()

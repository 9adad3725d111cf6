"""The emulator's plain slurmrestd flavour: slurmrestd's headers, version probing, a job's life,
Slurm's refusals, maintenance reservations, a down partition, the scaled minute, and the slurmrest
backend through a dropped submit answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from facility_common import FacilityClient, JobSpec, JobState
from facility_common.backends.slurmrest.discovery import forget_served
from facility_emulator import EmulatorServer

from .emu_helpers import wait_for

VERSION = "v0.0.43"
ENV = ["PATH=/usr/bin:/bin"]


@pytest.fixture(scope="module")
def credentials(server: EmulatorServer) -> dict[str, Any]:
    return server.flavour_credentials("slurmrestd")


@pytest.fixture
def slurm(server: EmulatorServer, credentials: dict[str, Any]) -> Iterator[httpx.Client]:
    headers = {"X-SLURM-USER-NAME": credentials["user_name"], "X-SLURM-USER-TOKEN": credentials["token"]}
    base = f"{server.api_url('slurmrestd', 'root')}/slurm/{VERSION}"
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        yield client


def submit(slurm: httpx.Client, script: str, **job: Any) -> int:
    body = {"job": {"script": script, "environment": ENV, **job}}
    answer = slurm.post("/job/submit", json=body)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["job_id"])


def job_info(slurm: httpx.Client, job_id: int) -> dict[str, Any]:
    (info,) = slurm.get(f"/job/{job_id}").json()["jobs"]
    return dict(info)


def finished(slurm: httpx.Client, job_id: int, timeout: float = 20.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        info = job_info(slurm, job_id)
        return info if info["job_state"][0] not in ("PENDING", "RUNNING") else None

    result: dict[str, Any] = wait_for(done, timeout)
    return result


def test_calls_need_the_user_and_its_token(server: EmulatorServer, credentials: dict[str, Any]) -> None:
    url = f"{server.api_url('slurmrestd', 'root')}/slurm/{VERSION}/jobs"
    name, token = credentials["user_name"], credentials["token"]
    assert httpx.get(url).status_code == 401
    assert (
        httpx.get(url, headers={"X-SLURM-USER-NAME": name, "X-SLURM-USER-TOKEN": "nope"}).status_code == 401
    )
    refused = httpx.get(url, headers={"X-SLURM-USER-NAME": "someone", "X-SLURM-USER-TOKEN": token})
    assert (
        refused.status_code == 401 and refused.json()["errors"][0]["description"] == "Authentication failure"
    )
    assert httpx.get(url, headers={"X-SLURM-USER-NAME": name, "X-SLURM-USER-TOKEN": token}).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_tokens_from_the_token_endpoint_work_too(server: EmulatorServer) -> None:
    url = f"{server.api_url('slurmrestd', 'root')}/slurm/{VERSION}/ping"
    issued = httpx.post(
        server.credentials["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(server.credentials["client_id"], server.credentials["client_secret"]),
    ).json()["access_token"]
    assert httpx.get(url, headers={"X-SLURM-USER-TOKEN": issued}).status_code == 200
    assert httpx.get(url, headers={"X-SLURM-USER-TOKEN": issued[:-2]}).status_code == 401


def test_only_v0043_answers_with_and_without_the_trailing_slash(slurm: httpx.Client) -> None:
    assert slurm.get("/ping").json()["pings"][0]["responding"] is True
    assert slurm.get("/diag/").json()["statistics"]["parts_packed"] == 1
    assert slurm.get(str(slurm.base_url).replace(VERSION, "v0.0.44") + "/ping").status_code == 404


def test_partitions_are_the_compute_resources_and_debug(slurm: httpx.Client) -> None:
    names = [p["name"] for p in slurm.get("/partitions").json()["partitions"]]
    assert names == ["polaris", "aurora", "debug"]
    nodes = slurm.get("/nodes").json()["nodes"]
    assert {"polaris", "debug"} <= set(nodes[0]["partitions"])


def test_a_job_runs_writes_its_output_and_fails_with_its_code(slurm: httpx.Client, tmp_path: Path) -> None:
    job_id = submit(
        slurm,
        "#!/bin/sh\necho out-$SLURM_JOB_NAME\nexit 4",
        name="four",
        partition="debug",
        time_limit={"number": 5, "set": True, "infinite": False},
        comment="facility-submit-tag:abc",
    )
    info = finished(slurm, job_id)
    assert info["job_state"] == ["FAILED"] and info["exit_code"]["return_code"]["number"] == 4
    assert info["partition"] == "debug" and info["comment"] == "facility-submit-tag:abc"
    assert info["time_limit"]["number"] == 5
    assert Path(info["stdout_expanded"]).read_text() == "out-four\n"
    assert job_id in [j["job_id"] for j in slurm.get("/jobs").json()["jobs"]]


def test_slurms_refusals(slurm: httpx.Client) -> None:
    bad = slurm.post("/job/submit", json={"job": {"script": "#!/bin/sh\ntrue", "partition": "nope"}})
    assert bad.status_code == 500 and bad.json()["errors"][0]["error_number"] == 2000
    assert slurm.post("/job/submit", json={"job": {"environment": ENV}}).status_code == 400
    missing = slurm.get("/job/999999")
    assert missing.status_code == 404 and missing.json()["errors"][0]["error_number"] == 2017
    done = finished(slurm, submit(slurm, "#!/bin/sh\ntrue"))
    again = slurm.delete(f"/job/{done['job_id']}")
    assert again.status_code == 500 and again.json()["errors"][0]["error_number"] == 2021


def test_cancel_kills_a_running_job(slurm: httpx.Client) -> None:
    job_id = submit(slurm, "#!/bin/sh\nsleep 60")
    wait_for(lambda: job_info(slurm, job_id)["job_state"] == ["RUNNING"])
    assert slurm.delete(f"/job/{job_id}").status_code == 200
    assert finished(slurm, job_id)["job_state"] == ["CANCELLED"]


def test_planned_incidents_are_maint_reservations_the_backend_reads(
    server: EmulatorServer, credentials: dict[str, Any]
) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    incident = httpx.post(
        f"{server.url}/_emulator/incidents",
        json={
            "name": "aurora maintenance",
            "type": "planned",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=3)).isoformat(),
            "resources": ["aurora"],
        },
    ).json()
    try:
        with connect(server, credentials) as client:
            (outage,) = client.outages("aurora")
            assert outage.planned and outage.resources == ("aurora",)
            assert outage.start is not None and abs((outage.start - start).total_seconds()) < 1
            assert client.outages("polaris") == []
    finally:
        httpx.delete(f"{server.url}/_emulator/incidents/{incident['id']}")


def test_a_job_on_a_down_partition_waits_until_it_is_up(server: EmulatorServer, slurm: httpx.Client) -> None:
    status_url = f"{server.url}/_emulator/resources/aurora/status"
    httpx.put(status_url, json={"current_status": "down"}).raise_for_status()
    try:
        partitions = {p["name"]: p for p in slurm.get("/partitions").json()["partitions"]}
        assert partitions["aurora"]["partition"]["state"] == ["DOWN"]
        job_id = submit(slurm, "#!/bin/sh\necho held", partition="aurora")
        wait_for(lambda: job_info(slurm, job_id)["state_reason"] == "PartitionDown")
        assert job_info(slurm, job_id)["job_state"] == ["PENDING"]
    finally:
        httpx.put(status_url, json={"current_status": "up"}).raise_for_status()
    assert finished(slurm, job_id)["job_state"] == ["COMPLETED"]


def test_a_scaled_minute_shortens_time_limits(server: EmulatorServer, slurm: httpx.Client) -> None:
    knob = f"{server.url}/_emulator/slurmrestd"
    assert httpx.put(knob, json={"minute_seconds": 0}).status_code == 422
    httpx.put(knob, json={"minute_seconds": 0.5}).raise_for_status()
    try:
        job_id = submit(slurm, "#!/bin/sh\nsleep 60", time_limit={"number": 1, "set": True})
        info = finished(slurm, job_id)
    finally:
        httpx.put(knob, json={"minute_seconds": 60}).raise_for_status()
    assert info["job_state"] == ["TIMEOUT"] and info["time_limit"]["number"] == 1


def connect(server: EmulatorServer, credentials: dict[str, Any], **options: Any) -> FacilityClient:
    return FacilityClient.connect(
        "slurmrest",
        base_url=server.api_url("slurmrestd", "root"),
        auth={"type": "token", "token": credentials["token"]},
        user_name=credentials["user_name"],
        directory=credentials["home"],
        local_output=True,
        **options,
    )


def test_the_backend_learns_the_version_and_never_submits_twice(
    server: EmulatorServer, credentials: dict[str, Any]
) -> None:
    """The version comes from the daemon's OpenAPI document (no probing), and a submit whose
    answer is lost after the job was created is found by its tag, not re-sent."""
    forget_served()
    httpx.put(
        f"{server.url}/_emulator/faults", json={"spec": "drop_after=count:1@POST */slurmrestd/*/job/submit"}
    ).raise_for_status()
    before = httpx.get(f"{server.url}/_emulator/jobs").json()["submit_count"]
    server.clear_exchanges()
    with connect(server, credentials, api_version="auto") as client:
        job = client.submit("polaris", JobSpec(executable="/bin/echo", arguments=["once"]))
        done = client.wait("polaris", job.id, timeout=30, poll_interval=0.1)
        assert done.state is JobState.COMPLETED
        assert client.job_output("polaris", job.id).strip() == "once"
    asked = [(e.path, e.status) for e in server.exchanges() if e.path.endswith(("/ping", "/openapi/v3"))]
    assert asked == [("/slurmrestd/openapi/v3", 200)]
    assert httpx.get(f"{server.url}/_emulator/jobs").json()["submit_count"] == before + 1

"""The emulator's S3M flavour over plain HTTP: the raw token, status and downtimes, introspection,
field refusal, both path forms and a job's life."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest


@pytest.fixture(scope="module")
def s3m(emulator: Any) -> tuple[str, dict[str, str]]:
    credentials = emulator.flavour_credentials("s3m")
    return emulator.url, {"Authorization": credentials["token"]}


def test_job_calls_need_the_raw_token(s3m: tuple[str, dict[str, str]]) -> None:
    url, _ = s3m
    assert httpx.get(f"{url}/slurm/open/v0.0.43/polaris/jobs").status_code == 401
    assert (
        httpx.get(f"{url}/slurm/open/v0.0.43/polaris/jobs", headers={"Authorization": "nope"}).status_code
        == 401
    )


def test_status_downtimes_and_introspection(emulator: Any, s3m: tuple[str, dict[str, str]]) -> None:
    url, headers = s3m
    start = datetime.now(UTC) + timedelta(days=3)
    incident = httpx.post(
        f"{emulator.url}/_emulator/incidents",
        json={
            "name": "aurora maintenance",
            "type": "planned",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
            "resources": ["aurora"],
        },
    ).json()
    try:
        status = httpx.get(f"{url}/olcf/v1alpha/status").json()
        assert {r["name"] for r in status["resources"]} >= {"polaris", "aurora"}
        upcoming = httpx.get(f"{url}/olcf/v1alpha/status/downtimes/upcoming").json()["downtimes"]
        assert [d["resourceName"] for d in upcoming] == ["aurora"]
        assert upcoming[0]["attributes"]["scheduled"] is True
        assert httpx.get(f"{url}/olcf/v1alpha/status/aurora").json()["upcomingDowntimes"]
    finally:
        httpx.delete(f"{emulator.url}/_emulator/incidents/{incident['id']}")
    token = httpx.get(f"{url}/olcf/v1/token/ctls/introspect", headers=headers).json()["token"]
    assert token["plannedExpiration"] and token["username"] == "demo_auser"


def test_fields_s3m_does_not_accept_are_refused(s3m: tuple[str, dict[str, str]]) -> None:
    url, headers = s3m
    job = {"script": "#!/bin/sh\ntrue", "environment": ["PATH=/bin"], "constraints": "gpu"}
    answer = httpx.post(f"{url}/slurm/open/v0.0.43/polaris/job/submit", headers=headers, json={"job": job})
    assert answer.status_code == 400
    assert "constraints" in answer.json()["errors"][0]["description"]


@pytest.mark.parametrize("prefix", ["/slurm/open/v0.0.43/polaris", "/olcf/v1/slurm/open/v0.0.43/polaris"])
def test_a_job_runs_through_both_path_forms(s3m: tuple[str, dict[str, str]], prefix: str) -> None:
    url, headers = s3m
    body = {"job": {"script": "#!/bin/sh\nexit 4", "environment": ["PATH=/bin"], "name": "four"}}
    job_id = httpx.post(f"{url}{prefix}/job/submit", headers=headers, json=body).json()["job_id"]
    for _ in range(100):
        (info,) = httpx.get(f"{url}{prefix}/job/{job_id}", headers=headers).json()["jobs"]
        if info["job_state"] != ["PENDING"] and info["job_state"] != ["RUNNING"]:
            break
        time.sleep(0.1)
    assert info["job_state"] == ["FAILED"] and info["exit_code"]["return_code"]["number"] == 4
    assert info["name"] == "four"
    missing = httpx.get(f"{url}{prefix}/job/999999", headers=headers)
    assert missing.status_code == 404 and missing.json()["errors"][0]["error_number"] == 2017


def test_with_the_slurm_scheduler_jobs_are_real_slurm_jobs(tmp_path: Any) -> None:
    """``--scheduler slurm``: an S3M submit becomes a Slurm job (needs scripts/slurm-local.sh)."""
    from facility_emulator import EmulatorConfig, EmulatorServer
    from facility_emulator.scheduler import SlurmScheduler

    from ..conformance.flavours.slurmrest import ENV_FILE, slurm_settings

    if slurm_settings() is None:
        pytest.skip(f"local Slurm is not running ({ENV_FILE} is absent; run scripts/slurm-local.sh start)")
    config = EmulatorConfig(root=tmp_path, queue_delay=0.0, scheduler="slurm")
    with EmulatorServer(config) as server:
        assert isinstance(server.state.scheduler, SlurmScheduler)
        headers = {"Authorization": server.flavour_credentials("s3m")["token"]}
        prefix = f"{server.url}/slurm/open/v0.0.43/polaris"
        body = {"job": {"script": "#!/bin/sh\nexit 5", "environment": ["PATH=/bin"]}}
        job_id = httpx.post(f"{prefix}/job/submit", headers=headers, json=body).json()["job_id"]
        for _ in range(150):
            (info,) = httpx.get(f"{prefix}/job/{job_id}", headers=headers).json()["jobs"]
            if info["job_state"] not in (["PENDING"], ["RUNNING"]):
                break
            time.sleep(0.2)
        assert info["job_state"] == ["FAILED"] and info["exit_code"]["return_code"]["number"] == 5
        record = server.state.scheduler.get(str(job_id))
        assert record is not None
        slurm_id = record.extra["slurm_job_id"]
        shown = subprocess.run(
            ["scontrol", "show", "job", "-o", str(slurm_id)], capture_output=True, text=True, check=True
        ).stdout
        assert "JobState=FAILED" in shown and "ExitCode=5:0" in shown  # Slurm ran it
        if slurm_settings_have_accounting():
            accounted = ""
            for _ in range(100):  # slurmctld reports the job's end to slurmdbd on its own schedule
                accounted = subprocess.run(
                    ["sacct", "-n", "-X", "-P", "-j", str(slurm_id), "-o", "State,ExitCode"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                if accounted.startswith("FAILED"):
                    break
                time.sleep(0.2)
            assert accounted == "FAILED|5:0"  # and accounting recorded it


def slurm_settings_have_accounting() -> bool:
    from ..conformance.flavours.slurmrest import slurm_settings

    settings = slurm_settings()
    return settings is not None and settings.get("SLURM_ACCOUNTING") == "slurmdbd"

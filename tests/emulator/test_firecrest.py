"""The emulator's FirecREST flavour on its own: auth, errors, jobs, reservations, staging URLs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from facility_emulator import EmulatorServer
from facility_emulator.faults import parse_spec
from facility_emulator.firecrest.site import site_of

from .emu_helpers import wait_for


@pytest.fixture
def f7t(server: EmulatorServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.api_url("firecrest"), headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as c:
        yield c


def _home(server: EmulatorServer) -> str:
    return str(server.credentials["home"])


def _submit(f7t: httpx.Client, server: EmulatorServer, script: str) -> str:
    answer = f7t.post(
        "/compute/daint/jobs", json={"job": {"script": script, "workingDirectory": _home(server)}}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["jobId"])


def _state(f7t: httpx.Client, job_id: str, system: str = "daint") -> Any:
    answer = f7t.get(f"/compute/{system}/jobs/{job_id}")
    return answer.json()["jobs"][0]["status"] if answer.status_code == 200 else None


def test_requests_need_a_token_and_errors_are_api_response_errors(server: EmulatorServer) -> None:
    answer = httpx.get(f"{server.api_url('firecrest')}/status/systems")
    assert answer.status_code == 401
    assert answer.json()["errorType"] == "error" and answer.json()["message"]
    assert answer.headers["F7T-AppVersion"] == "2.5.6"


def test_unknown_system_and_escaping_paths(f7t: httpx.Client) -> None:
    assert f7t.get("/compute/nowhere/jobs").status_code == 404
    answer = f7t.get("/filesystem/daint/ops/ls", params={"path": "/etc"})
    assert answer.status_code == 403
    assert f7t.get("/filesystem/daint/ops/ls", params={"path": "relative"}).status_code == 400


def test_walltime_kill_is_timeout_and_exit_code_is_kept(f7t: httpx.Client, server: EmulatorServer) -> None:
    slow = _submit(f7t, server, "#!/bin/bash\n#SBATCH --time=0:01\nsleep 30\n")
    bad = _submit(f7t, server, "#!/bin/bash\nexit 4\n")
    timed_out = wait_for(lambda: (s := _state(f7t, slow)) and s["state"] == "TIMEOUT" and s, timeout=20)
    assert timed_out["stateReason"] == "TimeLimit"
    failed = wait_for(lambda: (s := _state(f7t, bad)) and s["state"] == "FAILED" and s)
    assert failed["exitCode"] == 4
    meta = f7t.get(f"/compute/daint/jobs/{bad}/metadata").json()["jobs"][0]
    assert meta["standardOutput"].endswith(f"slurm-{bad}.out")


def test_invisible_job_is_job_not_found(f7t: httpx.Client, server: EmulatorServer) -> None:
    server.state.install_faults(parse_spec("invisible=1.5"))
    try:
        job_id = _submit(f7t, server, "#!/bin/bash\ntrue\n")
        answer = f7t.get(f"/compute/daint/jobs/{job_id}")
        assert answer.status_code == 404 and answer.json()["message"] == "Job not found"
        assert job_id not in {j["jobId"] for j in f7t.get("/compute/daint/jobs").json()["jobs"]}
        wait_for(lambda: f7t.get(f"/compute/daint/jobs/{job_id}").status_code == 200, timeout=10)
    finally:
        server.state.install_faults(parse_spec(""))


def test_maintenance_reservation_marks_the_system_unhealthy(
    f7t: httpx.Client, server: EmulatorServer
) -> None:
    site = site_of(server.state)
    now = datetime.now(UTC)
    reservation = site.add_reservation("eiger", now - timedelta(minutes=1), now + timedelta(hours=1))
    try:
        listed = f7t.get("/status/eiger/reservations").json()["reservations"]
        assert [r["name"] for r in listed] == [reservation.name] and listed[0]["state"] == "ACTIVE"
        eiger = next(s for s in f7t.get("/status/systems").json()["systems"] if s["name"] == "eiger")
        scheduler = next(h for h in eiger["servicesHealth"] if h["serviceType"] == "scheduler")
        assert scheduler["healthy"] is False
        refused = f7t.post(
            "/compute/eiger/jobs",
            json={"job": {"script": "#!/bin/bash\n", "workingDirectory": _home(server)}},
        )
        assert refused.status_code == 503
    finally:
        site.remove_reservation(reservation.name)


def test_staging_urls_need_their_signature_and_limits_hold(f7t: httpx.Client, server: EmulatorServer) -> None:
    answer = f7t.post(
        "/filesystem/eiger/transfer/upload",
        json={
            "sourcePath": f"{_home(server)}/staged.bin",
            "transferDirectives": {"transferMethod": "s3", "fileSize": 10},
        },
    )
    assert answer.status_code == 201, answer.text
    directives = answer.json()["transferDirectives"]
    url = directives["partsUploadUrls"][0]
    assert httpx.put(url.split("?")[0], content=b"x").status_code == 403
    put = httpx.put(url, content=b"0123456789")
    assert put.status_code == 200 and put.headers["ETag"]
    assert httpx.post(directives["completeUploadUrl"], content=b"<xml/>").status_code == 200
    job_id = answer.json()["transferJob"]["jobId"]
    wait_for(lambda: (s := _state(f7t, job_id, "eiger")) and s["state"] == "COMPLETED", timeout=20)
    assert (server.state.sandbox.home / "staged.bin").read_bytes() == b"0123456789"
    big = b"x" * (1024 * 1024 + 1)
    refused = f7t.post(
        "/filesystem/eiger/ops/upload", params={"path": _home(server)}, files={"file": ("big.bin", big)}
    )
    assert refused.status_code == 413
    assert (
        f7t.post(
            "/filesystem/eiger/transfer/upload",
            json={
                "sourcePath": f"{_home(server)}/w.bin",
                "transferDirectives": {"transferMethod": "wormhole"},
            },
        ).status_code
        == 400
    )

"""Jobs really run: output files, exit codes, walltime, cancel, update, listing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from facility_emulator import EmulatorServer

from .emu_helpers import wait_for, wait_job


def _submit(client: httpx.Client, spec: dict[str, object], resource: str = "polaris") -> dict[str, object]:
    resp = client.post(f"/compute/job/{resource}", json=spec)
    assert resp.status_code == 200, resp.text
    job: dict[str, object] = resp.json()
    return job


def test_echo_job_completes_with_output(client: httpx.Client, server: EmulatorServer) -> None:
    job = _submit(
        client,
        {
            "executable": "/bin/sh",
            "arguments": ["-c", "echo hello $GREETING; echo oops >&2"],
            "name": "echo",
            "environment": {"GREETING": "world"},
        },
    )
    assert job["status"]["state"] == "new"  # type: ignore[index]
    spec = job["job_spec"]
    assert isinstance(spec, dict)
    home = Path(server.credentials["home"])
    assert spec["stdout_path"] == str(home / f"echo.{job['id']}.out")
    assert spec["environment"] == {"GREETING": "world"}
    final = wait_job(client, "polaris", str(job["id"]))
    assert final["status"]["state"] == "completed"
    assert final["status"]["exit_code"] == 0
    meta = final["status"]["meta_data"]
    assert meta["submitted"] <= meta["started"] <= meta["finished"]
    assert Path(spec["stdout_path"]).read_text() == "hello world\n"
    assert Path(spec["stderr_path"]).read_text() == "oops\n"
    with_spec = client.get(f"/compute/status/polaris/{job['id']}", params={"include_spec": "true"}).json()
    assert with_spec["job_spec"]["stdout_path"] == spec["stdout_path"]
    assert client.get(f"/compute/status/polaris/{job['id']}").json()["job_spec"] is None


def test_stdout_directory_and_resource_id(client: httpx.Client, server: EmulatorServer) -> None:
    home = Path(server.credentials["home"])
    (home / "logs").mkdir(exist_ok=True)
    rid = httpx.get(f"{server.iri_url()}/status/resources", params={"name": "polaris"}).json()[0]["id"]
    job = _submit(
        client,
        {"executable": "/bin/echo", "arguments": ["x"], "name": "d", "stdout_path": str(home / "logs")},
        rid,
    )
    assert job["job_spec"]["stdout_path"] == str(home / "logs" / f"d.{job['id']}.out")  # type: ignore[index]
    assert wait_job(client, rid, str(job["id"]))["status"]["state"] == "completed"


def test_exit_code_failure(client: httpx.Client) -> None:
    job = _submit(client, {"executable": "/bin/sh", "arguments": ["-c", "exit 3"]})
    final = wait_job(client, "polaris", str(job["id"]))
    assert final["status"]["state"] == "failed"
    assert final["status"]["exit_code"] == 3


def test_walltime_kills_job(client: httpx.Client) -> None:
    job = _submit(client, {"executable": "/bin/sleep", "arguments": ["30"], "attributes": {"duration": 1}})
    final = wait_job(client, "polaris", str(job["id"]), timeout=8)
    status = final["status"]
    assert status["state"] == "failed"
    assert "walltime exceeded" in status["message"]
    assert status["meta_data"]["reason"] == "walltime"
    assert status["meta_data"]["native_state"] == "TIMEOUT"


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return any(line.startswith("State:") and "Z" in line for line in handle)
    except FileNotFoundError:
        return True


def test_cancel_kills_process_group(client: httpx.Client, server: EmulatorServer) -> None:
    home = Path(server.credentials["home"])
    pidfile = home / "child.pid"
    pidfile.unlink(missing_ok=True)
    job = _submit(
        client, {"executable": "/bin/sh", "arguments": ["-c", f"sleep 60 & echo $! > {pidfile}; wait"]}
    )
    job_id = str(job["id"])
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip())
    child = int(pidfile.read_text())
    assert not _gone(child)
    assert client.delete(f"/compute/cancel/polaris/{job_id}").status_code == 204
    final = client.get(f"/compute/status/polaris/{job_id}").json()
    assert final["status"]["state"] == "canceled"
    wait_for(lambda: _gone(child), timeout=5)
    again = client.delete(f"/compute/cancel/polaris/{job_id}")
    assert again.status_code == 409


def test_update_only_while_queued(client: httpx.Client, server: EmulatorServer) -> None:
    admin = f"{server.url}/_emulator/config"
    httpx.put(admin, json={"queue_delay": 2})
    try:
        job = _submit(client, {"executable": "/bin/echo", "arguments": ["one"], "name": "upd"})
        job_id = str(job["id"])
        resp = client.put(
            f"/compute/job/polaris/{job_id}",
            json={"executable": "/bin/echo", "arguments": ["two"], "name": "upd"},
        )
        assert resp.status_code == 200, resp.text
        client.delete(f"/compute/cancel/polaris/{job_id}")
    finally:
        httpx.put(admin, json={"queue_delay": 0.1})
    done = _submit(client, {"executable": "/bin/true"})
    wait_job(client, "polaris", str(done["id"]))
    late = client.put(f"/compute/job/polaris/{done['id']}", json={"executable": "/bin/true"})
    assert late.status_code == 409


def test_list_and_filters(client: httpx.Client, server: EmulatorServer) -> None:
    first = _submit(client, {"executable": "/bin/sleep", "arguments": ["5"]})
    second = _submit(client, {"executable": "/bin/true"})
    wait_job(client, "polaris", str(second["id"]))
    active = client.post("/compute/status/polaris", json=None).json()
    ids = {j["id"] for j in active}
    assert first["id"] in ids and second["id"] not in ids
    hist = client.post(
        "/compute/status/polaris", params={"historical": "true"}, json={"job_ids": [second["id"]], "x": 1}
    ).json()
    assert [j["id"] for j in hist] == [second["id"]]
    client.delete(f"/compute/cancel/polaris/{first['id']}")
    jobs = httpx.get(f"{server.url}/_emulator/jobs").json()
    assert jobs["submit_count"] == len(jobs["jobs"])


def test_submit_errors(client: httpx.Client, server: EmulatorServer) -> None:
    assert client.post("/compute/job/nope", json={"executable": "/bin/true"}).status_code == 404
    assert client.post("/compute/job/eagle", json={"executable": "/bin/true"}).status_code == 400
    outside = client.post("/compute/job/polaris", json={"executable": "/bin/true", "directory": "/etc"})
    assert outside.status_code == 400
    assert outside.headers["content-type"].startswith("application/problem+json")
    assert client.post("/compute/job/polaris", json={"bogus": 1}).status_code == 422
    assert client.get("/compute/status/polaris/999999").status_code == 404


def test_environment_and_home(client: httpx.Client, server: EmulatorServer) -> None:
    job = _submit(
        client,
        {"executable": "/bin/sh", "arguments": ["-c", "echo $HOME; pwd"], "inherit_environment": False},
    )
    final = wait_job(client, "polaris", str(job["id"]))
    out = Path(job["job_spec"]["stdout_path"]).read_text().split()  # type: ignore[index]
    home = server.credentials["home"]
    assert final["status"]["state"] == "completed"
    assert out == [home, home]
    assert os.path.isdir(home)
    assert time.time() - final["status"]["time"] < 30

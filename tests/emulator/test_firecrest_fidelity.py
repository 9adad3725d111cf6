"""Each FirecREST v2 server behaviour the emulator reproduces in reference mode
(``fidelity firecrest=reference``): present in reference mode, absent (or as the spec-mode
emulator decided) in spec mode. The server's files are named in ``docs/emulator.md``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.firecrest.common import TOKEN_TOO_SOON
from facility_emulator.firecrest.site import site_of

from .conftest import issue_token
from .emu_helpers import wait_for

MODES = ["spec", "reference"]
EIGER_LIMIT = 1024 * 1024  # eiger's max_ops_file_size


@pytest.fixture(scope="module")
def firecrest_reference_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        root=tmp_path_factory.mktemp("emu-f7t-ref"),
        queue_delay=0.1,
        task_delay=0.02,
        kill_grace=0.5,
        fidelity="firecrest=reference",
    )
    with EmulatorServer(config) as srv:
        yield srv


@pytest.fixture
def pick(request: pytest.FixtureRequest) -> Any:
    """``pick(mode)`` -> the emulator of that fidelity."""

    def choose(mode: str) -> EmulatorServer:
        name = "server" if mode == "spec" else "firecrest_reference_server"
        server: EmulatorServer = request.getfixturevalue(name)
        return server

    return choose


@contextmanager
def f7t(server: EmulatorServer, token: str | None = None) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {token or issue_token(server)}"}
    with httpx.Client(base_url=server.api_url("firecrest"), headers=headers, timeout=10) as client:
        yield client


def home(server: EmulatorServer) -> str:
    return str(server.credentials["home"])


def error(answer: httpx.Response) -> tuple[int, str]:
    body = answer.json()
    assert set(body) == {"errorType", "message", "causedBy", "data", "user"}, body
    return answer.status_code, str(body["message"])


def submit(client: httpx.Client, server: EmulatorServer, script: str, system: str = "daint") -> str:
    answer = client.post(
        f"/compute/{system}/jobs", json={"job": {"script": script, "workingDirectory": home(server)}}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["jobId"])


def finished(client: httpx.Client, job_id: str, system: str = "daint") -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        answer = client.get(f"/compute/{system}/jobs/{job_id}")
        if answer.status_code != 200:
            return None
        job: dict[str, Any] = answer.json()["jobs"][0]
        terminal = job["status"]["state"].split()[0] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT")
        return job if terminal else None

    result: dict[str, Any] = wait_for(done, timeout=30)
    return result


# -- tokens -------------------------------------------------------------------------------------


@contextmanager
def token_lifetime(server: EmulatorServer, seconds: float) -> Iterator[None]:
    before = server.state.tokens.lifetime
    server.state.tokens.lifetime = seconds
    try:
        yield
    finally:
        server.state.tokens.lifetime = before


@pytest.mark.parametrize("mode", MODES)
def test_a_token_with_less_than_30_s_left_is_refused(mode: str, pick: Any) -> None:
    server = pick(mode)
    with token_lifetime(server, 29):
        short = issue_token(server)
    with token_lifetime(server, 40):
        enough = issue_token(server)
    with f7t(server, short) as client:
        answer = client.get("/status/systems")
    with f7t(server, enough) as client:
        assert client.get("/status/systems").status_code == 200
    if mode == "spec":
        assert answer.status_code == 200
        return
    assert error(answer) == (401, TOKEN_TOO_SOON)
    assert TOKEN_TOO_SOON == "Access token expires too soon (less than 30s remaining)."
    assert answer.json()["user"] is None and answer.json()["errorType"] == "error"
    assert answer.headers["auth-token"] == short  # the server echoes the refused token
    assert answer.headers["F7T-AppVersion"]


@pytest.mark.parametrize("mode", MODES)
def test_missing_and_unknown_tokens(mode: str, pick: Any) -> None:
    server = pick(mode)
    missing = httpx.get(f"{server.api_url('firecrest')}/status/systems")
    with f7t(server, "not-a-token") as client:
        unknown = client.get("/status/systems")
    assert missing.status_code == unknown.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    if mode == "reference":
        assert error(missing) == (401, "Not authenticated")
        assert error(unknown) == (401, "Access token is invalid.")


# -- files --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_extract_into_a_missing_directory(mode: str, pick: Any) -> None:
    server = pick(mode)
    base = Path(home(server)) / f"extract-{uuid.uuid4().hex[:8]}"
    base.mkdir()
    (base / "member.txt").write_text("inside\n")
    with f7t(server) as client:
        packed = client.post(
            "/filesystem/daint/ops/compress",
            json={"sourcePath": f"{base}/member.txt", "targetPath": f"{base}/a.tar.gz"},
        )
        assert packed.status_code == 204, packed.text
        direct = client.post(
            "/filesystem/daint/ops/extract",
            json={"sourcePath": f"{base}/a.tar.gz", "targetPath": f"{base}/new-direct"},
        )
        started = client.post(
            "/filesystem/daint/transfer/extract",
            json={"sourcePath": f"{base}/a.tar.gz", "targetPath": f"{base}/new-job"},
        )
        assert started.status_code == 201, started.text
        transfer = started.json()["transferJob"]
        job = finished(client, transfer["jobId"])
    output = Path(transfer["logs"]["outputLog"]).read_text()
    errors = Path(transfer["logs"]["errorLog"]).read_text()
    if mode == "spec":
        assert direct.status_code == 204
        assert (base / "new-direct" / "member.txt").read_text() == "inside\n"
        assert job["status"]["state"] == "COMPLETED" and "successfully extracted" in output
        assert (base / "new-job" / "member.txt").exists()
        return
    status, message = error(direct)
    assert status == 404
    assert message == (
        "Remote process failed with exit status:2 and error message:"
        f"tar: {base}/new-direct: Cannot open: No such file or directory\n"
        "tar: Error is not recoverable: exiting now"
    )
    assert not (base / "new-direct").exists() and not (base / "new-job").exists()
    # The server's job template ends with the status of an echo: COMPLETED, exit code 0.
    assert (job["status"]["state"], job["status"]["exitCode"]) == ("COMPLETED", 0)
    assert job["name"] == "CompressFiles"
    assert "successfully" not in output
    assert "Cannot open: No such file or directory" in errors and "Unable to extract files" in errors
    assert Path(transfer["logs"]["outputLog"]).name.startswith(".f7t_file_handling_job_")
    assert transfer["workingDirectory"] == home(server)


@pytest.mark.parametrize("mode", MODES)
def test_a_transfer_job_of_a_missing_source(mode: str, pick: Any) -> None:
    server = pick(mode)
    missing = f"{home(server)}/never-{uuid.uuid4().hex[:8]}"
    with f7t(server) as client:
        answer = client.post(
            "/filesystem/daint/transfer/mv", json={"sourcePath": missing, "targetPath": f"{missing}.b"}
        )
        if mode == "spec":
            assert answer.status_code == 404
            return
        assert answer.status_code == 201, answer.text
        transfer = answer.json()["transferJob"]
        job = finished(client, transfer["jobId"])
        removal = client.delete("/filesystem/daint/transfer/rm", params={"path": missing})
        assert removal.status_code == 200
        removed = finished(client, removal.json()["transferJob"]["jobId"])
    assert (job["name"], job["status"]["state"], job["status"]["exitCode"]) == ("MoveFiles", "COMPLETED", 0)
    assert "No such file or directory" in Path(transfer["logs"]["errorLog"]).read_text()
    assert (removed["name"], removed["status"]["state"]) == ("DeleteFiles", "COMPLETED")


@pytest.mark.parametrize("mode", MODES)
def test_view_sizes_on_a_system_with_a_smaller_limit(mode: str, pick: Any) -> None:
    server = pick(mode)
    path = Path(home(server)) / f"view-{mode}.txt"
    path.write_text(("x" * 1023 + "\n") * 1536)  # 1.5 MiB: larger than eiger's limit
    with f7t(server) as client:

        def view(**params: Any) -> httpx.Response:
            return client.get("/filesystem/eiger/ops/view", params={"path": str(path), **params})

        default = view()  # the server's default size is 5 MiB, whatever the system's limit
        at_limit = view(size=EIGER_LIMIT)
        half = view(size=(EIGER_LIMIT - 1) // 2, offset=10)
        nothing = view(size=0)
        backwards = view(size=10, offset=-1)
    assert default.status_code == 400
    assert (
        half.status_code == 200
        and half.json()["output"] == path.read_text()[10 : 10 + (EIGER_LIMIT - 1) // 2]
    )
    if mode == "spec":
        assert at_limit.status_code == 200 and len(at_limit.json()["output"]) == EIGER_LIMIT
        return
    assert error(default) == (400, f"`size` value must be less than {EIGER_LIMIT} bytes")
    # dd reads two blocks of `size` bytes: reaching the limit overflows the SSH read buffer.
    assert error(at_limit) == (413, "Command output exceeded buffer limit.")
    assert error(nothing) == (400, "`size` value must be an integer value greater than 0")
    assert error(backwards) == (400, "`offset` value must be an integer value equal or greater than 0")


@pytest.mark.parametrize("mode", MODES)
def test_direct_download_and_upload_go_through_base64(mode: str, pick: Any) -> None:
    server = pick(mode)
    path = Path(home(server)) / f"b64-{mode}.bin"
    path.write_bytes(b"\x01" * (EIGER_LIMIT * 4 // 5))  # under the limit, its base64 text above
    with f7t(server) as client:
        answer = client.get("/filesystem/eiger/ops/download", params={"path": str(path)})
        too_big = client.post(
            "/filesystem/eiger/ops/upload",
            params={"path": home(server)},
            files={"file": ("big.bin", b"x" * (EIGER_LIMIT + 1))},
        )
        quoted = client.post(
            "/filesystem/eiger/ops/upload", params={"path": home(server)}, files={"file": ("it's.txt", b"x")}
        )
    assert too_big.status_code == 413
    if mode == "spec":
        assert answer.status_code == 200 and len(answer.content) == EIGER_LIMIT * 4 // 5
        assert quoted.status_code == 204
        return
    assert error(answer) == (413, "Command output exceeded buffer limit.")
    assert error(too_big) == (413, "File to upload is too large.")
    assert error(quoted) == (
        500,
        "Remote process failed with exit status:2 and error message:"
        "bash: -c: line 1: unexpected EOF while looking for matching `''",
    )


# -- jobs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_cancel_of_an_ended_or_unknown_job(mode: str, pick: Any) -> None:
    server = pick(mode)
    with f7t(server) as client:
        job_id = submit(client, server, "#!/bin/bash\ntrue\n")
        finished(client, job_id)
        ended = client.delete(f"/compute/daint/jobs/{job_id}")
        unknown = client.delete("/compute/daint/jobs/987654321")
    if mode == "spec":
        assert ended.status_code == 204 and unknown.status_code == 404
        return
    said = "Unexpected Slurm command response. exit_status:0 std_err:scancel: Terminating job {0}\n"
    said += "scancel: error: Kill job error on job id {0}: {1}\n"
    assert error(ended) == (500, said.format(job_id, "Job/step already completing or completed"))
    assert error(unknown) == (500, said.format("987654321", "Invalid job id specified"))


@pytest.mark.parametrize("mode", MODES)
def test_a_cancelled_job_as_sacct_reports_it(mode: str, pick: Any) -> None:
    server = pick(mode)
    with f7t(server) as client:
        job_id = submit(client, server, "#!/bin/bash\n#SBATCH --time=0:30\nsleep 30\n")
        assert client.delete(f"/compute/daint/jobs/{job_id}").status_code == 204
        job = finished(client, job_id)
    if mode == "spec":
        assert job["status"]["state"] == "CANCELLED" and job["time"]["limit"] == 0
        return
    assert job["status"]["state"] == f"CANCELLED by {os.getuid()}"
    assert (job["status"]["exitCode"], job["status"]["interruptSignal"]) == (0, 0)
    assert job["time"]["limit"] == 60  # whole minutes, in seconds


@pytest.mark.parametrize("mode", MODES)
def test_refused_submits_unknown_jobs_and_bad_ids(mode: str, pick: Any) -> None:
    server = pick(mode)
    with f7t(server) as client:
        refused = client.post(
            "/compute/daint/jobs",
            json={"job": {"script": "#!/bin/bash\n", "workingDirectory": home(server), "partition": "nope"}},
        )
        unknown = client.get("/compute/daint/jobs/987654321")
        metadata = client.get("/compute/daint/jobs/987654321/metadata")
        bad_id = client.get("/compute/daint/jobs/12-3")
        no_system = client.get("/compute/nowhere/jobs")
        invalid = client.post("/filesystem/daint/ops/mkdir", json={"parent": True})
    if mode == "spec":
        assert error(refused)[0] == 400 and error(unknown) == (404, "Job not found")
        assert error(invalid)[0] == 422 and invalid.json()["errorType"] == "validation"
        return
    assert error(refused) == (
        500,
        "Unexpected Slurm command response. exit_status:1 std_err:"
        "sbatch: error: invalid partition specified: nope\n"
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n",
    )
    assert error(unknown) == error(metadata) == (404, "Job not found.")
    assert error(bad_id)[0] == 400 and bad_id.json()["errorType"] == "validation"
    assert error(no_system) == (404, "System not found")
    assert error(invalid)[0] == 400 and invalid.json()["errorType"] == "validation"


@pytest.mark.parametrize("mode", MODES)
def test_an_unhealthy_scheduler_refuses_every_call(mode: str, pick: Any) -> None:
    server = pick(mode)
    site = site_of(server.state)
    now = datetime.now(UTC)
    reservation = site.add_reservation("eiger", now - timedelta(minutes=1), now + timedelta(hours=1))
    try:
        with f7t(server) as client:
            listed = client.get("/compute/eiger/jobs")
            files = client.get("/filesystem/eiger/ops/ls", params={"path": home(server)})
    finally:
        site.remove_reservation(reservation.name)
    if mode == "spec":
        assert listed.status_code == files.status_code == 200
        return
    assert error(listed) == (503, "The scheduler service for the requested system (eiger) is unhealthy.")
    assert error(files) == (503, "The ssh service for the requested system (eiger) is unhealthy.")

"""The SF API flavour: its private-key-JWT token endpoint, and jobs, tasks and utilities."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from joserfc.jwk import RSAKey

from facility_common import AsyncFacilityClient, FacilityClient, JobSpec, JobState
from facility_common.backends.sfapi import SFAPIBackend
from facility_common.errors import APIError, AuthenticationError, ConfigurationError, InvalidJobSpec
from facility_emulator import EmulatorServer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _creds(server: EmulatorServer) -> dict[str, Any]:
    return server.flavour_credentials("sfapi")


def _token_request(server: EmulatorServer, key_pem: str, client_id: str, **claims: Any) -> httpx.Response:
    creds = _creds(server)
    assertion = private_key_jwt_sign(
        RSAKey.import_key(key_pem), client_id, creds["token_url"], claims=claims or None
    )
    return httpx.post(
        creds["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion.decode() if isinstance(assertion, bytes) else assertion,
        },
    )


def test_token_endpoint_accepts_the_registered_key(server: EmulatorServer) -> None:
    creds = _creds(server)
    assert len(creds["client_id"]) == 13
    answer = _token_request(server, creds["private_key"], creds["client_id"])
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    status = httpx.get(
        f"{server.api_url('sfapi')}/tasks", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert status.status_code == 200


def test_token_endpoint_refuses_wrong_key_expired_client_and_replay(server: EmulatorServer) -> None:
    creds = _creds(server)
    other = RSAKey.generate_key(2048).as_pem(private=True).decode()
    wrong = _token_request(server, other, creds["client_id"])
    assert wrong.status_code == 401 and "signature" in wrong.json()["error_description"]
    expired = _token_request(server, creds["expired_private_key"], creds["expired_client_id"])
    assert expired.status_code == 401 and "expired" in expired.json()["error_description"]
    stale = _token_request(server, creds["private_key"], creds["client_id"], exp=int(time.time()) - 3600)
    assert stale.status_code == 401 and "expired" in stale.json()["error_description"]
    replay = _token_request(server, creds["private_key"], creds["client_id"], jti="same")
    assert replay.status_code == 200
    again = _token_request(server, creds["private_key"], creds["client_id"], jti="same")
    assert again.status_code == 401 and "already used" in again.json()["error_description"]


def _compute_calls(server: EmulatorServer) -> int:
    routes = httpx.get(f"{server.url}/_emulator/stats").json()["routes"]
    return sum(count for route, count in routes.items() if "/sfapi/api/v1.2/compute" in route)


def _submit(server: EmulatorServer, auth: dict[str, Any]) -> None:
    with FacilityClient.connect("sfapi", base_url=server.api_url("sfapi"), auth=auth) as client:
        client.submit("perlmutter", JobSpec(executable="/bin/true"))


def test_bad_credentials_fail_clearly_before_any_job_call(server: EmulatorServer, tmp_path: Path) -> None:
    creds = _creds(server)
    before = _compute_calls(server)
    other = RSAKey.generate_key(2048).as_pem(private=True).decode()
    base = {"type": "private_key_jwt", "token_url": creds["token_url"]}
    with pytest.raises(AuthenticationError, match=r"invalid_client.*check the client id and its key"):
        _submit(server, {**base, "client_id": creds["client_id"], "private_key": other})
    with pytest.raises(AuthenticationError, match="has expired"):
        _submit(
            server,
            {**base, "client_id": creds["expired_client_id"], "private_key": creds["expired_private_key"]},
        )
    loose = tmp_path / "key.pem"
    loose.write_text(creds["private_key"])
    loose.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        _submit(server, {**base, "client_id": creds["client_id"], "key_path": str(loose)})
    assert _compute_calls(server) == before


def test_emulator_key_file_is_private_and_works(server: EmulatorServer) -> None:
    creds = _creds(server)
    key = Path(creds["key_path"])
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().splitlines()[0] == creds["client_id"]
    auth = {"type": "private_key_jwt", "token_url": creds["token_url"], "key_path": str(key)}
    with FacilityClient.connect("sfapi", base_url=server.api_url("sfapi"), auth=auth) as client:
        assert client.resource("perlmutter").name == "perlmutter"


@pytest.fixture
def client(server: EmulatorServer) -> Any:
    creds = _creds(server)
    auth = {
        "type": "private_key_jwt",
        "token_url": creds["token_url"],
        "client_id": creds["client_id"],
        "private_key": creds["private_key"],
    }
    with FacilityClient.connect(
        "sfapi", base_url=server.api_url("sfapi"), auth=auth, task_poll_interval=0.05
    ) as connected:
        yield connected


def test_indented_sbatch_is_fixed_so_the_walltime_applies(client: Any, server: EmulatorServer) -> None:
    script = "#!/bin/bash\n  #SBATCH --time=0:01\n  #SBATCH --job-name=indented\nsleep 30\n"
    job = client.submit("perlmutter", JobSpec(script=script))
    done = client.wait("perlmutter", job.id, timeout=60, poll_interval=0.2)
    assert done.state is JobState.TIMEOUT
    assert done.name == "indented"


def test_refusing_policy_names_the_lines(server: EmulatorServer) -> None:
    creds = _creds(server)
    auth = {
        "type": "private_key_jwt",
        "token_url": creds["token_url"],
        "client_id": creds["client_id"],
        "private_key": creds["private_key"],
    }
    with (
        FacilityClient.connect(
            "sfapi", base_url=server.api_url("sfapi"), auth=auth, sbatch_whitespace="refuse"
        ) as strict,
        pytest.raises(InvalidJobSpec, match=r"line\(s\) 2"),
    ):
        strict.submit("perlmutter", JobSpec(script="#!/bin/bash\n #SBATCH -t 1\necho\n"))


def test_squeue_drops_finished_jobs_and_sacct_says_cancelled_by(client: Any, server: EmulatorServer) -> None:
    job = client.submit("perlmutter", JobSpec(executable="/bin/sleep", arguments=["30"]))
    client.cancel("perlmutter", job.id)
    done = client.wait("perlmutter", job.id, timeout=30, poll_interval=0.1)
    assert done.state is JobState.CANCELLED
    assert done.native_state is not None and done.native_state.startswith("CANCELLED by ")
    creds = _creds(server)
    access = _token_request(server, creds["private_key"], creds["client_id"]).json()["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    url = f"{server.api_url('sfapi')}/compute/jobs/perlmutter"
    squeue = httpx.get(url, params={"cached": "false", "kwargs": f"jobid={job.id}"}, headers=headers).json()
    assert squeue == {"status": "OK", "output": [], "error": None}
    sacct = httpx.get(
        url, params={"sacct": "true", "cached": "false", "kwargs": f"jobid={job.id}"}, headers=headers
    ).json()
    assert [row["jobid"] for row in sacct["output"]] == [job.id]


def test_command_runs_and_files_move(client: Any, server: EmulatorServer, tmp_path: Path) -> None:
    home = server.credentials["home"]
    creds = _creds(server)
    auth = {
        "type": "private_key_jwt",
        "token_url": creds["token_url"],
        "client_id": creds["client_id"],
        "private_key": creds["private_key"],
    }

    async def run_commands() -> tuple[str, str]:
        async with AsyncFacilityClient.connect(
            "sfapi", base_url=server.api_url("sfapi"), auth=auth, task_poll_interval=0.05
        ) as async_client:
            backend = async_client.backend
            assert isinstance(backend, SFAPIBackend)
            made = await backend.command("perlmutter", ["mkdir", "-p", f"{home}/cmd test"])
            with pytest.raises(APIError, match="No such file"):
                await backend.command("perlmutter", "ls /definitely/missing")
            return made, await backend.command("perlmutter", "echo hello")

    made, hello = anyio.run(run_commands)
    assert made == "" and hello == "hello\n"
    local = tmp_path / "up.bin"
    local.write_bytes(b"\x00\xffdata")
    client.upload("perlmutter", local, f"{home}/cmd test/up.bin")
    names = {entry.name for entry in client.ls("perlmutter", f"{home}/cmd test")}
    assert names == {"up.bin"}
    client.download("perlmutter", f"{home}/cmd test/up.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == b"\x00\xffdata"
    assert client.stat("perlmutter", f"{home}/cmd test/up.bin").size == 6


def test_a_reservation_name_reaches_the_job(client: Any) -> None:
    """The SF API has no reservation routes (reservations are requested from NERSC, outside the
    API); a job runs in one by naming it: ``attributes.reservation_id`` becomes
    ``#SBATCH --reservation``, which squeue and sacct then show."""
    from facility_common import JobAttributes

    spec = JobSpec(
        executable="/bin/sleep",
        arguments=["30"],
        attributes=JobAttributes(reservation_id="dirac_demo", queue_name="debug"),
    )
    job = client.submit("perlmutter", spec)
    try:
        assert client.get_job("perlmutter", job.id).raw["reservation"] == "dirac_demo"
    finally:
        client.cancel("perlmutter", job.id)
    done = client.wait("perlmutter", job.id, timeout=60, poll_interval=0.2)
    assert done.raw["reservation"] == "dirac_demo"  # from sacct once the job has left squeue
    with pytest.raises(InvalidJobSpec, match="reservation_id"):
        client.submit(
            "perlmutter", JobSpec(executable="/bin/true", attributes=JobAttributes(reservation_id="a b"))
        )


def test_whoami_tells_the_groups_and_projects(server: EmulatorServer, client: Any) -> None:
    """``GET /account/groups`` (sfapi_client's ``GroupStats``) gives the identity its groups: the
    user's own and one per project, as at NERSC."""
    identity = client.whoami()
    assert identity.username == server.config.user
    assert identity.groups == (server.config.user, "demo", "staff")
    assert identity.projects == ("demo", "staff")

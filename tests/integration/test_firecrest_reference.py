"""The FirecREST backend against the emulator answering as the FirecREST v2 server does
(``fidelity firecrest=reference``): extract into a new directory, tokens close to expiry,
``view``/``job_output``/``download`` within a smaller ``max_ops_file_size``, ``wait`` through
failing list calls, and what Slurm's commands say behind the server's 500s."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from facility_common import (
    AuthenticationError,
    FacilityClient,
    JobAttributes,
    JobSpec,
    JobState,
    JobSubmissionError,
    NotFoundError,
    WaitTimeout,
)
from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.faults import parse_spec

EIGER_LIMIT = 1024 * 1024  # eiger's max_ops_file_size (daint keeps the server's 5 MiB default)
WAIT: dict[str, Any] = {"timeout": 60, "poll_interval": 0.1}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        root=tmp_path_factory.mktemp("f7t-reference"),
        queue_delay=0.05,
        task_delay=0.0,
        fidelity="firecrest=reference",
    )
    with EmulatorServer(config) as emulator:
        yield emulator


def auth_of(server: EmulatorServer) -> dict[str, str]:
    credentials = server.credentials
    return {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }


def connect(server: EmulatorServer, **options: Any) -> FacilityClient:
    return FacilityClient.connect(
        "firecrest",
        base_url=server.api_url("firecrest"),
        auth=auth_of(server),
        account="demo",
        transfer_poll_interval=0.1,
        **options,
    )


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[FacilityClient]:
    with connect(server) as facility:
        yield facility


@pytest.fixture
def faults(server: EmulatorServer) -> Iterator[Any]:
    yield lambda spec: server.state.install_faults(parse_spec(spec))
    server.state.install_faults(parse_spec(""))


def raw(server: EmulatorServer) -> httpx.Client:
    """A plain client with a fresh token, to show what the server itself answers."""
    credentials = server.credentials
    token = httpx.post(
        credentials["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.api_url("firecrest"), headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def statuses(server: EmulatorServer) -> dict[str, int]:
    return dict(httpx.get(f"{server.url}/_emulator/stats").json()["statuses"])


def route_count(server: EmulatorServer, route: str) -> int:
    return int(httpx.get(f"{server.url}/_emulator/stats").json()["routes"].get(route, 0))


def token_requests(server: EmulatorServer) -> int:
    routes = httpx.get(f"{server.url}/_emulator/stats").json()["routes"]
    return sum(int(count) for route, count in routes.items() if "token" in route.lower())


# -- 1. extract into a new directory ------------------------------------------------------------


def test_extract_creates_its_target_directory_first(
    client: FacilityClient, server: EmulatorServer, tmp_path: Path
) -> None:
    home = server.credentials["home"]
    work = f"{home}/extract-{uuid.uuid4().hex[:8]}"
    client.mkdir("daint", work, parents=True)
    (tmp_path / "member.txt").write_text("inside\n")
    client.upload("daint", tmp_path / "member.txt", f"{work}/member.txt")
    client.compress("daint", f"{work}/member.txt", f"{work}/a.tar.gz")
    with raw(server) as plain:  # the server's tar -C does not create the directory
        refused = plain.post(
            "/filesystem/daint/ops/extract",
            json={"sourcePath": f"{work}/a.tar.gz", "targetPath": f"{work}/plain/new"},
        )
    assert (
        refused.status_code == 404 and "Cannot open: No such file or directory" in refused.json()["message"]
    )
    server.clear_exchanges()
    client.extract("daint", f"{work}/a.tar.gz", f"{work}/deep/new")
    assert [e.name for e in client.ls("daint", f"{work}/deep/new")] == ["member.txt"]
    calls = [e.path.rsplit("/", 1)[-1] for e in server.exchanges() if "/ops/" in e.path]
    assert calls[:2] == ["mkdir", "extract"]


# -- 2. token lead time -------------------------------------------------------------------------


def test_no_call_meets_the_servers_token_refusal_with_short_tokens(server: EmulatorServer) -> None:
    """41 s tokens: the server refuses them from 11 s after issue, the backend stops sending each
    one 1 s after issue (it sends only tokens with 40 s left), so none is ever refused."""
    tokens = server.state.tokens
    before = tokens.lifetime
    tokens.lifetime = 41
    httpx.delete(f"{server.url}/_emulator/stats")
    try:
        with connect(server) as client:
            job = client.submit(
                "daint", JobSpec(executable="/bin/sh", arguments=["-c", "sleep 1.5; echo lead"])
            )
            assert client.wait("daint", job.id, **WAIT).state is JobState.COMPLETED
            assert client.job_output("daint", job.id).strip() == "lead"
            assert client.ls("daint", server.credentials["home"]) is not None
    finally:
        tokens.lifetime = before
    assert statuses(server).get("401", 0) == 0
    assert token_requests(server) >= 2  # tokens were replaced as they aged, before any refusal


def test_the_servers_token_refusal_is_a_clear_authentication_error(server: EmulatorServer) -> None:
    tokens = server.state.tokens
    before = tokens.lifetime
    tokens.lifetime = 29  # less than the server accepts, even fresh
    try:
        with connect(server) as client, pytest.raises(AuthenticationError) as caught:
            client.resources()
    finally:
        tokens.lifetime = before
    text = f"{caught.value} {caught.value!r}"
    assert "expires too soon (less than 30s remaining)" in text
    assert server.credentials["client_secret"] not in text
    assert not any(issued in text for issued in _issued_tokens(server))  # the server echoed it back


def _issued_tokens(server: EmulatorServer) -> list[str]:
    return [
        e.response_headers["auth-token"] for e in server.exchanges() if "auth-token" in e.response_headers
    ]


# -- 3. view, job_output and download under a smaller max_ops_file_size ---------------------------


def test_view_job_output_and_download_work_under_a_smaller_limit(
    client: FacilityClient, server: EmulatorServer, tmp_path: Path
) -> None:
    home = server.credentials["home"]
    big_text = ("x" * 1023 + "\n") * 1536  # 1.5 MiB of output, above eiger's limit
    job = client.submit(
        "eiger", JobSpec(executable="/bin/sh", arguments=["-c", "yes " + "x" * 1023 + " | head -n 1536"])
    )
    assert client.wait("eiger", job.id, **WAIT).state is JobState.COMPLETED
    output = client.job_output("eiger", job.id)
    assert output and big_text.startswith(output)
    assert client.job_output("eiger", job.id, tail=1) == "x" * 1023 + "\n"
    (tmp_path / "big.txt").write_text(big_text)
    client.upload("eiger", tmp_path / "big.txt", f"{home}/big.txt")
    assert client.view("eiger", f"{home}/big.txt", offset=5, size=100) == big_text[5:105]
    assert len(client.view("eiger", f"{home}/big.txt")) == (EIGER_LIMIT - 1) // 2
    assert client.view("eiger", f"{home}/big.txt", size=0) == ""
    # Under the limit, but its base64 text is not: the staged path, not a 413.
    (tmp_path / "mid.bin").write_bytes(b"\x07" * (EIGER_LIMIT * 4 // 5))
    client.upload("eiger", tmp_path / "mid.bin", f"{home}/mid.bin")
    client.download("eiger", f"{home}/mid.bin", tmp_path / "mid-back.bin")
    assert (tmp_path / "mid-back.bin").read_bytes() == (tmp_path / "mid.bin").read_bytes()
    with raw(server) as plain:  # what a client that leaves size out, or sends the limit, meets
        default = plain.get("/filesystem/eiger/ops/view", params={"path": f"{home}/big.txt"})
        at_limit = plain.get(
            "/filesystem/eiger/ops/view", params={"path": f"{home}/big.txt", "size": EIGER_LIMIT}
        )
        direct = plain.get("/filesystem/eiger/ops/download", params={"path": f"{home}/mid.bin"})
    assert (default.status_code, default.json()["message"]) == (
        400,
        f"`size` value must be less than {EIGER_LIMIT} bytes",
    )
    assert at_limit.status_code == direct.status_code == 413


# -- 4. wait through failing list calls ---------------------------------------------------------


def test_wait_falls_back_to_get_job_when_every_list_call_fails(
    client: FacilityClient, server: EmulatorServer, faults: Any
) -> None:
    job = client.submit("daint", JobSpec(executable="/bin/echo", arguments=["listless"]))
    httpx.delete(f"{server.url}/_emulator/stats")
    faults("500@GET /firecrest/compute/daint/jobs")
    done = client.wait("daint", job.id, **WAIT)
    assert done.state is JobState.COMPLETED
    assert route_count(server, "GET /firecrest/compute/{system_name}/jobs") >= 1  # asked, and failed
    assert route_count(server, "GET /firecrest/compute/{system_name}/jobs/{job_id}") >= 1


def test_a_wait_that_times_out_says_what_the_server_answered(
    client: FacilityClient, server: EmulatorServer, faults: Any
) -> None:
    job = client.submit("daint", JobSpec(executable="/bin/sleep", arguments=["30"]))
    try:
        faults("500@GET /firecrest/compute/daint/jobs*")
        with pytest.raises(WaitTimeout) as caught:
            client.wait("daint", job.id, timeout=1, poll_interval=0.1)
    finally:
        faults("")
        client.cancel("daint", job.id)
    assert "the last status call failed" in str(caught.value) and "500" in str(caught.value)


# -- 5. what Slurm's commands say behind the server's 500s ---------------------------------------


def test_cancel_of_an_ended_job_is_quiet_and_of_an_unknown_one_not_found(client: FacilityClient) -> None:
    job = client.submit("daint", JobSpec(executable="/bin/true"))
    assert client.wait("daint", job.id, **WAIT).state is JobState.COMPLETED
    client.cancel("daint", job.id)  # the server answers 500: scancel wrote "already completing or completed"
    with pytest.raises(NotFoundError, match="not known to Slurm"):
        client.cancel("daint", "987654321")


def test_a_cancelled_job_reads_cancelled(client: FacilityClient) -> None:
    job = client.submit("daint", JobSpec(executable="/bin/sleep", arguments=["30"]))
    client.cancel("daint", job.id)
    done = client.wait("daint", job.id, **WAIT)
    assert done.state is JobState.CANCELLED and (done.native_state or "").startswith("CANCELLED by ")


def test_a_submit_sbatch_refuses_is_refused_once(client: FacilityClient, server: EmulatorServer) -> None:
    server.clear_exchanges()
    spec = JobSpec(executable="/bin/true", attributes=JobAttributes(queue_name="nope"))
    with pytest.raises(JobSubmissionError) as caught:
        client.submit("daint", spec)
    assert not caught.value.outcome_unknown
    assert "invalid partition specified: nope" in str(caught.value)
    posts = [e for e in server.exchanges() if e.method == "POST" and e.path.endswith("/jobs")]
    assert len(posts) == 1  # read as sbatch's refusal, not as a 500 whose job may exist


def test_a_transfer_job_of_a_missing_path_is_not_found(
    client: FacilityClient, server: EmulatorServer
) -> None:
    home = server.credentials["home"]
    with pytest.raises(NotFoundError, match="No such file or directory"):
        client.mv("daint", f"{home}/never-there", f"{home}/elsewhere")
    with pytest.raises(NotFoundError):
        client.cp("daint", f"{home}/never-there", f"{home}/elsewhere")

"""FirecREST jobs and tokens through the whole stack: a job the scheduler does not show yet is
PENDING (a job never submitted here is NotFound cleanly), a token the facility stops accepting is
replaced once without the caller noticing, a tagged job is found by its tag, and the job ``wait``
and ``get_job`` return carries its output paths."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facility_common import FacilityClient, JobSpec, JobState, NotFoundError
from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.faults import parse_spec


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("f7t-jobs"), queue_delay=0.05, token_lifetime=300)
    with EmulatorServer(config) as emulator:
        yield emulator


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[Any]:
    credentials = server.credentials
    auth = {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }
    with FacilityClient.connect("firecrest", base_url=server.api_url("firecrest"), auth=auth) as facility:
        yield facility


def test_a_job_not_yet_visible_is_pending_then_completes(client: Any, server: EmulatorServer) -> None:
    server.state.install_faults(parse_spec("invisible=2"))
    try:
        job = client.submit("daint", JobSpec(executable="/bin/echo", arguments=["late"]))
        early = client.get_job("daint", job.id)
        assert early.state is JobState.PENDING and early.native_state == "NOT_YET_VISIBLE"
        with pytest.raises(NotFoundError):
            client.get_job("daint", "987654321")
        done = client.wait("daint", job.id, timeout=60, poll_interval=0.2)
    finally:
        server.state.install_faults(parse_spec(""))
    assert done.state is JobState.COMPLETED
    assert client.job_output("daint", job.id).strip() == "late"


def test_a_refused_token_is_replaced_once(client: Any, server: EmulatorServer, tmp_path: Path) -> None:
    assert client.resource("daint").name == "daint"
    server.state.tokens.revoke_all()
    assert client.resource("eiger").name == "eiger"
    assert client.ls("daint", server.credentials["home"]) is not None


def test_find_job_by_tag_finds_the_tagged_job_and_only_it(client: Any, server: EmulatorServer) -> None:
    tag = uuid.uuid4().hex
    spec = JobSpec(executable="/bin/echo", arguments=["tagged"], environment={"FACILITY_SUBMIT_TAG": tag})
    job = client.submit("daint", spec)
    client.wait("daint", job.id, timeout=60, poll_interval=0.2)
    found = client.find_job_by_tag("daint", tag)
    assert found is not None and found.id == job.id
    assert client.find_job_by_tag("daint", uuid.uuid4().hex) is None


def test_the_job_wait_returns_carries_its_output_paths(client: Any) -> None:
    job = client.submit("daint", JobSpec(executable="/bin/echo", arguments=["paths"]))
    done = client.wait("daint", job.id, timeout=60, poll_interval=0.2)
    assert done.state is JobState.COMPLETED
    assert done.stdout_path and done.stdout_path.endswith(f"slurm-{job.id}.out")
    assert done.stderr_path == done.stdout_path  # Slurm's default: both streams in one file
    again = client.get_job("daint", job.id)
    assert (again.stdout_path, again.stderr_path) == (done.stdout_path, done.stderr_path)

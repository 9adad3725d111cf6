"""The Flux backend when things go wrong: a lost submit answer, an ambiguous one, a revoked
token, a stopped instance, and every auth backend of the emulated server through the public
client; and what ``find_job_by_tag`` can answer on Flux."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from facility_common import FacilityClient, JobSpec, JobState
from facility_common.errors import (
    AuthenticationError,
    JobSubmissionError,
    ServerError,
    UnsupportedOperation,
)
from facility_common.http import RetryPolicy
from facility_common.models import ResourceState
from facility_emulator import EmulatorConfig, EmulatorServer


@pytest.fixture(scope="module")
def flux_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("flux-reliability"), queue_delay=0.05)
    with EmulatorServer(config) as server:
        yield server


def credentials(server: EmulatorServer) -> dict[str, Any]:
    return server.flavour_credentials("flux")


def connect(server: EmulatorServer, label: str = "shared-secret", **options: Any) -> FacilityClient:
    c = credentials(server)
    auth_options: dict[str, Any] = {
        "shared-secret": {"user": c["user"], "token": c["token"], "secret_key": c["secret_key"]},
        "basic": {"user": c["user"], "token": c["token"]},
        "database": {"user": c["user"], "token": c["token"], "auth_method": "password"},
        "none": {},
    }[label]
    return FacilityClient.connect("flux", base_url=server.api_url("flux", label), **auth_options, **options)


def admin(server: EmulatorServer, path: str) -> None:
    httpx.post(f"{server.url}/_emulator/flux/{path}", timeout=10).raise_for_status()


def flux_jobs(server: EmulatorServer) -> int:
    answer = httpx.get(f"{server.url}/_emulator/flux", timeout=10).json()
    return int(answer["shared-secret"]["jobs"])


def test_a_lost_submit_answer_finds_the_job_instead_of_sending_it_again(flux_server: EmulatorServer) -> None:
    httpx.put(
        f"{flux_server.url}/_emulator/faults", json={"spec": "drop_after=count:1@POST /flux/v1/jobs/submit"}
    ).raise_for_status()
    try:
        before = flux_jobs(flux_server)
        httpx.delete(f"{flux_server.url}/_emulator/stats").raise_for_status()
        with connect(flux_server) as client:
            job = client.submit("flux", JobSpec(executable="/bin/echo", arguments=["once"]))
            done = client.wait("flux", job.id, timeout=30, poll_interval=0.1)
            assert done.state is JobState.COMPLETED
            assert client.job_output("flux", job.id) == "once\n"
        assert flux_jobs(flux_server) == before + 1
        routes = httpx.get(f"{flux_server.url}/_emulator/stats").json()["routes"]
        assert routes["POST /flux/v1/jobs/submit"] == 1  # sent once, its answer cut off
        assert routes["GET /flux/v1/jobs"] >= 1  # then looked up
    finally:
        httpx.delete(f"{flux_server.url}/_emulator/faults")


def test_a_revoked_token_is_replaced_by_a_new_handshake(flux_server: EmulatorServer) -> None:
    with connect(flux_server) as client:
        assert client.resource("flux").state is ResourceState.UP
        admin(flux_server, "shared-secret/revoke-tokens")
        job = client.submit("flux", JobSpec(executable="/bin/true"))
        assert client.wait("flux", job.id, timeout=30, poll_interval=0.1).state is JobState.COMPLETED


def test_wrong_credentials_are_an_authentication_error(flux_server: EmulatorServer) -> None:
    c = credentials(flux_server)
    with (
        FacilityClient.connect(
            "flux",
            base_url=flux_server.api_url("flux"),
            user=c["user"],
            token="wrong",
            secret_key=c["secret_key"],
        ) as client,
        pytest.raises(AuthenticationError),
    ):
        client.resources()


def test_a_stopped_instance_is_down_and_refuses_work(flux_server: EmulatorServer) -> None:
    admin(flux_server, "none/stop")
    try:
        with connect(flux_server, "none", retry=RetryPolicy(attempts=1)) as client:
            assert client.resource("flux").state is ResourceState.DOWN
            assert client.is_available("flux") is False
            with pytest.raises(ServerError) as caught:
                client.submit("flux", JobSpec(executable="/bin/true"))
            assert caught.value.status_code == 503
    finally:
        admin(flux_server, "none/start")


@pytest.mark.parametrize("label", ["none", "basic", "database"])
def test_every_auth_backend_runs_a_job(flux_server: EmulatorServer, label: str) -> None:
    with connect(flux_server, label) as client:
        job = client.submit("flux", JobSpec(executable="/bin/echo", arguments=[label]))
        assert client.wait("flux", job.id, timeout=30, poll_interval=0.1).state is JobState.COMPLETED
        assert client.job_output("flux", job.id, tail=1) == f"{label}\n"


def faults(server: EmulatorServer, spec: str) -> None:
    httpx.put(f"{server.url}/_emulator/faults", json={"spec": spec}, timeout=10).raise_for_status()


def submits(server: EmulatorServer) -> int:
    routes = httpx.get(f"{server.url}/_emulator/stats", timeout=10).json()["routes"]
    return int(routes.get("POST /flux/v1/jobs/submit", 0))


def jobs_tagged(server: EmulatorServer, tag: str) -> list[str]:
    jobs = httpx.get(f"{server.url}/_emulator/jobs", timeout=10).json()["jobs"]
    return [str(job["id"]) for job in jobs if tag in json.dumps(job.get("spec"))]


def tagged(tag: str, *arguments: str) -> JobSpec:
    return JobSpec(
        executable="/bin/echo", arguments=list(arguments), environment={"FACILITY_SUBMIT_TAG": tag}
    )


def test_find_job_by_tag_on_flux(flux_server: EmulatorServer) -> None:
    """Found for a tag this client submitted; None for a tag whose submit never reached the
    server (a 504 from the gateway); another client cannot tell, and says so."""
    mine, lost = uuid.uuid4().hex, uuid.uuid4().hex
    with connect(flux_server, submit_lookup_delays=(0.0,)) as client:
        job = client.submit("flux", tagged(mine, "found"))
        found = client.find_job_by_tag("flux", mine)
        assert found is not None and found.id == job.id
        faults(flux_server, "504=count:1@POST /flux/v1/jobs/submit")
        try:
            with pytest.raises(JobSubmissionError) as caught:
                client.submit("flux", tagged(lost, "never-arrived"))
            assert caught.value.outcome_unknown
        finally:
            httpx.delete(f"{flux_server.url}/_emulator/faults")
        assert client.find_job_by_tag("flux", lost) is None
        assert jobs_tagged(flux_server, lost) == []
    with connect(flux_server) as other, pytest.raises(UnsupportedOperation):
        other.find_job_by_tag("flux", mine)


def test_several_candidates_are_an_unknown_outcome_and_never_a_second_job(
    flux_server: EmulatorServer,
) -> None:
    """Another client's identical jobs around a lost answer: the submit says its outcome is
    unknown, a retry of the tag looks again without sending, and those jobs do not confuse a
    later lost answer of this client."""
    arguments = ("twin", uuid.uuid4().hex[:8])
    with connect(flux_server, submit_lookup_delays=(0.0,)) as mine, connect(flux_server) as other:
        for _ in range(2):
            other.submit("flux", JobSpec(executable="/bin/echo", arguments=list(arguments)))
        tag = uuid.uuid4().hex
        httpx.delete(f"{flux_server.url}/_emulator/stats").raise_for_status()
        faults(flux_server, "504_after=count:1@POST /flux/v1/jobs/submit")
        try:
            for _ in range(2):
                with pytest.raises(JobSubmissionError, match="several new jobs") as caught:
                    mine.submit("flux", tagged(tag, *arguments))
                assert caught.value.outcome_unknown and tag in str(caught.value)
        finally:
            httpx.delete(f"{flux_server.url}/_emulator/faults")
        assert submits(flux_server) == 1 and len(jobs_tagged(flux_server, tag)) == 1
        later = uuid.uuid4().hex
        faults(flux_server, "drop_after=count:1@POST /flux/v1/jobs/submit")
        try:
            job = mine.submit("flux", tagged(later, *arguments))
        finally:
            httpx.delete(f"{flux_server.url}/_emulator/faults")
        assert jobs_tagged(flux_server, later) == [job.id]
        assert mine.wait("flux", job.id, timeout=30, poll_interval=0.1).state is JobState.COMPLETED


def test_a_500_on_submit_is_looked_into_and_then_sent_again(flux_server: EmulatorServer) -> None:
    """The shared submit policy counts a 500 as an unknown outcome (the server may have acted):
    the backend looks for the job first. Here the 500 came before the server acted, so the look
    finds none and the submit is sent once more, making exactly one job."""
    tag = uuid.uuid4().hex
    with connect(flux_server, submit_lookup_delays=(0.0,)) as client:
        client.list_jobs("flux")  # the jobs of earlier tests are now known not to be this submit's
        httpx.delete(f"{flux_server.url}/_emulator/stats").raise_for_status()
        faults(flux_server, "500=count:1@POST /flux/v1/jobs/submit")
        try:
            job = client.submit("flux", tagged(tag, "after-500"))
        finally:
            httpx.delete(f"{flux_server.url}/_emulator/faults")
        routes = httpx.get(f"{flux_server.url}/_emulator/stats", timeout=10).json()["routes"]
        assert routes["GET /flux/v1/jobs"] >= 1  # looked before sending again
        assert submits(flux_server) == 2 and jobs_tagged(flux_server, tag) == [job.id]

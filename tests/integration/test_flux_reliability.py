"""The Flux backend when things go wrong: a lost submit answer, a revoked token, a stopped
instance, and every auth backend of the emulated server through the public client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from facility_common import FacilityClient, JobSpec, JobState
from facility_common.errors import AuthenticationError, ServerError
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

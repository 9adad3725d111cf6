"""The IRI client through a misbehaving emulator: token economy, throttling, 5xx bursts, lost
answers to a submit, and jobs invisible right after submit."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest

from facility_common import AsyncFacilityClient, FacilityClient, JobAttributes, JobSpec, JobState
from facility_common.http import RetryPolicy
from facility_emulator import EmulatorConfig, EmulatorServer


def oidc(server: EmulatorServer) -> dict[str, Any]:
    credentials = server.credentials
    return {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }


def admin(server: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    answer = httpx.request(method, f"{server.url}/_emulator/{path}", json=body, timeout=10)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def jobs_named(server: EmulatorServer, name: str) -> list[dict[str, Any]]:
    return [job for job in admin(server, "GET", "jobs")["jobs"] if job["spec"].get("name") == name]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("faulty"), queue_delay=0.05, task_delay=0.0)
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture(autouse=True)
def clear_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "faulty" in request.fixturenames:
        admin(request.getfixturevalue("faulty"), "DELETE", "faults")


TOKEN_LIFETIME = 2.0
LIFETIMES = 4
MIN_CALLS = 400


def test_token_requests_follow_the_lifetime_not_the_calls(tmp_path_factory: pytest.TempPathFactory) -> None:
    """20 concurrent callers over several 2 s token lifetimes, and at least MIN_CALLS calls however
    slow the machine: the token endpoint is asked about once per lifetime, never once per call."""
    config = EmulatorConfig(root=tmp_path_factory.mktemp("tokens"), token_lifetime=TOKEN_LIFETIME)
    with EmulatorServer(config) as server:
        calls = 0

        async def caller(client: AsyncFacilityClient, until: float) -> None:
            nonlocal calls
            while time.monotonic() < until or calls < MIN_CALLS:
                await client.list_jobs("polaris", ["1000"])
                calls += 1
                await anyio.sleep(0.05)

        async def main() -> None:
            async with AsyncFacilityClient.connect(
                "iri", base_url=server.iri_url("v1"), auth=oidc(server)
            ) as client:
                until = time.monotonic() + LIFETIMES * TOKEN_LIFETIME
                async with anyio.create_task_group() as group:
                    for _ in range(20):
                        group.start_soon(caller, client, until)

        started = time.monotonic()
        anyio.run(main)
        elapsed = time.monotonic() - started
        token_requests = admin(server, "GET", "stats")["routes"]["POST /auth/token"]
        observed = {"token_requests": token_requests, "calls": calls, "elapsed": round(elapsed, 1)}
        # The first token ran out while the callers went on: it was replaced.
        assert token_requests >= 2, observed
        # At most one token per half lifetime (a token is refreshed a little ahead of its expiry),
        # plus the first fetch and one more after a 401 at an expiry boundary; fetching per call
        # would have needed one per call (at least MIN_CALLS, whatever the machine's speed).
        assert token_requests <= elapsed / (TOKEN_LIFETIME / 2) + 2, observed


def test_reads_succeed_through_429_and_503_bursts(faulty: EmulatorServer) -> None:
    admin(
        faulty,
        "PUT",
        "faults",
        {
            "spec": "429=every:4:burst:2:retry_after:0.05@GET /iri/*,503=every:6:burst:2:retry_after:0.05@GET /iri/*"
        },
    )
    admin(faulty, "DELETE", "stats")
    # The emulator's Retry-After is whole seconds (0.05 rounds up to 1): the policy caps the wait.
    quick = RetryPolicy(max_retry_after=0.1)
    with FacilityClient.connect(
        "iri", base_url=faulty.iri_url("v1"), auth=oidc(faulty), task_poll_interval=0.02, retry=quick
    ) as client:
        for _ in range(3):
            assert client.resource("polaris").name == "polaris"
            client.list_jobs("polaris")
            assert client.ls("polaris", faulty.credentials["home"]) is not None
            assert client.is_available("polaris") in (True, False)
    statuses = admin(faulty, "GET", "stats")["statuses"]
    assert statuses.get("429", 0) >= 2 and statuses.get("503", 0) >= 2, statuses


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("fault", ["drop_after", "drop_before", "502"])
def test_a_submit_whose_answer_is_lost_leaves_exactly_one_job(
    faulty: EmulatorServer, version: str, fault: str
) -> None:
    admin(faulty, "PUT", "faults", {"spec": f"{fault}=count:1@POST */compute/job/*"})
    name = f"once-{uuid.uuid4().hex[:8]}"
    spec = JobSpec(
        executable="/bin/echo",
        arguments=["once"],
        name=name,
        attributes=JobAttributes(duration=timedelta(seconds=30), account="demo"),
    )
    with FacilityClient.connect(
        "iri", base_url=faulty.iri_url(version), auth=oidc(faulty), submit_lookup_delays=(0.0, 0.2)
    ) as client:
        job = client.submit("polaris", spec)
        assert client.wait("polaris", job.id, timeout=30, poll_interval=0.1).state is JobState.COMPLETED
    assert [entry["id"] for entry in jobs_named(faulty, name)] == [job.id]


def test_a_job_invisible_after_submit_is_pending_then_found(faulty: EmulatorServer) -> None:
    admin(faulty, "PUT", "faults", {"spec": "invisible=1.5"})
    with FacilityClient.connect("iri", base_url=faulty.iri_url("v1"), auth=oidc(faulty)) as client:
        job = client.submit("polaris", JobSpec(executable="/bin/echo", arguments=["late"]))
        seen = []
        done = client.wait(
            "polaris", job.id, timeout=30, poll_interval=0.2, on_update=lambda j: seen.append(j.state)
        )
    assert done.state is JobState.COMPLETED
    assert seen[0] is JobState.PENDING


def test_planned_outage_makes_the_resource_unavailable(faulty: EmulatorServer) -> None:
    with FacilityClient.connect("iri", base_url=faulty.iri_url("v1"), auth=oidc(faulty)) as client:
        assert client.is_available("aurora", timedelta(hours=1))
        now = time.time()
        incident = admin(
            faulty,
            "POST",
            "incidents",
            {
                "name": "aurora maintenance",
                "type": "planned",
                "start": _iso(now + 1800),
                "end": _iso(now + 7200),
                "resources": ["aurora"],
            },
        )
        try:
            assert not client.is_available("aurora", timedelta(hours=1))
            assert client.is_available("aurora", timedelta(minutes=10))
            outages = client.outages("aurora")
            assert any(outage.planned and outage.name == "aurora maintenance" for outage in outages)
        finally:
            admin(faulty, "DELETE", f"incidents/{incident['id']}")
        admin(faulty, "PUT", "resources/aurora/status", {"current_status": "down"})
        try:
            assert not client.is_available("aurora", timedelta(minutes=1))
        finally:
            admin(faulty, "PUT", "resources/aurora/status", {"current_status": "up"})


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()

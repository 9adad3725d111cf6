"""The IRI backend against an emulator answering as the public IRI reference server does
(``fidelity iri=reference``): empty lists as 404, downloads as base64 strings, a job listing that
ignores its filter and reports no job specs, the v2 project, the idempotency answers, and the v2
extras (HAL links, whoami)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import pytest

from facility_common import (
    AsyncFacilityClient,
    FacilityClient,
    JobSpec,
    JobState,
    NotFoundError,
    UnsupportedOperation,
)
from facility_common.backends.iri import IRIBackend
from facility_common.backends.iri import jobs as iri_jobs
from facility_common.errors import JobSubmissionError
from facility_common.http import RetryPolicy
from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.idempotency import IdempotencyConflict, StoredResponse, fingerprint

from ..emulator.emu_helpers import wait_for

VERSIONS = ["v1", "v2"]
QUICK = RetryPolicy(attempts=6, backoff=0.01, max_backoff=0.05, jitter=0.0, max_retry_after=0.05)
T = TypeVar("T")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        root=tmp_path_factory.mktemp("reference"), queue_delay=0.05, task_delay=0.0, fidelity="iri=reference"
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture(autouse=True)
def no_faults(reference: EmulatorServer) -> Iterator[None]:
    yield
    admin(reference, "DELETE", "faults")


def admin(server: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    answer = httpx.request(method, f"{server.url}/_emulator/{path}", json=body, timeout=30)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def settings(server: EmulatorServer, version: str, **options: Any) -> dict[str, Any]:
    credentials = server.credentials
    auth = {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }
    merged: dict[str, Any] = {"task_poll_interval": 0.01, "retry": QUICK, "submit_lookup_delays": (0.0,)}
    if version == "v2":
        merged["project"] = "demo"
    return {"base_url": server.iri_url(version), "auth": auth, **merged, **options}


def connect(server: EmulatorServer, version: str, **options: Any) -> FacilityClient:
    return FacilityClient.connect("iri", **settings(server, version, **options))


def run(server: EmulatorServer, version: str, body: Callable[[IRIBackend], Awaitable[T]]) -> T:
    """``body(backend)`` on the async client's IRI backend, under anyio.run."""

    async def main() -> T:
        async with AsyncFacilityClient.connect("iri", **settings(server, version)) as client:
            backend = client.backend
            assert isinstance(backend, IRIBackend)
            return await body(backend)

    return anyio.run(main)


def route_counts(server: EmulatorServer, fragment: str) -> dict[str, int]:
    routes: dict[str, int] = admin(server, "GET", "stats")["routes"]
    return {route: count for route, count in routes.items() if fragment in route}


def records(server: EmulatorServer) -> dict[str, dict[str, Any]]:
    return {job["id"]: job for job in admin(server, "GET", "jobs")["jobs"]}


def tagged(server: EmulatorServer, tag: str) -> list[str]:
    return [job_id for job_id, job in records(server).items() if tag in str(job["spec"].get("environment"))]


def true_spec(tag: str | None = None) -> JobSpec:
    environment = {"FACILITY_SUBMIT_TAG": tag} if tag else {}
    return JobSpec(executable="/bin/true", environment=environment)


# -- 1. an empty list is a 404 --------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_an_empty_list_is_no_items_and_a_missing_object_stays_not_found(
    reference: EmulatorServer, version: str
) -> None:
    start = datetime.now(UTC) + timedelta(days=30)
    added = admin(
        reference,
        "POST",
        "incidents",
        {"name": "aurora work", "type": "planned", "start": start.isoformat(), "resources": ["aurora"]},
    )
    try:
        with connect(reference, version) as client:
            assert client.outages("polaris") == []  # the server answers 404 "No incidents found"
            assert client.is_available("polaris", timedelta(hours=1)) is True
            assert [o.name for o in client.outages("aurora", end=start + timedelta(days=1))] == [
                "aurora work"
            ]

        async def extras(backend: IRIBackend) -> None:
            assert await backend.events("polaris") == []
            assert await backend.events(since=start + timedelta(days=400)) == []  # an empty window
            assert len(await backend.events("aurora")) >= 1
            assert await backend.sites()
            for missing in (backend.incident("no-such"), backend.event("no-such"), backend.site("nowhere")):
                with pytest.raises(NotFoundError):
                    await missing

        run(reference, version, extras)
    finally:
        admin(reference, "DELETE", f"incidents/{added['id']}")


# -- 2. the download result is a base64 string ------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_download_writes_the_decoded_file(reference: EmulatorServer, version: str, tmp_path: Path) -> None:
    payload = bytes(range(256)) + os.urandom(1000) + b"last line\n"
    remote = f"{reference.credentials['home']}/download-{version}-{uuid.uuid4().hex[:8]}.bin"
    (tmp_path / "up.bin").write_bytes(payload)
    with connect(reference, version) as client:
        client.upload("polaris", tmp_path / "up.bin", remote)
        client.download("polaris", remote, tmp_path / "down.bin")
    assert (tmp_path / "down.bin").read_bytes() == payload


# -- 3. the job listing ignores its filter, and pages --------------------------------------------


def test_wait_on_a_finished_job_takes_one_round_without_walking_the_history(
    reference: EmulatorServer,
) -> None:
    admin(reference, "POST", "jobs/history", {"resource": "polaris", "count": 1000})
    with connect(reference, "v1") as client:
        job = client.submit("polaris", true_spec())
        wait_for(lambda: records(reference)[job.id]["state"] == "completed", timeout=30)
        admin(reference, "DELETE", "stats")
        done = client.wait("polaris", job.id, timeout=30, poll_interval=0.01)
        assert done.state is JobState.COMPLETED
        # one listing page (full of other jobs, without this one), then this job asked for alone
        assert route_counts(reference, "/compute/status") == {
            "POST /iri/api/v1/compute/status/{resource_id}": 1,
            "GET /iri/api/v1/compute/status/{resource_id}/{job_id}": 1,
        }
        admin(reference, "DELETE", "stats")
        listed = client.list_jobs("polaris", ["no-such-job", job.id])
        assert [(j.id, j.state) for j in listed] == [(job.id, JobState.COMPLETED)]
        assert route_counts(reference, "/compute/status") == {
            "POST /iri/api/v1/compute/status/{resource_id}": 1,
            "GET /iri/api/v1/compute/status/{resource_id}/{job_id}": 2,
        }


def test_a_listing_without_job_specs_cannot_find_a_tag(reference: EmulatorServer) -> None:
    """The reference server lists jobs without their job_spec: a tag cannot be seen there, which
    is said rather than answered as "no such job"."""
    with connect(reference, "v1") as client:
        client.submit("polaris", true_spec())
        with pytest.raises(UnsupportedOperation, match="without their job_spec"):
            client.find_job_by_tag("polaris", "some-tag")


def test_v1_submit_whose_answer_was_lost_is_not_sent_again_blindly(reference: EmulatorServer) -> None:
    """Without an Idempotency-Key and without tags in the listing, a lost answer leaves the
    outcome unknown: sending again could run the job twice."""
    tag = f"lost-{uuid.uuid4().hex[:12]}"
    admin(reference, "PUT", "faults", {"spec": "drop_after=count:1@POST */compute/job/*"})
    with connect(reference, "v1") as client, pytest.raises(JobSubmissionError) as unknown:
        client.submit("polaris", true_spec(tag))
    assert unknown.value.outcome_unknown and tag in str(unknown.value)
    assert len(tagged(reference, tag)) == 1


# -- 4. the v2 project --------------------------------------------------------------------------


def test_v2_project_goes_into_the_account(reference: EmulatorServer, emulator: EmulatorServer) -> None:
    """The reference server ignores X-IRI-Facility-Project: the project travels as
    attributes.account; the header is sent only when the project_header option asks for it."""
    with connect(reference, "v2", project="proj-a") as client:
        job = client.submit("polaris", true_spec())
    assert records(reference)[job.id]["spec"]["attributes"]["account"] == "proj-a"
    with connect(emulator, "v2", project="proj-b", project_header=True) as client:  # spec mode
        job = client.submit("polaris", true_spec())
    assert records(emulator)[job.id]["spec"]["attributes"]["account"] == "proj-b"  # from the header


# -- 5. the v2 idempotency answers ------------------------------------------------------------------


def test_v2_in_flight_key_is_waited_out_and_sent_again_with_the_same_key(
    reference: EmulatorServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """409 without Retry-After while the key is in flight: backed off and sent again, same key."""
    store = reference.state.idempotency
    begin = store.begin
    busy = [2]
    keys: list[str] = []

    def in_flight_twice(scope: str, key: str, print_: str) -> Any:
        keys.append(key)
        if scope == "submit" and busy[0]:
            busy[0] -= 1
            raise IdempotencyConflict(409, "A request with this Idempotency-Key is already in progress.")
        return begin(scope, key, print_)

    monkeypatch.setattr(store, "begin", in_flight_twice)
    caplog.set_level(logging.INFO, logger="facility_common.backends.iri")
    admin(reference, "DELETE", "stats")
    tag = f"busy-{uuid.uuid4().hex[:12]}"
    with connect(reference, "v2") as client:
        job = client.submit("polaris", true_spec(tag))
    assert tagged(reference, tag) == [job.id]
    assert len(keys) == 3 and len(set(keys)) == 1
    assert admin(reference, "GET", "stats")["statuses"].get("409") == 2
    assert sum("still in flight (409)" in r.getMessage() for r in caplog.records) == 2


def test_v2_replayed_answer_is_logged_as_a_hit(
    reference: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer to the first send is lost; the send again under the same key is answered from
    the server's store (Idempotency-Key-Reply: hit): the job exists once."""
    caplog.set_level(logging.INFO, logger="facility_common.backends.iri")
    admin(reference, "PUT", "faults", {"spec": "drop_after=count:1@POST */compute/job/*"})
    tag = f"hit-{uuid.uuid4().hex[:12]}"
    with connect(reference, "v2") as client:
        job = client.submit("polaris", true_spec(tag))
    assert tagged(reference, tag) == [job.id]
    assert any(f"job {job.id} was created once" in r.getMessage() for r in caplog.records)


def test_v2_key_reused_with_another_body_is_an_error_naming_the_key(
    reference: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = str(uuid.uuid4())
    monkeypatch.setattr(iri_jobs, "_idempotency_key", lambda: key)
    store = reference.state.idempotency
    store.begin("submit", key, fingerprint({"executable": "/bin/false"}))
    store.finish("submit", key, StoredResponse(200, {"id": "elsewhere", "status": {"state": "new"}}))
    before = len(records(reference))
    with connect(reference, "v2") as client, pytest.raises(JobSubmissionError) as refused:
        client.submit("polaris", true_spec())
    assert key in str(refused.value) and "different request" in str(refused.value)
    assert refused.value.status_code == 422 and not refused.value.outcome_unknown
    assert len(records(reference)) == before


def test_v2_server_without_an_idempotency_store(tmp_path: Path) -> None:
    """501 to the key: sent again at once without it, and no key from then on."""
    config = EmulatorConfig(
        root=tmp_path, queue_delay=0.05, idempotency_store=False, fidelity="iri=reference"
    )
    with EmulatorServer(config) as server, connect(server, "v2") as client:
        first = client.submit("polaris", true_spec())
        second = client.submit("polaris", true_spec())
        assert first.id != second.id
        assert admin(server, "GET", "stats")["routes"]["POST /iri/api/v2/compute/job/{resource_id}"] == 3


# -- 6. HAL links and whoami ---------------------------------------------------------------------


def test_whoami_where_offered(reference: EmulatorServer) -> None:
    async def v2(backend: IRIBackend) -> str:
        return (await backend.whoami()).username

    async def v1(backend: IRIBackend) -> str:
        return (await backend.whoami()).username

    assert run(reference, "v2", v2) == reference.config.user
    with pytest.raises(UnsupportedOperation, match="v1"):
        run(reference, "v1", v1)


def test_links_are_followed_where_served_and_agree_with_the_uris(emulator: EmulatorServer) -> None:
    """The v2 spec's answers (spec mode) link the operations of each resource; the backend sends
    them there (here where it would have built the same path) and a whole job runs through them."""

    async def body(backend: IRIBackend) -> None:
        polaris = await backend.resource("polaris")
        links = polaris.raw["_links"]
        assert links["self"]["href"] == polaris.raw["self_uri"]
        chosen = backend._links[polaris.id]
        assert chosen["submit-job"] == f"{backend.base_url}/compute/job/{polaris.id}"
        assert chosen["get-job"] == f"{backend.base_url}/compute/status/{polaris.id}/{{job_id}}"
        job = await backend.submit("polaris", true_spec())
        assert job.raw["_links"]["self"]["href"] == f"{backend.base_url}/compute/status/{polaris.id}/{job.id}"
        for _ in range(300):
            if (await backend.get_job("polaris", job.id)).state.is_terminal:
                break
            await anyio.sleep(0.05)
        assert [j.id for j in await backend.list_jobs("polaris", [job.id])] == [job.id]

    run(emulator, "v2", body)

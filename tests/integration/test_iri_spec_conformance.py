"""Every request our IRI backend sends, and every answer the emulator gives, follow the IRI spec.

A fresh emulator records its exchanges while the client exercises every operation it has (v1 and
v2); each exchange is then validated with openapi-core against the official OpenAPI documents in
``specs/alcf-iri`` (v2: the newest revision, see ``tests/spec_check.py``). This keeps both the
fake and the client from drifting from the API. The emulator runs in ``spec`` fidelity: the
backend is tested against the reference server's shapes in ``tests/emulator``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from facility_common import FacilityClient, JobAttributes, JobSpec, JobState, NotFoundError
from facility_emulator import EmulatorConfig, EmulatorServer

from ..spec_check import iri_exchange_errors


@pytest.fixture(scope="module")
def recording_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("spec"), queue_delay=0.05, task_delay=0.0)
    with EmulatorServer(config) as server:
        yield server


def exercise(server: EmulatorServer, version: str, tmp_path: Path) -> None:
    """Call every client operation once, the way a user would, and the IRI backend's extras."""
    from datetime import UTC, datetime

    import anyio
    import httpx

    from facility_common import AsyncFacilityClient
    from facility_common.backends.iri import IRIBackend
    from facility_common.errors import JobSubmissionError
    from facility_common.http import ApiRequest

    credentials = server.credentials
    auth = {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }
    options: dict[str, Any] = {"task_poll_interval": 0.02}
    if version == "v2":
        options["project"] = "demo"
    with FacilityClient.connect("iri", base_url=server.iri_url(version), auth=auth, **options) as client:
        client.resources()
        client.resource("polaris")
        client.outages("polaris")
        client.is_available("polaris")
        projects = client.projects()
        client.allocations()
        allocation = client.allocations(projects[0].id)[0]
        spec = JobSpec(
            executable="/bin/echo",
            arguments=["spec"],
            attributes=JobAttributes(duration=timedelta(seconds=30), queue_name="debug", account="demo"),
        )
        job = client.submit("polaris", spec)
        client.list_jobs("polaris", [job.id])
        job = client.wait("polaris", job.id, timeout=30, poll_interval=0.1)
        assert job.state is JobState.COMPLETED
        client.job_output("polaris", job.id)
        client.job_output("polaris", job.id, tail=1)
        sleeper = client.submit("polaris", JobSpec(executable="/bin/sleep", arguments=["30"]))
        client.cancel("polaris", sleeper.id)
        home = credentials["home"]
        work = f"{home}/spec-{version}"
        client.mkdir("polaris", f"{work}/sub", parents=True)
        local = tmp_path / f"in-{version}.txt"
        local.write_text("alpha\nbeta\ngamma\n")
        client.upload("polaris", local, f"{work}/in.txt")
        client.ls("polaris", work)
        client.stat("polaris", f"{work}/in.txt")
        client.view("polaris", f"{work}/in.txt")
        client.head("polaris", f"{work}/in.txt", lines=1)
        client.tail("polaris", f"{work}/in.txt", lines=1)
        client.chmod("polaris", f"{work}/in.txt", "600")
        client.cp("polaris", f"{work}/in.txt", f"{work}/copy.txt")
        client.mv("polaris", f"{work}/copy.txt", f"{work}/sub/moved.txt")
        client.download("polaris", f"{work}/sub/moved.txt", tmp_path / f"out-{version}.txt")
        client.rm("polaris", f"{work}/sub/moved.txt")
        with pytest.raises(NotFoundError):
            client.stat("polaris", f"{work}/sub/moved.txt")
        client.symlink("polaris", f"{work}/in.txt", f"{work}/link.txt")
        client.checksum("polaris", f"{work}/in.txt")
        client.file_type("polaris", f"{work}/link.txt")
        client.compress("polaris", f"{work}/sub", f"{work}/sub.tar.xz", compression="xz")
        client.extract("polaris", f"{work}/sub.tar.xz", f"{work}/unpacked", compression="xz")
        with pytest.raises(JobSubmissionError):  # the echo job has ended: 409
            client.update_job("polaris", job.id, spec)
        httpx.put(f"{server.url}/_emulator/config", json={"queue_delay": 30}).raise_for_status()
        try:
            held = client.submit("polaris", spec)
            client.update_job("polaris", held.id, spec.replace(name="updated"))
            client.cancel("polaris", held.id)
        finally:
            httpx.put(f"{server.url}/_emulator/config", json={"queue_delay": 0.05}).raise_for_status()

    start = datetime.now(UTC) + timedelta(days=10)
    httpx.post(
        f"{server.url}/_emulator/incidents",
        json={
            "name": f"eagle maintenance {version}",
            "type": "planned",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
            "resources": ["eagle"],
        },
    ).raise_for_status()

    async def extras() -> None:
        async with AsyncFacilityClient.connect(
            "iri", base_url=server.iri_url(version), auth=auth, **options
        ) as async_client:
            backend = async_client.backend
            assert isinstance(backend, IRIBackend)
            await backend.facility_info()
            sites = await backend.sites()
            await backend.site(sites[0]["id"])
            events = await backend.events("eagle", since=start - timedelta(days=1))
            await backend.event(events[0]["id"])
            await backend.events(since=events[0]["id"], status="up")
            await async_client.outage(events[0]["incident_uri"].rsplit("/", 1)[-1])
            await backend.incident(events[0]["incident_uri"].rsplit("/", 1)[-1])
            await backend.compute_resources()
            await backend.filesystem_resources()
            tasks = await backend.tasks()
            await backend.get_task(tasks[-1]["id"])
            await backend.delete_task(tasks[-1]["id"])
            shares = await backend.user_allocations(allocation.project, str(allocation.id))
            # The account routes the backend does not call, for the emulator's answers.
            base = f"account/projects/{allocation.project}"
            for path in (
                base,
                f"{base}/project_allocations/{allocation.id}",
                f"{base}/project_allocations/{allocation.id}/user_allocations/{shares[0].raw['id']}",
                f"account/capabilities/{allocation.raw['capability_uri'].rsplit('/', 1)[-1]}",
            ):
                await backend._session.call(ApiRequest("GET", path))

    anyio.run(extras)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_every_exchange_follows_the_spec(
    recording_emulator: EmulatorServer, version: str, tmp_path: Path
) -> None:
    recording_emulator.clear_exchanges()
    exercise(recording_emulator, version, tmp_path)
    exchanges = [e for e in recording_emulator.exchanges() if e.path.startswith(f"/iri/api/{version}/")]
    routes = {(e.method, e.route) for e in exchanges}
    assert len(routes) >= 15, routes
    assert {route for _, route in routes if "/account/" in route} >= {
        f"/iri/api/{version}/account/projects",
        f"/iri/api/{version}/account/projects/{{project_id}}/project_allocations",
        f"/iri/api/{version}/account/projects/{{project_id}}/project_allocations/{{allocation_id}}/user_allocations",
        f"/iri/api/{version}/account/capabilities",
        f"/iri/api/{version}/account/capabilities/{{capability_id}}",
    }
    assert {route for _, route in routes if "/status/" in route} >= {
        f"/iri/api/{version}/status/events",
        f"/iri/api/{version}/status/events/{{event_id}}",
        f"/iri/api/{version}/status/incidents/{{incident_id}}",
    }
    failures = [message for exchange in exchanges for message in iri_exchange_errors(exchange)]
    assert not failures, json.dumps(failures[:20], indent=1)

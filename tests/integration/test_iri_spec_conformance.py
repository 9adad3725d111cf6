"""Every request our IRI backend sends, and every answer the emulator gives, follow the IRI spec.

A fresh emulator records its exchanges while the client exercises every operation it has (v1 and
v2); each exchange is then validated with openapi-core against the official OpenAPI documents in
``shared/specs/alcf-iri``. This keeps both the fake and the client from drifting from the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from facility_common import FacilityClient, JobAttributes, JobSpec, JobState, NotFoundError
from facility_emulator import EmulatorConfig, EmulatorServer

from ..spec_check import is_binary_part_quirk, load_openapi

SPECS = Path(__file__).resolve().parents[2] / "specs" / "alcf-iri"
SPEC_HOST = "https://api.iri.nersc.gov"


def openapi(version: str) -> OpenAPI:
    return load_openapi(SPECS / f"iri-openapi-{version}.yaml")


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
            events = await backend.events("eagle", start=start - timedelta(days=1))
            await backend.event(events[0]["id"])
            await backend.incident(events[0]["incident_uri"].rsplit("/", 1)[-1])
            await backend.compute_resources()
            await backend.filesystem_resources()
            tasks = await backend.tasks()
            await backend.get_task(tasks[-1]["id"])
            await backend.delete_task(tasks[-1]["id"])

    anyio.run(extras)


def validation_errors(exchange: Any) -> list[str]:
    path: str = exchange.path
    version = "v2" if path.startswith("/iri/api/v2/") else "v1"
    spec_path = path.removeprefix("/iri")
    args: dict[str, Any] = {}
    for key, value in parse_qsl(exchange.query, keep_blank_values=True):
        args[key] = value
    request = MockRequest(
        SPEC_HOST,
        exchange.method.lower(),
        spec_path,
        args=args,
        headers=exchange.request_headers,
        data=exchange.request_body or None,
        content_type=exchange.request_content_type or "application/json",
    )
    response = MockResponse(
        exchange.response_body,
        status_code=exchange.status,
        headers=exchange.response_headers,
        # Errors are RFC 9457 problem+json on the wire; the spec files them as application/json
        # with the Problem schema, which is the same body.
        content_type=(exchange.response_content_type or "application/json")
        .split(";")[0]
        .replace("application/problem+json", "application/json"),
    )
    errors = []
    where = f"{exchange.method} {path}?{exchange.query} -> {exchange.status}"
    for error in openapi(version).iter_request_errors(request):
        if is_binary_part_quirk(exchange, error):
            continue
        errors.append(f"request {where}: {error}")
    for error in openapi(version).iter_response_errors(request, response):
        detail = getattr(error, "__cause__", None) or error
        errors.append(f"response {where}: {detail}")
    return errors


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_every_exchange_follows_the_spec(
    recording_emulator: EmulatorServer, version: str, tmp_path: Path
) -> None:
    recording_emulator.clear_exchanges()
    exercise(recording_emulator, version, tmp_path)
    exchanges = [e for e in recording_emulator.exchanges() if e.path.startswith(f"/iri/api/{version}/")]
    routes = {(e.method, e.route) for e in exchanges}
    assert len(routes) >= 15, routes
    failures = [message for exchange in exchanges for message in validation_errors(exchange)]
    assert not failures, json.dumps(failures[:20], indent=1)

"""Every call our slurmrest backend sends to the emulated plain slurmrestd, and every answer the
emulator gives, follow the official slurmrestd v0.0.43 OpenAPI document (``specs/olcf-s3m``).

The emulated daemon lives under ``/slurmrestd``; each recorded exchange is mapped back to the
document's path (``/slurmrestd/slurm/v0.0.43/jobs`` to ``/slurm/v0.0.43/jobs/``) before
openapi-core validates its request and response. The backend's version probe of v0.0.44 (answered
404) is not in this document and is left out.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from openapi_core.testing import MockRequest, MockResponse

from facility_common import FacilityClient, JobAttributes, JobSpec, JobState, NotFoundError
from facility_common.models import ResourceSpec
from facility_emulator import EmulatorConfig, EmulatorServer

from ..spec_check import load_openapi
from .test_s3m_spec_conformance import SPEC_FILE, SPEC_NAME

SPEC_HOST = "http://127.0.0.1:6820"
# slurmrestd's generated document lists nested required fields flattened ("error/code" for
# error.code), which no real answer has; such findings alone are the document's quirk.
_FLATTENED_REQUIRED = re.compile(r"'[a-z_]+/[a-z_]+' is a required property")
_EMULATED = re.compile(r"^/slurmrestd(/slurm(?:db)?/v0\.0\.43/.*)$")
_COLLECTIONS = ("ping", "diag", "jobs", "nodes", "partitions", "reservations", "associations")

pytestmark = pytest.mark.skipif(not SPEC_FILE.is_file(), reason=f"{SPEC_NAME} is not in specs/olcf-s3m")


def spec_path(path: str) -> str | None:
    """The document's path of an emulated slurmrestd path (None for anything else)."""
    match = _EMULATED.match(path)
    if match is None:
        return None
    candidate = match.group(1).rstrip("/")
    return candidate + "/" if candidate.rsplit("/", 1)[-1] in _COLLECTIONS else candidate


@pytest.fixture(scope="module")
def recording_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("slurmrestd-spec"), queue_delay=0.05, task_delay=0.0)
    with EmulatorServer(config) as server:
        yield server


def exercise(server: EmulatorServer) -> None:
    """Every call of the backend once, as a user would, plus ``diag`` and the refusals."""
    import anyio

    from facility_common import AsyncFacilityClient
    from facility_common.backends.slurmrest import SlurmRestBackend

    credentials = server.flavour_credentials("slurmrestd")
    base_url = server.api_url("slurmrestd", "root")
    options = {
        "auth": {"type": "token", "token": credentials["token"]},
        "user_name": credentials["user_name"],
        "directory": credentials["home"],
        "local_output": True,
    }
    start = datetime.now(UTC) + timedelta(days=1)
    httpx.post(
        f"{server.url}/_emulator/incidents",
        json={
            "name": "maintenance",
            "type": "planned",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
            "resources": ["polaris"],
        },
    ).raise_for_status()
    with FacilityClient.connect("slurmrest", base_url=base_url, **options) as client:
        client.resources()
        assert client.whoami().projects
        client.projects()
        assert client.allocations()
        assert client.is_available("polaris")
        assert client.outages("polaris")
        spec = JobSpec(
            executable="/bin/echo",
            arguments=["spec"],
            environment={"GREETING": "hello"},
            resources=ResourceSpec(
                node_count=1, process_count=1, cpu_cores_per_process=1, gpu_cores_per_process=1, memory=2**30
            ),
            attributes=JobAttributes(duration=timedelta(minutes=5), queue_name="debug", account="demo"),
        )
        job = client.submit("polaris", spec)
        client.list_jobs("polaris", [job.id])
        job = client.wait("polaris", job.id, timeout=30, poll_interval=0.1)
        assert job.state is JobState.COMPLETED
        assert client.job_output("polaris", job.id).strip() == "spec"
        # Once slurmctld purged it (MinJobAge), the job is read from accounting (slurmdb).
        knob = f"{server.url}/_emulator/slurmrestd"
        httpx.put(knob, json={"min_job_age": 0.1}).raise_for_status()
        try:
            for _ in range(100):
                if all(listed.id != job.id for listed in client.list_jobs("polaris")):
                    break
                time.sleep(0.05)
            assert client.get_job("polaris", job.id).state is JobState.COMPLETED
        finally:
            httpx.put(knob, json={"min_job_age": 300}).raise_for_status()
        sleeper = client.submit("polaris", JobSpec(executable="/bin/sleep", arguments=["30"]))
        client.cancel("polaris", sleeper.id)
        client.cancel("polaris", job.id)  # already finished: refused by Slurm, accepted by the backend
        with pytest.raises(NotFoundError):
            client.get_job("polaris", "999999")

    async def extras() -> None:
        async with AsyncFacilityClient.connect("slurmrest", base_url=base_url, **options) as c:
            backend = c.backend
            assert isinstance(backend, SlurmRestBackend)
            await backend.ping()
            await backend.partitions()
            await backend.nodes()

    anyio.run(extras)
    headers = {"X-SLURM-USER-NAME": credentials["user_name"], "X-SLURM-USER-TOKEN": credentials["token"]}
    httpx.get(f"{base_url}/slurm/v0.0.43/diag/", headers=headers).raise_for_status()
    for since in (0, 2**40):  # every job, then none ("no job changes since")
        httpx.get(
            f"{base_url}/slurm/v0.0.43/jobs/", params={"update_time": since}, headers=headers
        ).raise_for_status()
    httpx.get(f"{base_url}/slurmdb/v0.0.43/job/999999", headers=headers).raise_for_status()
    refused = httpx.post(
        f"{base_url}/slurm/v0.0.43/job/submit",
        headers=headers,
        json={"job": {"script": "#!/bin/sh\ntrue", "environment": ["PATH=/bin"], "partition": "nope"}},
    )
    assert refused.status_code == 500


def validation_errors(exchange: Any) -> list[str]:
    path = spec_path(exchange.path)
    assert path is not None
    openapi = load_openapi(SPEC_FILE)
    request = MockRequest(
        SPEC_HOST,
        exchange.method.lower(),
        path,
        args=dict(parse_qsl(exchange.query, keep_blank_values=True)),
        headers=exchange.request_headers,
        data=exchange.request_body or None,
        content_type=exchange.request_content_type or "application/json",
    )
    response = MockResponse(
        exchange.response_body,
        status_code=exchange.status,
        headers=exchange.response_headers,
        content_type=(exchange.response_content_type or "application/json").split(";")[0],
    )
    where = f"{exchange.method} {exchange.path} -> {exchange.status}"
    errors = [f"request {where}: {e}" for e in openapi.iter_request_errors(request)]
    for error in openapi.iter_response_errors(request, response):
        detail = getattr(error, "__cause__", None) or error
        causes = [str(c) for c in getattr(detail, "schema_errors", ())]
        if causes and all(_FLATTENED_REQUIRED.search(c) for c in causes):
            continue
        errors.append(f"response {where}: {detail}")
    return errors


def test_every_slurmrestd_exchange_follows_the_v0043_spec(recording_emulator: EmulatorServer) -> None:
    recording_emulator.clear_exchanges()
    exercise(recording_emulator)
    exchanges = [e for e in recording_emulator.exchanges() if spec_path(e.path) is not None]
    routes = {(e.method, spec_path(e.path)) for e in exchanges}
    assert len(routes) >= 10, routes
    assert any(path.startswith("/slurmdb/") for _, path in routes), routes
    accounting = {path.rsplit("/v0.0.43/", 1)[-1].split("/")[0] for _, path in routes if "/slurmdb/" in path}
    assert {"user", "associations", "jobs"} <= accounting, accounting
    statuses = {e.status for e in exchanges}
    assert {200, 404, 500} <= statuses, statuses
    failures = [message for exchange in exchanges for message in validation_errors(exchange)]
    assert not failures, json.dumps(failures[:20], indent=1)

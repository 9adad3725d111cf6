"""Every Slurm call our S3M backend sends, and every answer the emulator gives, follow the official
slurmrestd v0.0.43 OpenAPI document (``specs/olcf-s3m``).

S3M serves slurmrestd's calls per enclave and resource (``/slurm/open/v0.0.43/polaris/jobs``);
the document's paths have neither (``/slurm/v0.0.43/jobs/``), so each recorded exchange is
mapped back to the document's path before openapi-core validates its request and response. The
status and token services are not in that document and are checked by the emulator tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from facility_common import FacilityClient, JobAttributes, JobSpec, JobState, NotFoundError
from facility_common.errors import InvalidJobSpec
from facility_common.models import ResourceSpec
from facility_emulator import EmulatorConfig, EmulatorServer

from ..spec_check import load_openapi

SPEC_NAME = "slurmrestd-openapi-v0.0.43-slurm-25.05.8.json"
SPEC_FILE = Path(__file__).resolve().parents[2] / "specs" / "olcf-s3m" / SPEC_NAME
SPEC_HOST = "https://s3m.olcf.ornl.gov"
# slurmrestd's generated document lists nested required fields flattened ("error/code" for
# error.code), which no real answer has; such findings alone are the document's quirk.
_FLATTENED_REQUIRED = re.compile(r"'[a-z_]+/[a-z_]+' is a required property")
_EMULATED = re.compile(r"^(?:/olcf/v1)?/slurm/[^/]+/(v0\.0\.43)/[^/]+(/.*)$")


def openapi() -> OpenAPI:
    return load_openapi(SPEC_FILE)


def spec_path(path: str) -> str | None:
    """The document's path of an emulated S3M Slurm path (None for non-Slurm calls)."""
    match = _EMULATED.match(path)
    if match is None:
        return None
    candidate = f"/slurm/{match.group(1)}{match.group(2)}"
    # The document writes the collection calls with a trailing slash (``/jobs/``, ``/ping/``).
    if candidate.rsplit("/", 1)[-1] in ("ping", "diag", "jobs", "nodes", "partitions", "reservations"):
        return candidate + "/"
    return candidate


pytestmark = pytest.mark.skipif(not SPEC_FILE.is_file(), reason=f"{SPEC_NAME} is not in specs/olcf-s3m")


@pytest.fixture(scope="module")
def recording_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("s3m-spec"), queue_delay=0.05, task_delay=0.0)
    with EmulatorServer(config) as server:
        yield server


def exercise(server: EmulatorServer, path_template: str) -> None:
    """Every S3M job and cluster call once, through the backend, as a user would."""
    import anyio

    from facility_common import AsyncFacilityClient
    from facility_common.backends.s3m import S3MBackend

    credentials = server.flavour_credentials("s3m")
    options = {"directory": credentials["home"], "local_output": True, "path_template": path_template}
    base_url = server.api_url("s3m", "root")
    with FacilityClient.connect("s3m", base_url=base_url, auth=credentials["token"], **options) as client:
        client.resources()
        client.is_available("polaris")
        spec = JobSpec(
            executable="/bin/echo",
            arguments=["spec"],
            resources=ResourceSpec(node_count=1, process_count=1, memory=2**30),
            attributes=JobAttributes(duration=timedelta(minutes=5), queue_name="batch", account="demo"),
        )
        job = client.submit("polaris", spec)
        client.list_jobs("polaris", [job.id])
        job = client.wait("polaris", job.id, timeout=30, poll_interval=0.1)
        assert job.state is JobState.COMPLETED
        assert client.job_output("polaris", job.id).strip() == "spec"
        sleeper = client.submit("polaris", JobSpec(executable="/bin/sleep", arguments=["30"]))
        client.cancel("polaris", sleeper.id)
        client.cancel("polaris", job.id)  # already finished: accepted, nothing changes
        with pytest.raises(NotFoundError):
            client.get_job("polaris", "999999")
        with pytest.raises(InvalidJobSpec, match="gpu"):
            client.submit("polaris", spec.replace(resources=ResourceSpec(gpu_cores_per_process=1)))

    async def extras() -> None:
        async with AsyncFacilityClient.connect(
            "s3m", base_url=base_url, auth=credentials["token"], **options
        ) as c:
            backend = c.backend
            assert isinstance(backend, S3MBackend)
            await backend.ping("polaris")
            await backend.partitions("polaris")
            await backend.nodes("polaris")
            assert await backend.token_expiry() is not None

    anyio.run(extras)


def validation_errors(exchange: Any) -> list[str]:
    path = spec_path(exchange.path)
    assert path is not None
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
    errors = [f"request {where}: {e}" for e in openapi().iter_request_errors(request)]
    for error in openapi().iter_response_errors(request, response):
        detail = getattr(error, "__cause__", None) or error
        causes = [str(c) for c in getattr(detail, "schema_errors", ())]
        if causes and all(_FLATTENED_REQUIRED.search(c) for c in causes):
            continue
        errors.append(f"response {where}: {detail}")
    return errors


@pytest.mark.parametrize(
    "path_template", ["slurm/{enclave}/{version}/{resource}", "olcf/v1/slurm/{enclave}/{version}/{resource}"]
)
def test_every_slurm_exchange_follows_the_v0043_spec(
    recording_emulator: EmulatorServer, path_template: str
) -> None:
    recording_emulator.clear_exchanges()
    exercise(recording_emulator, path_template)
    exchanges = [e for e in recording_emulator.exchanges() if spec_path(e.path) is not None]
    routes = {(e.method, spec_path(e.path)) for e in exchanges}
    assert len(routes) >= 8, routes
    failures = [message for exchange in exchanges for message in validation_errors(exchange)]
    assert not failures, json.dumps(failures[:20], indent=1)

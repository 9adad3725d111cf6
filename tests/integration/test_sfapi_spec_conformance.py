"""Every request the SF API backend sends, and every answer the emulator gives, follow the saved
SF API v1.2 spec (``specs/nersc-sfapi/sfapi-v1.2-RECONSTRUCTED-subset.yaml``).

The document is a reconstruction (the official one is only served by api.nersc.gov), so it
covers the calls and the 200/422 answers; answers it does not describe (401 from the shared
token check, the token endpoint outside the API) are left out of the check. ``sfapi_client``'s
own calls are validated too, so the emulator answers what NERSC's client sends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import anyio
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from facility_common import AsyncFacilityClient, FacilityClient, JobAttributes, JobSpec, JobState
from facility_common.backends.sfapi import SFAPIBackend
from facility_emulator import EmulatorConfig, EmulatorServer

from ..spec_check import load_openapi

SPEC = Path(__file__).resolve().parents[2] / "specs" / "nersc-sfapi" / "sfapi-v1.2-RECONSTRUCTED-subset.yaml"
SPEC_HOST = "https://api.nersc.gov"
PREFIX = "/sfapi/api/v1.2"


def openapi() -> OpenAPI:
    return load_openapi(SPEC)


@pytest.fixture(scope="module")
def recording_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("sfapi-spec"), queue_delay=0.05, task_delay=0.0)
    with EmulatorServer(config) as server:
        yield server


def exercise(server: EmulatorServer, tmp_path: Path) -> None:
    """Every backend operation once, plus sfapi_client's status, submit, ls, download, user and
    projects."""
    creds = server.flavour_credentials("sfapi")
    auth = {
        "type": "private_key_jwt",
        "token_url": creds["token_url"],
        "client_id": creds["client_id"],
        "private_key": creds["private_key"],
    }
    home = server.credentials["home"]
    options: dict[str, Any] = {"task_poll_interval": 0.02}
    with FacilityClient.connect("sfapi", base_url=server.api_url("sfapi"), auth=auth, **options) as client:
        client.resources()
        client.resource("perlmutter")
        client.outages()
        client.outages("perlmutter")
        client.whoami()
        client.projects()
        client.allocations("demo")
        spec = JobSpec(
            executable="/bin/echo",
            arguments=["spec"],
            attributes=JobAttributes(duration=timedelta(seconds=30), queue_name="debug", account="m0000"),
        )
        job = client.submit("perlmutter", spec)
        client.list_jobs("perlmutter", [job.id])
        done = client.wait("perlmutter", job.id, timeout=30, poll_interval=0.1)
        assert done.state is JobState.COMPLETED
        client.list_jobs("perlmutter")
        assert client.job_output("perlmutter", job.id).strip() == "spec"
        sleeper = client.submit("perlmutter", JobSpec(executable="/bin/sleep", arguments=["30"]))
        client.cancel("perlmutter", sleeper.id)
        local = tmp_path / "in.txt"
        local.write_text("alpha\n")
        client.upload("perlmutter", local, f"{home}/spec-in.txt")
        client.ls("perlmutter", home)
        client.stat("perlmutter", f"{home}/spec-in.txt")
        client.download("perlmutter", f"{home}/spec-in.txt", tmp_path / "out.txt")

    async def extras() -> None:
        async with AsyncFacilityClient.connect(
            "sfapi", base_url=server.api_url("sfapi"), auth=auth, **options
        ) as async_client:
            backend = async_client.backend
            assert isinstance(backend, SFAPIBackend)
            await backend.command("perlmutter", "true")
            script = tmp_path / "job.sh"
            script.write_text("#!/bin/bash\necho $1\n")
            await async_client.upload("perlmutter", script, f"{home}/job.sh")
            await backend.submit_path("perlmutter", f"{home}/job.sh", ["arg"])

        from sfapi_client import AsyncClient

        async with AsyncClient(
            client_id=creds["client_id"],
            secret=creds["private_key"],
            api_base_url=server.api_url("sfapi"),
            token_url=creds["token_url"],
            wait_interval=0.1,
        ) as sf:
            await sf.resources.outages()
            await sf.resources.planned_outages()
            perlmutter = await sf.compute("perlmutter")
            sf_job = await perlmutter.submit_job("#!/bin/bash\necho sf\n")
            await sf_job.update()
            await perlmutter.jobs(jobids=[sf_job.jobid])
            [path] = await perlmutter.ls(f"{home}/spec-in.txt")
            await path.download()
            # sfapi_client reads the account answers into its models (UserInfo, ProjectStats).
            me = await sf.user()
            projects = await me.projects()
            assert me.name == server.config.user
            assert {p.repo_name for p in projects} == {"demo", "staff"}
            assert all(p.cpu_project_hours_given for p in projects)
            assert {g.name for g in await me.groups()} >= {"demo", "staff"}

    anyio.run(extras)


def _one_segment_path(path: str) -> str:
    """The utilities' ``{path}`` is FastAPI's ``{path:path}`` (it holds slashes; an absolute path
    gives ``machine//abs``), which OpenAPI cannot express: quote it into one segment to match."""
    match = re.match(r"^(/utilities/(?:ls|download|upload)/[^/]+/)(.+)$", path)
    return match.group(1) + quote(match.group(2), safe="") if match else path


def validation_errors(exchange: Any) -> list[str]:
    spec_path = "/api/v1.2" + _one_segment_path(exchange.path.removeprefix(PREFIX))
    args: dict[str, Any] = {}
    for key, value in parse_qsl(exchange.query, keep_blank_values=True):
        args.setdefault(key, []).append(value) if key == "kwargs" else args.__setitem__(key, value)
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
        content_type=(exchange.response_content_type or "application/json").split(";")[0],
    )
    where = f"{exchange.method} {exchange.path}?{exchange.query} -> {exchange.status}"
    errors = []
    for error in openapi().iter_request_errors(request):
        detail = str(getattr(error, "__cause__", None) or error)
        # openapi-core decodes a multipart file part to bytes and then refuses bytes for
        # ``format: binary``; for those requests check the shape directly instead.
        multipart = (exchange.request_content_type or "").startswith("multipart/form-data")
        if multipart and b'name="file"' in exchange.request_body:
            continue
        errors.append(f"request {where}: {detail}")
    for error in openapi().iter_response_errors(request, response):
        errors.append(f"response {where}: {getattr(error, '__cause__', None) or error}")
    return errors


def test_every_exchange_follows_the_spec(recording_emulator: EmulatorServer, tmp_path: Path) -> None:
    recording_emulator.clear_exchanges()
    exercise(recording_emulator, tmp_path)
    exchanges = [
        e
        for e in recording_emulator.exchanges()
        if e.path.startswith(PREFIX + "/") and e.status in (200, 422)
    ]
    routes = {(e.method, e.route) for e in exchanges}
    assert len(routes) >= 13, routes
    assert {("GET", f"{PREFIX}/account/"), ("GET", f"{PREFIX}/account/projects")} <= routes
    failures = [message for exchange in exchanges for message in validation_errors(exchange)]
    assert not failures, json.dumps(failures[:20], indent=1)

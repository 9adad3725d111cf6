"""Our Flux backend and the Flux project's own client against the emulated Flux RESTful API.

* Every request our backend sends (and the emulator accepts) follows the OpenAPI document
  generated from the flux-restful 1.1.0 server; answers are checked where that document has a
  schema (its 200 answers are untyped).
* ``flux-restful-client`` 0.2.1 (the Flux project's client) submits, lists, reads output and
  cancels through the emulator, handshake included.
* Environment variables reach the job through our backend (JSON body), while the Flux
  project's client sends them as a query string the server ignores.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from facility_common import FacilityClient, JobAttributes, JobSpec, JobState, ResourceSpec
from facility_emulator import EmulatorConfig, EmulatorServer

from ..spec_check import load_openapi

SPEC = (
    Path(__file__).resolve().parents[2]
    / "specs"
    / "flux-restful"
    / "flux-restful-1.1.0-openapi.generated.json"
)
SPEC_HOST = "http://flux.example.org"


def openapi() -> OpenAPI:
    return load_openapi(SPEC)


@functools.cache
def documented_schemas() -> dict[tuple[str, str, str], bool]:
    """(method, path, status) -> whether the document gives that answer a non-empty schema."""
    document = json.loads(SPEC.read_text())
    found: dict[tuple[str, str, str], bool] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation.get("responses", {}).items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema") or {}
                found[(method.upper(), path, status)] = bool(schema)
    return found


@pytest.fixture(scope="module")
def flux_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("flux-spec"), queue_delay=0.05)
    with EmulatorServer(config) as server:
        yield server


def connect(server: EmulatorServer, **options: Any) -> FacilityClient:
    c = server.flavour_credentials("flux")
    return FacilityClient.connect(
        "flux",
        base_url=server.api_url("flux"),
        user=c["user"],
        token=c["token"],
        secret_key=c["secret_key"],
        **options,
    )


def exercise(server: EmulatorServer) -> None:
    """Every operation of the backend once, as a user would call it."""
    import anyio
    import httpx

    from facility_common import AsyncFacilityClient
    from facility_common.backends.flux import FluxBackend

    with connect(server) as client:
        client.resources()
        client.resource("flux")
        client.is_available("flux")
        spec = JobSpec(
            executable="/bin/echo",
            arguments=["spec"],
            directory=server.credentials["home"],
            environment={"A": "1"},
            resources=ResourceSpec(
                node_count=1, process_count=1, cpu_cores_per_process=1, gpu_cores_per_process=1
            ),
            attributes=JobAttributes(
                duration=timedelta(seconds=30), custom_attributes={"cpu-affinity": "off"}
            ),
        )
        job = client.submit("flux", spec)
        client.list_jobs("flux", [job.id])
        assert client.wait("flux", job.id, timeout=30, poll_interval=0.1).state is JobState.COMPLETED
        client.job_output("flux", job.id)
        client.job_output("flux", job.id, tail=1)
        assert "".join(client.follow_output("flux", job.id)) == "spec\n"
        assert client.backend.search_jobs("flux", f"^{job.id}", start=0, length=5)[0]
        sleeper = client.submit("flux", JobSpec(executable="/bin/sleep", arguments=["30"]))
        client.cancel("flux", sleeper.id)

    async def extras() -> None:
        c = server.flavour_credentials("flux")
        async with AsyncFacilityClient.connect(
            "flux",
            base_url=server.api_url("flux"),
            user=c["user"],
            token=c["token"],
            secret_key=c["secret_key"],
        ) as async_client:
            backend = async_client.backend
            assert isinstance(backend, FluxBackend)
            assert (await backend.auth_info())["shared_secret_handshake"] is True
            assert await backend.nodes()
            await backend.stop_service()

    try:
        anyio.run(extras)
    finally:
        httpx.post(f"{server.url}/_emulator/flux/shared-secret/start", timeout=10).raise_for_status()


def validation_errors(exchange: Any, prefix: str) -> list[str]:
    spec_path = exchange.path.removeprefix(prefix)
    request = MockRequest(
        SPEC_HOST,
        exchange.method.lower(),
        spec_path,
        args=dict(parse_qsl(exchange.query, keep_blank_values=True)),
        headers=exchange.request_headers,
        data=exchange.request_body or None,
        content_type=exchange.request_content_type or "application/json",
    )
    where = f"{exchange.method} {exchange.path}?{exchange.query} -> {exchange.status}"
    errors = [f"request {where}: {error}" for error in openapi().iter_request_errors(request)]
    template = (exchange.route or "").removeprefix(prefix)
    if documented_schemas().get((exchange.method, template, str(exchange.status))):
        response = MockResponse(
            exchange.response_body,
            status_code=exchange.status,
            headers=exchange.response_headers,
            content_type=(exchange.response_content_type or "application/json").split(";")[0],
        )
        for error in openapi().iter_response_errors(request, response):
            errors.append(f"response {where}: {getattr(error, '__cause__', None) or error}")
    return errors


@pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")
def test_every_request_of_the_backend_follows_the_generated_spec(flux_server: EmulatorServer) -> None:
    flux_server.clear_exchanges()
    exercise(flux_server)
    exchanges = [e for e in flux_server.exchanges() if e.path.startswith("/flux/v1/")]
    routes = {(e.method, e.route) for e in exchanges}
    assert len(routes) >= 10, routes
    assert {
        ("GET", "/flux/v1/jobs/search"),
        ("GET", "/flux/v1/jobs/{jobid}/output/stream"),
        ("POST", "/flux/v1/service/stop"),
    } <= routes
    failures = [message for exchange in exchanges for message in validation_errors(exchange, "/flux")]
    assert not failures, json.dumps(failures[:20], indent=1)
    # openapi-core does not check OAuth2 security: every protected call must carry a bearer token.
    public = {"/flux/v1/auth", "/flux/v1/token", "/flux/v1/login/access-token"}
    for exchange in exchanges:
        if exchange.path not in public:
            assert exchange.request_headers.get("authorization", "").startswith("Bearer "), exchange.path


def test_a_malformed_submit_gets_the_documented_422(flux_server: EmulatorServer) -> None:
    import httpx

    flux_server.clear_exchanges()
    answer = httpx.post(
        flux_server.api_url("flux", "none") + "/v1/jobs/submit", params={"command": "true", "num_tasks": "x"}
    )
    assert answer.status_code == 422
    (exchange,) = [e for e in flux_server.exchanges() if e.path.endswith("/jobs/submit")]
    request = MockRequest(SPEC_HOST, "post", "/v1/jobs/submit", args={"command": "true"}, headers={})
    response = MockResponse(exchange.response_body, status_code=422, content_type="application/json")
    assert documented_schemas()[("POST", "/v1/jobs/submit", "422")]
    assert not list(openapi().iter_response_errors(request, response))


def test_environment_reaches_the_job_through_our_backend(flux_server: EmulatorServer) -> None:
    environment = {"PLAIN": "value", "SPACED": "two words", "QUOTED": 'it\'s "quoted"', "LINES": "a\nb"}
    script = 'for v in PLAIN SPACED QUOTED LINES; do printf "%s=[%s]\\n" "$v" "$(printenv "$v")"; done'
    with connect(flux_server) as client:
        job = client.submit(
            "flux", JobSpec(executable="/bin/sh", arguments=["-c", script], environment=environment)
        )
        assert client.wait("flux", job.id, timeout=30, poll_interval=0.1).state is JobState.COMPLETED
        output = client.job_output("flux", job.id)
    assert output == 'PLAIN=[value]\nSPACED=[two words]\nQUOTED=[it\'s "quoted"]\nLINES=[a\nb]\n'


def flux_restful_client(server: EmulatorServer) -> Any:
    from flux_restful_client.main.client import FluxRestfulClient

    c = server.flavour_credentials("flux")
    return FluxRestfulClient(
        host=server.api_url("flux"), user=c["user"], token=c["token"], secret_key=c["secret_key"], quiet=True
    )


def wait_inactive(cli: Any, job_id: int) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 30
    while True:
        info: dict[str, Any] = cli.jobs(job_id)
        if info["state"] == "INACTIVE" or time.monotonic() > deadline:
            return info
        time.sleep(0.1)


def test_the_flux_projects_client_works_against_the_emulator(flux_server: EmulatorServer) -> None:
    cli = flux_restful_client(flux_server)
    # Its first call meets a 401, does the handshake and repeats the call; that repeat drops a
    # request's query parameters, so a submit must not be the first call. It joins a list
    # command with spaces and no quoting, so commands are given as shell-quoted strings.
    assert cli.list_nodes()["nodes"]
    submitted = cli.submit(command="sh -c 'echo from the flux client'", num_tasks=1, runtime=30)
    job_id = submitted["id"]
    info = wait_inactive(cli, job_id)
    assert (info["state"], info["result"], info["returncode"]) == ("INACTIVE", "COMPLETED", 0)
    assert "".join(cli.output(job_id)["Output"]) == "from the flux client\n"
    assert {"id": job_id} in cli.jobs()["jobs"]
    # It asks for details with ``detail=true``; the 1.1.0 server reads ``details``, so the answer
    # stays the plain id listing.
    assert {"id": job_id} in cli.jobs(detail=True)["jobs"]
    sleeper = cli.submit(command="sleep 30")["id"]
    assert cli.cancel(sleeper)["Message"] == "Job is requested to cancel."
    assert wait_inactive(cli, sleeper)["result"] == "CANCELED"


def test_the_flux_projects_client_cannot_deliver_environment_variables(flux_server: EmulatorServer) -> None:
    cli = flux_restful_client(flux_server)
    cli.list_nodes()
    job_id = cli.submit(command="sh -c 'echo value=[$FLUX_CLIENT_VAR]'", envars={"FLUX_CLIENT_VAR": "set"})[
        "id"
    ]
    wait_inactive(cli, job_id)
    assert "".join(cli.output(job_id)["Output"]) == "value=[]\n"

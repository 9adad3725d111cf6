"""Every request our FirecREST backend sends, and every answer the emulator gives, follow the
official FirecREST v2 OpenAPI document (2.5.6), in both fidelities: as the spec says, and as the
FirecREST v2 server answers (``firecrest=reference``).

A fresh emulator records its exchanges while the client exercises every operation it has; each
exchange under ``/firecrest`` is validated with openapi-core. The presigned staging URLs
(``/firecrest-s3``) stand in for S3 and are not part of the FirecREST API.

One documented leniency: FirecREST's request models are pydantic CamelModels that accept the
snake_case spelling of every field and ``path`` for ``sourcePath`` (``populate_by_name`` plus
aliases), and clients such as pyfirecrest send some bodies that way (``working_directory``,
``transfer_directives``). The OpenAPI document only lists the camelCase names, so request bodies are
put in camelCase before validation. And the document lists ``application/json`` for the raw bytes
``ops/download`` streams (FastAPI's default for a streaming answer), so that answer is checked for
its status and bytes only. Anything else must match as is.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from facility_common import FacilityClient, JobAttributes, JobSpec, JobState, NotFoundError
from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.firecrest.site import site_of

from ..spec_check import is_binary_part_quirk, load_openapi

SPEC = Path(__file__).resolve().parents[2] / "specs" / "cscs-firecrest" / "firecrest-v2-openapi-2.5.6.yaml"
SPEC_HOST = "https://api.cscs.ch"

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def openapi() -> OpenAPI:
    return load_openapi(SPEC)


@pytest.fixture(scope="module", params=["spec", "firecrest=reference"])
def recording_emulator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        root=tmp_path_factory.mktemp("f7t-spec"), queue_delay=0.05, task_delay=0.0, fidelity=request.param
    )
    with EmulatorServer(config) as server:
        yield server


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def camel_body(value: Any, *, top: bool = True) -> Any:
    """A request body with CamelModel's accepted spellings put in camelCase (see module doc)."""
    if isinstance(value, dict):
        renamed = {}
        for key, item in value.items():
            new = "sourcePath" if top and key == "path" else _camel(key)
            renamed[new] = item if new == "env" else camel_body(item, top=False)
        return renamed
    if isinstance(value, list):
        return [camel_body(item, top=False) for item in value]
    return value


def validation_errors(exchange: Any) -> list[str]:
    spec_path = exchange.path.removeprefix("/firecrest")
    body = exchange.request_body or None
    content_type = exchange.request_content_type or "application/json"
    if body and content_type.startswith("application/json"):
        body = json.dumps(camel_body(json.loads(body))).encode()
    request = MockRequest(
        SPEC_HOST,
        exchange.method.lower(),
        spec_path,
        args=dict(parse_qsl(exchange.query, keep_blank_values=True)),
        headers=exchange.request_headers,
        data=body,
        content_type=content_type,
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
        if not is_binary_part_quirk(exchange, error):
            errors.append(f"request {where}: {getattr(error, '__cause__', None) or error}")
    if exchange.path.endswith("/ops/download") and exchange.status == 200:
        return errors
    for error in openapi().iter_response_errors(request, response):
        errors.append(f"response {where}: {getattr(error, '__cause__', None) or error}")
    return errors


def exercise(server: EmulatorServer, tmp_path: Path) -> None:
    """Every backend operation once, plus the error answers a client meets."""
    credentials = server.credentials
    home = credentials["home"]
    now = datetime.now(UTC)
    site_of(server.state).add_reservation("daint", now + timedelta(hours=1), now + timedelta(hours=3))
    auth = {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }
    with FacilityClient.connect(
        "firecrest", base_url=server.api_url("firecrest"), auth=auth, account="demo"
    ) as client:
        assert {r.name for r in client.resources()} == {"daint", "eiger", "santis"}
        assert client.whoami().default_project == "demo"
        assert {p.id for p in client.projects()} == {"demo", "staff"}
        assert client.resource("daint").name == "daint"
        assert client.outages("daint")
        spec = JobSpec(
            executable="/bin/echo",
            arguments=["spec"],
            name="spec-job",
            attributes=JobAttributes(duration=timedelta(minutes=5), queue_name="debug"),
        )
        job = client.submit("daint", spec)
        done = client.wait("daint", job.id, timeout=60, poll_interval=0.1)
        assert done.state is JobState.COMPLETED
        assert client.job_output("daint", job.id).strip() == "spec"
        assert client.job_output("daint", job.id, tail=1).strip() == "spec"
        assert job.id in {j.id for j in client.list_jobs("daint", [job.id])}
        sleeper = client.submit("daint", JobSpec(executable="/bin/sleep", arguments=["30"]))
        client.cancel("daint", sleeper.id)
        with pytest.raises(NotFoundError):
            client.get_job("daint", "999999")

        work = f"{home}/spec-files"
        client.mkdir("daint", work, parents=True)
        small = tmp_path / "small.txt"
        small.write_text("".join(f"line {n}\n" for n in range(30)))
        client.upload("daint", small, f"{work}/small.txt")
        client.ls("daint", work)
        client.stat("daint", f"{work}/small.txt")
        client.view("daint", f"{work}/small.txt")
        client.view("daint", f"{work}/small.txt", offset=3, size=4)
        client.head("daint", f"{work}/small.txt", lines=2)
        client.tail("daint", f"{work}/small.txt", nbytes=5)
        client.checksum("daint", f"{work}/small.txt")
        client.file_type("daint", f"{work}/small.txt")
        client.chmod("daint", f"{work}/small.txt", "640")
        client.chown("daint", f"{work}/small.txt", owner=str(os.getuid()))
        client.symlink("daint", f"{work}/small.txt", f"{work}/link.txt")
        client.cp("daint", f"{work}/small.txt", f"{work}/copy.txt")
        client.mv("daint", f"{work}/copy.txt", f"{work}/moved.txt")
        client.compress("daint", f"{work}/small.txt", f"{home}/spec-files.tar.gz")
        client.extract("daint", f"{home}/spec-files.tar.gz", f"{home}/spec-extracted")
        client.download("daint", f"{work}/small.txt", tmp_path / "back.txt")
        big = tmp_path / "big.bin"
        big.write_bytes(bytes(range(256)) * 5000)  # ~1.2 MiB: above eiger's direct limit
        client.upload("eiger", big, f"{work}/big.bin")
        client.download("eiger", f"{work}/big.bin", tmp_path / "big-back.bin")
        assert (tmp_path / "big-back.bin").read_bytes() == big.read_bytes()
        # santis moves large files with the streamer: its transfer calls and answers too.
        client.upload("santis", big, f"{work}/streamed.bin")
        client.download("santis", f"{work}/streamed.bin", tmp_path / "streamed-back.bin")
        assert (tmp_path / "streamed-back.bin").read_bytes() == big.read_bytes()
        client.rm("daint", f"{work}/moved.txt")
        with pytest.raises(NotFoundError):
            client.stat("daint", f"{work}/moved.txt")


def test_every_exchange_follows_the_spec(recording_emulator: EmulatorServer, tmp_path: Path) -> None:
    recording_emulator.clear_exchanges()
    exercise(recording_emulator, tmp_path)
    exchanges = [e for e in recording_emulator.exchanges() if e.path.startswith("/firecrest/")]
    routes = {(e.method, re.sub(r"/jobs/\d+", "/jobs/{id}", e.route or e.path)) for e in exchanges}
    assert len(routes) >= 25, sorted(routes)
    assert any(route.endswith("/userinfo") for _, route in routes), sorted(routes)
    failures = [message for exchange in exchanges for message in validation_errors(exchange)]
    assert not failures, json.dumps(failures[:20], indent=1)

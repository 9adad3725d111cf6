"""ESnet's generated IRI clients (``amsc-iri`` for v1, ``amsc-iri-v2`` for v2, written by others)
work against the emulator (spec mode).

This checks the emulator against two more independent readings of the IRI specs, the v2 one of
its newest revision: status, compute submit/get/list/cancel, a filesystem task, v2's whoami.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import amsc_iri
import amsc_iri.api.compute_api
import amsc_iri.api.filesystem_api
import amsc_iri.api.status_api
import amsc_iri.api.task_api
import amsc_iri_v2
import amsc_iri_v2.api.account_api
import amsc_iri_v2.api.compute_api
import amsc_iri_v2.api.filesystem_api
import amsc_iri_v2.api.status_api
import amsc_iri_v2.api.task_api
import pytest

from ..conftest import resource_id

CLIENTS: dict[str, ModuleType] = {"v1": amsc_iri, "v2": amsc_iri_v2}


@pytest.fixture(scope="module", params=sorted(CLIENTS))
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def api_client(emulator: Any, version: str) -> Iterator[Any]:
    package = CLIENTS[version]
    configuration = package.Configuration(
        host=emulator.iri_url(version).removesuffix(f"/api/{version}"),
        access_token=emulator.credentials["static_token"],
    )
    with package.ApiClient(configuration) as client:
        yield client


def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_status_routes(api_client: Any, emulator: Any, version: str) -> None:
    status = CLIENTS[version].api.status_api.StatusApi(api_client)
    assert {"polaris", "eagle"} <= {resource.name for resource in status.get_resources()}
    polaris = status.get_resource(resource_id(emulator, "polaris"))
    assert polaris.name == "polaris"
    assert polaris.current_status.value in ("up", "degraded", "down", "unknown")
    status.get_incidents()


def test_compute_submit_get_list_cancel(api_client: Any, emulator: Any, version: str) -> None:
    package = CLIENTS[version]
    compute = package.api.compute_api.ComputeApi(api_client)
    polaris = resource_id(emulator, "polaris")
    spec = package.models.JobSpec.from_dict(
        {
            "executable": "/bin/echo",
            "arguments": [f"from amsc-iri {version}"],
            "resources": {"node_count": 1},
            "attributes": {"duration": 60, "queue_name": "debug", "account": "demo"},
        }
    )
    job = compute.launch_job(polaris, spec)
    assert job.id and job.job_spec.attributes.account == "demo"

    def finished() -> Any:
        seen = compute.get_job(polaris, job.id)
        return seen if seen.status.state.value in ("completed", "failed", "canceled") else None

    assert until(finished).status.state.value == "completed"
    assert job.id in {item.id for item in compute.get_jobs(polaris, historical=True)}

    sleeper = compute.launch_job(
        polaris,
        package.models.JobSpec.from_dict(
            {
                "executable": "/bin/sleep",
                "arguments": ["30"],
                "attributes": {"duration": 60, "account": "demo"},
            }
        ),
    )
    compute.cancel_job(polaris, sleeper.id)
    assert until(lambda: compute.get_job(polaris, sleeper.id).status.state.value == "canceled")


def test_filesystem_task(api_client: Any, emulator: Any, version: str) -> None:
    """ls runs as a task; the task is polled to its result."""
    package = CLIENTS[version]
    files = package.api.filesystem_api.FilesystemApi(api_client)
    tasks = package.api.task_api.TaskApi(api_client)
    home = emulator.credentials["home"]
    polaris = resource_id(emulator, "polaris")
    submitted = (
        files.ls(polaris, path=home)
        if version == "v1"
        else files.ls(polaris, package.models.PostLsRequest(path=home))
    )
    assert submitted.task_id

    def ended() -> Any:
        task = tasks.get_task(submitted.task_id)
        return task if task.status.value in ("completed", "failed", "canceled") else None

    task = until(ended)
    assert task.status.value == "completed"
    assert isinstance(task.result["output"], list)


def test_v2_whoami(emulator: Any) -> None:
    configuration = amsc_iri_v2.Configuration(
        host=emulator.iri_url("v2").removesuffix("/api/v2"),
        access_token=emulator.credentials["static_token"],
    )
    with amsc_iri_v2.ApiClient(configuration) as client:
        assert amsc_iri_v2.api.account_api.AccountApi(client).whoami().username == emulator.config.user

"""NERSC's generated IRI client (``nersc-iri``, written by others) works against the emulator.

This checks the emulator against an independent reading of the IRI v1 spec: status and compute.
"""

from __future__ import annotations

import time
from typing import Any

import nersc_iri
import pytest
from nersc_iri.api.compute_api import ComputeApi
from nersc_iri.api.status_api import StatusApi
from nersc_iri.models.job_spec_input import JobSpecInput

from ..conftest import resource_id


@pytest.fixture(scope="module")
def api_client(emulator: Any) -> Any:
    configuration = nersc_iri.Configuration(
        host=emulator.iri_url("v1").removesuffix("/api/v1"),
        access_token=emulator.credentials["static_token"],
    )
    with nersc_iri.ApiClient(configuration) as client:
        yield client


def test_status_routes(api_client: Any, emulator: Any) -> None:
    status = StatusApi(api_client)
    resources = status.get_resources()
    names = {resource.name for resource in resources}
    assert {"polaris", "eagle"} <= names
    polaris = status.get_resource(resource_id(emulator, "polaris"))
    assert polaris.name == "polaris"
    assert polaris.current_status.value in ("up", "degraded", "down", "unknown")
    status.get_incidents()


def test_compute_submit_status_list_cancel(api_client: Any, emulator: Any) -> None:
    compute = ComputeApi(api_client)
    polaris_id = resource_id(emulator, "polaris")
    spec = JobSpecInput.from_dict(
        {
            "executable": "/bin/echo",
            "arguments": ["from nersc-iri"],
            "resources": {"node_count": 1},
            "attributes": {"duration": 60, "queue_name": "debug", "account": "demo"},
        }
    )
    job = compute.launch_job(polaris_id, spec)
    assert job.id
    for _ in range(100):
        job = compute.get_job(polaris_id, job.id)
        if job.status.state.value in ("completed", "failed", "canceled"):
            break
        time.sleep(0.1)
    assert job.status.state.value == "completed"
    listed = compute.get_jobs(polaris_id, historical=True)
    assert job.id in {item.id for item in listed}

    sleeper = compute.launch_job(
        polaris_id,
        JobSpecInput.from_dict(
            {"executable": "/bin/sleep", "arguments": ["30"], "attributes": {"duration": 60}}
        ),
    )
    compute.cancel_job(polaris_id, sleeper.id)
    for _ in range(100):
        state = compute.get_job(polaris_id, sleeper.id).status.state.value
        if state == "canceled":
            break
        time.sleep(0.1)
    assert state == "canceled"

"""A pilot whose worker command is not found (slurmrestd and S3M give a job only the environment
sent, so a ``worker_init`` that activates nothing leaves ``process_worker_pool.py`` off PATH) is
reported as such: exit 127, the tail of its stderr, and what ``worker_init`` must do, not a bare
``EXIT CODE: 127``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parsl.jobs.error_handlers import _get_error
from parsl.jobs.states import JobState as ParslState
from parsl.jobs.states import JobStatus

from facility_emulator import EmulatorConfig, EmulatorServer
from parsl_facility import FacilityProvider
from parsl_facility.diagnosis import failure_message


@pytest.fixture(scope="module")
def facility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("pilot-failure"), queue_delay=0.0)
    with EmulatorServer(config) as server:
        yield server


def provider_for(facility: EmulatorServer, api: str, **options: Any) -> FacilityProvider:
    if api == "slurmrest":
        credentials = facility.flavour_credentials("slurmrestd")
        base_url = facility.api_url("slurmrestd", "root")
        client_options: dict[str, Any] = {"user_name": credentials["user_name"]}
    else:
        credentials = facility.flavour_credentials("s3m")
        base_url = facility.url
        client_options = {}
    client_options.update(directory=credentials["home"], local_output=True)
    return FacilityProvider(
        facility=api,
        base_url=base_url,
        resource="polaris",
        auth=credentials["token"],
        client_options=client_options,
        walltime="00:05:00",
        status_polling_interval=1,
        **options,
    )


def failed(provider: FacilityProvider, job_id: str) -> JobStatus:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        [status] = provider.status([job_id])
        if status.terminal:
            return status
        time.sleep(0.1)
    pytest.fail(f"pilot {job_id} never ended")


@pytest.mark.parametrize("api", ["slurmrest", "s3m"])
def test_a_worker_command_not_found_says_what_worker_init_must_do(
    facility: EmulatorServer, api: str, tmp_path: Path
) -> None:
    provider = provider_for(facility, api, worker_init="echo 'no environment activated'")
    provider.script_dir = str(tmp_path)
    job_id = provider.submit("process_worker_pool.py --port 1 --never-started", 1, f"parsl.{api}.block-0")
    status = failed(provider, job_id)
    assert status.state == ParslState.FAILED and status.exit_code == 127
    message = status.message or ""
    assert "the worker command was not found" in message
    assert "process_worker_pool.py: command not found" in message
    assert "worker_init" in message and "activate" in message
    report = str(_get_error({"0": status}))  # what Parsl shows when its blocks keep failing
    assert "the worker command was not found" in report and "EXIT CODE: 127" in report


def test_other_failures_keep_the_facilitys_reason() -> None:
    message = failure_message("7", "polaris", "job exited with code 3", 3, "loading\nmodule x not found\n")
    assert (
        message
        == "pilot job 7 on polaris failed: job exited with code 3; stderr ends: loading | module x not found"
    )
    unreadable = failure_message("8", "polaris", None, 127, None)
    assert "the worker command was not found" in unreadable and "worker_init" in unreadable

"""A pilot whose worker command is not found (slurmrestd and S3M give a job only the environment
sent, so a ``worker_init`` that activates nothing leaves ``process_worker_pool.py`` off PATH) is
reported as such: exit 127, the tail of its stderr, and what ``worker_init`` must do, not a bare
``EXIT CODE: 127``. Another missing command is named as what it is, and a process that cannot
find ``interchange.py`` is told so before Parsl starts it."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parsl.jobs.error_handlers import _get_error
from parsl.jobs.states import JobState as ParslState
from parsl.jobs.states import JobStatus

from facility_emulator import EmulatorConfig, EmulatorServer
from parsl_facility import FacilityProvider
from parsl_facility.diagnosis import failure_message, missing_commands


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
    assert "the worker command was not found: process_worker_pool.py is not on the pilot's PATH" in message
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
    assert "a command was not found (its stderr does not say which)" in unreadable
    assert "process_worker_pool.py" in unreadable and "worker_init" in unreadable


def test_the_command_that_was_not_found_is_named() -> None:
    stderr = "parsl.block-0: line 18: module: command not found\nworker_init: module parsl-env not found\n"
    assert missing_commands(stderr) == ["module"]
    assert missing_commands("sh: 1: srun: not found\n/bin/bash: mpiexec: command not found") == [
        "srun",
        "mpiexec",
    ]
    message = failure_message("9", "polaris", "job exited with code 3", 3, stderr)
    assert "command not found: module" in message and "worker_init or the launcher runs module" in message
    assert "the worker command was not found" not in message
    worker = failure_message(
        "10", "polaris", None, 127, "environment: line 26: process_worker_pool.py: command not found"
    )
    assert "process_worker_pool.py is not on the pilot's PATH" in worker and "a local emulator" in worker


def test_a_missing_interchange_is_named_before_parsl_starts_it(
    facility: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = provider_for(facility, "slurmrest")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.warns(RuntimeWarning, match=r"interchange\.py is not on this process's PATH.*activate"):
        provider.script_dir = str(tmp_path)  # what the DataFlowKernel does before starting HTEX
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        provider.script_dir = str(tmp_path)

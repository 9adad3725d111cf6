"""FacilityProvider against the emulator, driven directly as Parsl's executors drive it:
batched status, cancel, failure output, API blips, and a resource that is down."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from parsl.jobs.states import JobState as ParslState
from parsl.jobs.states import JobStatus
from parsl.providers.errors import SubmitException

from facility_common import RetryPolicy
from facility_emulator import EmulatorConfig, EmulatorServer
from parsl_facility import FacilityProvider

from ..conftest import resource_id
from .conftest import admin, make_provider

STATUS_ROUTE = "POST /iri/api/v1/compute/status/{resource_id}"
FAST_RETRY = RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.1)


@pytest.fixture(scope="module")
def facility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """An emulator of our own: these tests change resource status, faults and counters."""
    config = EmulatorConfig(root=tmp_path_factory.mktemp("parsl-provider"), queue_delay=0.1, task_delay=0.01)
    with EmulatorServer(config) as server:
        yield server


def wait_for(
    provider: FacilityProvider,
    job_ids: Sequence[str],
    done: Callable[[list[JobStatus]], bool],
    timeout: float = 60.0,
) -> list[JobStatus]:
    """Call status() (as Parsl would) until ``done`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = provider.status(job_ids)
        if done(statuses):
            return statuses
        if time.monotonic() > deadline:
            pytest.fail(f"statuses never reached the expected condition: {statuses}")
        time.sleep(0.2)


def test_one_status_round_for_twenty_blocks_costs_one_request(
    facility: EmulatorServer, tmp_path: Path
) -> None:
    provider = make_provider(facility)
    provider.script_dir = str(tmp_path)
    job_ids = [provider.submit("sleep 300", 1, f"parsl.twenty.block-{n}") for n in range(20)]
    assert len(set(job_ids)) == 20
    wait_for(provider, job_ids, lambda s: all(js.state == ParslState.RUNNING for js in s))

    admin(facility, "DELETE", "stats")
    statuses = provider.status(job_ids)
    stats = admin(facility, "GET", "stats")
    assert [js.state for js in statuses] == [ParslState.RUNNING] * 20
    assert stats["routes"] == {STATUS_ROUTE: 1}, stats["routes"]

    assert provider.cancel(job_ids) == [True] * 20
    wait_for(provider, job_ids, lambda s: all(js.state == ParslState.CANCELLED for js in s))
    # Terminal blocks are answered from memory: another round asks the facility nothing.
    admin(facility, "DELETE", "stats")
    assert [js.state for js in provider.status(job_ids)] == [ParslState.CANCELLED] * 20
    assert admin(facility, "GET", "stats")["total"] == 0
    assert (tmp_path / "parsl.twenty.block-0.sh").read_text().count("sleep 300") == 1


def test_a_failed_pilot_brings_its_output_tail_home(facility: EmulatorServer, tmp_path: Path) -> None:
    provider = make_provider(
        facility, worker_init="echo 'loading modules'; echo 'module parsl-env not found' >&2; exit 3"
    )
    provider.script_dir = str(tmp_path)
    job_id = provider.submit("process_worker_pool.py --never-reached", 1, "parsl.broken.block-0")
    [status] = wait_for(provider, [job_id], lambda s: s[0].terminal)
    assert status.state == ParslState.FAILED
    assert status.exit_code == 3
    assert "module parsl-env not found" in (status.stderr_summary or "")
    assert "loading modules" in (status.stdout_summary or "")
    assert status.stderr_path is not None and Path(status.stderr_path).parent == tmp_path
    assert job_id in (status.message or "") and "polaris" in (status.message or "")
    # Fetched once: later rounds neither ask about the job nor fetch its output again.
    admin(facility, "DELETE", "stats")
    assert provider.status([job_id])[0].stderr_path == status.stderr_path
    assert admin(facility, "GET", "stats")["total"] == 0


def test_a_pilot_killed_at_walltime_is_timeout(facility: EmulatorServer, tmp_path: Path) -> None:
    provider = make_provider(facility, walltime=2)
    provider.script_dir = str(tmp_path)
    job_id = provider.submit("sleep 60", 1, "parsl.walltime.block-0")
    [status] = wait_for(provider, [job_id], lambda s: s[0].terminal)
    assert status.state == ParslState.TIMEOUT
    assert status.stderr_path is None  # not a failure: nothing fetched


def test_a_status_blip_keeps_the_last_known_states(facility: EmulatorServer, tmp_path: Path) -> None:
    provider = make_provider(facility, client_options={"retry": FAST_RETRY})
    provider.script_dir = str(tmp_path)
    job_ids = [provider.submit("sleep 300", 1, f"parsl.blip.block-{n}") for n in range(3)]
    wait_for(provider, job_ids, lambda s: all(js.state == ParslState.RUNNING for js in s))
    admin(facility, "DELETE", "stats")
    admin(facility, "PUT", "faults", {"spec": "503@POST */compute/status/*"})
    try:
        statuses = provider.status(job_ids)
    finally:
        admin(facility, "DELETE", "faults")
    assert admin(facility, "GET", "stats")["statuses"].get("503", 0) >= 1
    assert [js.state for js in statuses] == [ParslState.RUNNING] * 3
    assert provider.cancel(job_ids) == [True] * 3


def test_submitting_to_a_resource_that_is_down_names_it(facility: EmulatorServer, tmp_path: Path) -> None:
    provider = make_provider(facility, client_options={"retry": FAST_RETRY})
    provider.script_dir = str(tmp_path)
    admin(facility, "PUT", "resources/polaris/status", {"current_status": "down"})
    try:
        with pytest.raises(SubmitException) as caught:
            provider.submit("sleep 1", 1, "parsl.down.block-0")
    finally:
        admin(facility, "PUT", "resources/polaris/status", {"current_status": "up"})
    message = str(caught.value)
    assert "polaris is down" in message, message
    assert caught.value.job_name == "parsl.down.block-0"
    assert caught.value.retcode == 503


def test_a_ready_client_and_resource_ids_work(facility: EmulatorServer, tmp_path: Path) -> None:
    from facility_common import FacilityClient

    with FacilityClient.connect(
        "iri", base_url=facility.iri_url("v1"), auth=facility.credentials["static_token"]
    ) as client:
        provider = FacilityProvider(
            client=client, resource=resource_id(facility, "polaris"), walltime="00:01:00"
        )
        provider.script_dir = str(tmp_path)
        job_id = provider.submit("true", 1, "parsl.client.block-0")
        [status] = wait_for(provider, [job_id], lambda s: s[0].terminal)
        assert status.state == ParslState.COMPLETED
        assert provider.cancel([job_id]) == [True]

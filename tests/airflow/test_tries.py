"""What a try of a submit task costs and does, with ``dag.test()`` and with the operator driven
the way Airflow's task runner drives it (a fresh operator per try, a shared task state store).

* A first try asks the facility for nothing but its submit: no listing of the resource's jobs,
  whose cost would grow with the facility's history.
* A job that has ended by the time the task would defer finishes the task without deferring.
* A retry after a lost worker takes the earlier job's result when it completed, reports its
  failure when it failed (once: the next retry runs anew), and a cleared task runs a new job
  under its cycle's own tag.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_facility.attach import RECORD_KEY, submit_tag
from airflow_facility.operators import FacilitySubmitJobOperator
from airflow_facility.outcome import JobFailedError
from facility_common import FacilityClient

from .conftest import SITE_A, emulator_admin, load_dag, task_states
from .test_kill_and_retry import TaskInstanceStandIn

LISTING_ROUTE = "POST /iri/api/v1/compute/status/{resource_id}"
SUBMIT_ROUTE = "POST /iri/api/v1/compute/job/{resource_id}"


def _routes(server: Any) -> dict[str, int]:
    return dict(emulator_admin(server, "GET", "stats")["routes"])


def test_first_tries_send_only_their_submits(airflow_env: None, facility: Any) -> None:
    before = _routes(facility)
    run = load_dag("facility_first_tries").test()
    after = _routes(facility)

    assert run.state == "success", task_states(run)
    assert after.get(SUBMIT_ROUTE, 0) - before.get(SUBMIT_ROUTE, 0) == 3
    assert after.get(LISTING_ROUTE, 0) == before.get(LISTING_ROUTE, 0)


def test_a_job_ended_before_the_deferral_finishes_the_task_inline(
    airflow_env: None, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    run = load_dag("facility_short_job").test()
    log = "".join(capfd.readouterr()) + caplog.text

    assert run.state == "success", task_states(run)
    assert "finishing without deferring" in log
    assert "running trigger in line" not in log


class StoreStandIn:
    """``context["task_state_store"]``: one task instance's keys, shared by its tries."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


def _operator(command: str, retries: int) -> FacilitySubmitJobOperator:
    return FacilitySubmitJobOperator(
        task_id="compute",
        facility_conn_id=SITE_A,
        resource="polaris",
        executable="/bin/sh",
        arguments=["-c", command],
        duration=120,
        poll_interval=0.2,
        deferrable=False,
        retries=retries,
    )


def _client(server: Any) -> FacilityClient:
    return FacilityClient.connect(
        "iri", base_url=server.iri_url("v1"), auth=server.credentials["static_token"]
    )


def _submits(server: Any) -> int:
    return int(emulator_admin(server, "GET", "jobs")["submit_count"])


def _first_try_lost(server: Any, store: StoreStandIn, ti: TaskInstanceStandIn, command: str) -> str:
    """Run a try up to its submit, as a worker that dies right after it; wait for the job's end."""
    operator = _operator(command, retries=2)
    job = operator._earlier_or_new_job({"ti": ti, "task_state_store": store}, operator.hook.get_conn())  # type: ignore[arg-type]
    with _client(server) as client:
        client.wait("polaris", job.id, timeout=60, poll_interval=0.2)
    return job.id


def test_a_retry_after_a_lost_worker_adopts_a_completed_job(airflow_env: None, facility: Any) -> None:
    run_id, store = f"run-{uuid.uuid4().hex}", StoreStandIn()
    first = TaskInstanceStandIn("tries", "compute", run_id, try_number=1, max_tries=2)
    job_id = _first_try_lost(facility, store, first, "echo done")
    submitted = _submits(facility)

    retry = TaskInstanceStandIn("tries", "compute", run_id, try_number=2, max_tries=2)
    result = _operator("echo done", retries=2).execute({"ti": retry, "task_state_store": store})  # type: ignore[arg-type]

    assert _submits(facility) == submitted
    assert result is not None and result["id"] == job_id and result["state"] == "COMPLETED"
    assert store.values[RECORD_KEY]["seen_end"] is True


def test_a_retry_reports_a_failed_job_once_then_runs_anew(airflow_env: None, facility: Any) -> None:
    run_id, store = f"run-{uuid.uuid4().hex}", StoreStandIn()
    first = TaskInstanceStandIn("tries", "compute", run_id, try_number=1, max_tries=2)
    job_id = _first_try_lost(facility, store, first, "echo broken >&2; exit 3")
    submitted = _submits(facility)

    second = TaskInstanceStandIn("tries", "compute", run_id, try_number=2, max_tries=2)
    with pytest.raises(JobFailedError) as failed:
        _operator("exit 3", retries=2).execute({"ti": second, "task_state_store": store})  # type: ignore[arg-type]
    assert failed.value.job.id == job_id
    assert _submits(facility) == submitted

    third = TaskInstanceStandIn("tries", "compute", run_id, try_number=3, max_tries=2)
    result = _operator("echo fixed", retries=2).execute({"ti": third, "task_state_store": store})  # type: ignore[arg-type]
    assert _submits(facility) == submitted + 1
    assert result is not None and result["id"] != job_id and result["state"] == "COMPLETED"


def test_a_cleared_task_runs_a_new_job_under_its_own_tag(airflow_env: None, facility: Any) -> None:
    run_id, store = f"run-{uuid.uuid4().hex}", StoreStandIn()
    first = TaskInstanceStandIn("tries", "compute", run_id, try_number=1, max_tries=2)
    job_id = _first_try_lost(facility, store, first, "echo done")

    # Cleared after try 1: Airflow sets max_tries to 1 + retries, and try 2 starts a new cycle.
    cleared = TaskInstanceStandIn("tries", "compute", run_id, try_number=2, max_tries=3)
    result = _operator("echo again", retries=2).execute({"ti": cleared, "task_state_store": store})  # type: ignore[arg-type]

    assert result is not None and result["id"] != job_id
    assert store.values[RECORD_KEY]["tag"] == submit_tag("tries", "compute", run_id, -1, cycle=2)

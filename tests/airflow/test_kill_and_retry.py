"""Killing a submit task cancels its job; a retried task re-attaches to its live job.

The operator is driven the way Airflow's task runner drives it: ``execute`` with a context whose
``ti`` names the task instance, ``on_kill`` from another thread while ``execute`` waits, and a
fresh operator instance for a retry (Airflow rebuilds the operator for every try).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_facility.operators import FacilitySubmitJobOperator
from airflow_facility.outcome import JobFailedError
from airflow_facility.triggers import FacilityJobTrigger
from facility_common import FacilityClient

from .conftest import SITE_A, emulator_admin


@dataclass
class TaskInstanceStandIn:
    """The attributes and the XCom push a submit task uses from ``context["ti"]``."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int = 1
    map_index: int = -1
    max_tries: int = 0
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def _job(server: Any, job_id: str) -> dict[str, Any]:
    return next(job for job in emulator_admin(server, "GET", "jobs")["jobs"] if job["id"] == job_id)


def _wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.1)


def _operator(task_id: str, deferrable: bool) -> FacilitySubmitJobOperator:
    return FacilitySubmitJobOperator(
        task_id=task_id,
        facility_conn_id=SITE_A,
        resource="polaris",
        executable="/bin/sleep",
        arguments=["120"],
        duration=300,
        poll_interval=0.3,
        deferrable=deferrable,
    )


def test_on_kill_cancels_the_running_job(airflow_env: None, facility: Any) -> None:
    operator = _operator("killed", deferrable=False)
    ti = TaskInstanceStandIn("kill_dag", "killed", f"run-{uuid.uuid4().hex}")
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            operator.execute({"ti": ti})  # type: ignore[arg-type]
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    _wait_for(lambda: operator.job_id is not None and _job(facility, operator.job_id)["state"] == "active")
    operator.on_kill()
    worker.join(timeout=60)

    assert not worker.is_alive()
    assert operator.job_id is not None
    assert _job(facility, operator.job_id)["state"] == "canceled"
    assert isinstance(outcome.get("error"), JobFailedError)
    assert outcome["error"].job.state.value == "CANCELLED"  # type: ignore[attr-defined]


def test_retry_reattaches_to_the_running_job(airflow_env: None, facility: Any) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    first_try = TaskInstanceStandIn("retry_dag", "compute", run_id, try_number=1)
    with pytest.raises(TaskDeferred) as first:
        _operator("compute", deferrable=True).execute({"ti": first_try})  # type: ignore[arg-type]
    submitted = emulator_admin(facility, "GET", "jobs")["submit_count"]
    job_id = first_try.xcoms["job_id"]

    # The first try is lost (worker died); the retry gets a new operator instance.
    second_try = TaskInstanceStandIn("retry_dag", "compute", run_id, try_number=2)
    with pytest.raises(TaskDeferred) as second:
        _operator("compute", deferrable=True).execute({"ti": second_try})  # type: ignore[arg-type]

    assert emulator_admin(facility, "GET", "jobs")["submit_count"] == submitted
    assert second_try.xcoms["job_id"] == job_id
    assert isinstance(second.value.trigger, FacilityJobTrigger)
    assert second.value.trigger.job_id == first.value.trigger.job_id == job_id  # type: ignore[attr-defined]

    # Another task instance (another map index) gets its own job.
    other = TaskInstanceStandIn("retry_dag", "compute", run_id, map_index=1)
    with pytest.raises(TaskDeferred):
        _operator("compute", deferrable=True).execute({"ti": other})  # type: ignore[arg-type]
    assert other.xcoms["job_id"] != job_id
    for finished in (job_id, other.xcoms["job_id"]):
        _cancel(facility, finished)


def _cancel(server: Any, job_id: str) -> None:
    with FacilityClient.connect(
        "iri", base_url=server.iri_url("v1"), auth=server.credentials["static_token"]
    ) as client:
        client.cancel("polaris", job_id)


def test_trigger_stop_leaves_the_job_and_trigger_on_kill_cancels_it(airflow_env: None, facility: Any) -> None:
    with pytest.raises(TaskDeferred) as deferred:
        _operator("deferred_kill", deferrable=True).execute(
            {"ti": TaskInstanceStandIn("kill_dag", "deferred_kill", f"run-{uuid.uuid4().hex}")}  # type: ignore[arg-type]
        )
    trigger = deferred.value.trigger
    assert isinstance(trigger, FacilityJobTrigger)

    async def restart_then_kill() -> None:
        # A triggerer restart cancels the trigger's coroutine: the job must keep running.
        waiting = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(1.0)
        assert not waiting.done()
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        assert _job(facility, trigger.job_id)["state"] in ("queued", "active")
        # A user marking the deferred task failed: Airflow calls the trigger's on_kill.
        await trigger.on_kill()

    asyncio.run(restart_then_kill())
    _wait_for(lambda: _job(facility, trigger.job_id)["state"] == "canceled")

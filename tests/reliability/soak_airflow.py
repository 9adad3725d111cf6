"""The soak's Airflow side: a DAG with one mapped submit task per backend, run with
``dag.test()``, and sleepers whose submit tasks are killed while they wait (``on_kill``).

The mapped tasks wait inline, bounded by the operator's ``timeout``, and have retries as a
production DAG would: a try whose submit ended without knowing whether the job was created fails,
and the next try (same task instance, same submit tag) looks for the job before sending it. The
killed tasks are driven as Airflow's task runner drives them: ``execute`` in one thread,
``on_kill`` from another once the job runs, and a fresh operator instance for each try. The
Airflow environment (AIRFLOW_HOME on SQLite, the metadata database) is the Airflow suite's
(tests/airflow/conftest.py), imported before Airflow itself.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..airflow import conftest as airflow_suite  # noqa: F401 - sets AIRFLOW_HOME before Airflow loads
from .soak_backends import WALLTIME_SECONDS, conn_id
from .soak_ledger import LogicalJob

NORMAL_WAIT_SECONDS = 90
"""Bound on a job's wait: far above its run time, so reaching it means a hang."""
POLL_SECONDS = 0.2
TRIES = 3
"""Tries of each task (``retries=2``)."""


def _task_id(backend: str) -> str:
    return f"jobs_{backend.replace('-', '_')}"


def build_dag(dag_id: str, jobs: list[LogicalJob], resources: dict[str, str], marker_dir: str) -> Any:
    """The soak DAG: per backend, one mapped submit task over that backend's jobs."""
    from airflow.sdk import DAG

    from airflow_facility.operators import FacilitySubmitJobOperator

    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2025, 1, 1), catchup=False) as dag:
        for backend, resource in resources.items():
            chosen = [job for job in jobs if job.backend == backend]
            FacilitySubmitJobOperator.partial(
                task_id=_task_id(backend),
                facility_conn_id=conn_id(backend),
                resource=resource,
                executable="/bin/bash",
                duration=WALLTIME_SECONDS,
                poll_interval=POLL_SECONDS,
                timeout=NORMAL_WAIT_SECONDS,
                deferrable=False,
                retries=TRIES - 1,
                retry_delay=datetime.timedelta(seconds=1),
            ).expand_kwargs(
                [{"arguments": ["-c", job.command(marker_dir)], "job_name": job.key} for job in chosen]
            )
    return dag


def record_outcomes(run: Any, jobs: list[LogicalJob]) -> None:
    """Set each job's outcome (and the job id its task pushed) from its task instance."""
    from airflow import settings
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    session = settings.Session()
    try:
        instances = {(ti.task_id, ti.map_index): ti for ti in run.get_task_instances(session=session)}
        pushed = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id, XComModel.key == "job_id"
            )
        ).all()
        job_ids = {(x.task_id, x.map_index): _xcom_value(x.value) for x in pushed}
    finally:
        session.close()
    for backend in sorted({job.backend for job in jobs}):
        chosen = [job for job in jobs if job.backend == backend]
        for index, job in enumerate(chosen):
            ti = instances.get((_task_id(backend), index))
            job.job_id = job_ids.get((_task_id(backend), index))
            state = str(ti.state) if ti is not None else "missing"
            if state == "success":
                job.outcome = "completed"
            elif state == "failed":
                job.outcome = "failed"
            else:
                job.outcome, job.detail = "hung", f"task instance {state}"
            if ti is not None and ti.try_number > 1:
                job.detail = f"{ti.try_number} tries"


def _xcom_value(value: Any) -> str | None:
    """An XCom value as stored (JSON text in Airflow 3's table), decoded."""
    if isinstance(value, (bytes, str)):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    return None if value is None else str(value)


@dataclass
class TaskInstanceStandIn:
    """What a submit task uses of ``context["ti"]``: its identity and the XCom push."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


class KilledTask(threading.Thread):
    """A submit task waiting inline on a sleeper, killed through ``on_kill`` once the job runs.

    A try that fails before it has a job (its submit's outcome was unknown) is retried with a
    fresh operator for the same task instance, as Airflow does with ``retries``.
    """

    def __init__(
        self,
        job: LogicalJob,
        resource: str,
        marker_dir: str,
        started: Callable[[LogicalJob], bool],
        deadline: float,
    ) -> None:
        super().__init__(name=f"soak-kill-{job.key}", daemon=True)
        self.job = job
        self.resource = resource
        self.marker_dir = marker_dir
        self.started = started
        self.deadline = deadline
        self.ti = TaskInstanceStandIn("soak_kill", f"killed_{job.key}", f"soak-{uuid.uuid4().hex}")
        self.tries = 0

    def _operator(self) -> Any:
        from airflow_facility.operators import FacilitySubmitJobOperator

        return FacilitySubmitJobOperator(
            task_id=self.ti.task_id,
            facility_conn_id=conn_id(self.job.backend),
            resource=self.resource,
            executable="/bin/bash",
            arguments=["-c", self.job.command(self.marker_dir)],
            job_name=self.job.key,
            duration=WALLTIME_SECONDS,
            poll_interval=POLL_SECONDS,
            timeout=NORMAL_WAIT_SECONDS,
            deferrable=False,
        )

    def run(self) -> None:
        while self.tries < TRIES and time.monotonic() < self.deadline:
            self.tries += 1
            self.ti.try_number = self.tries
            operator = self._operator()
            self._try(operator)
            self.job.job_id = operator.job_id
            if operator.job_id is not None or self.job.outcome == "hung":
                return

    def _try(self, operator: Any) -> None:
        outcome: dict[str, BaseException | None] = {}

        def execute() -> None:
            try:
                operator.execute({"ti": self.ti})
            except Exception as exc:  # the wait ends in JobFailedError(CANCELLED) after on_kill
                outcome["error"] = exc
            else:
                outcome["error"] = None

        waiter = threading.Thread(target=execute, name=f"{self.name}-try{self.tries}", daemon=True)
        waiter.start()
        while time.monotonic() < self.deadline and waiter.is_alive():
            if operator.job_id is not None and self.started(self.job):
                operator.on_kill()
                break
            time.sleep(0.1)
        waiter.join(timeout=max(0.0, self.deadline - time.monotonic()))
        if waiter.is_alive():
            self.job.outcome, self.job.detail = "hung", "the killed task's wait did not end"
            return
        error = outcome.get("error")
        state = getattr(getattr(error, "job", None), "state", None)
        if error is None:
            self.job.outcome = "completed"
        elif getattr(state, "value", None) == "CANCELLED":
            self.job.outcome = "cancelled"
        else:
            self.job.outcome, self.job.detail = "failed", f"try {self.tries}: {type(error).__name__}: {error}"

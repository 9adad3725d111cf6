"""The provider in a real Airflow deployment: PostgreSQL, LocalExecutor, and api-server, scheduler,
dag-processor and triggerer as separate processes (``scripts/airflow-local.sh``), the emulator as
the facility, every run triggered through the REST API without a logical date.

The runs start together (the machine has two cores; waiting for them one by one would take
minutes), then each test checks one of them, making its user action or crash at the right
moment: clearing a deferred task, marking one success or failed, killing the triggerer, killing
a worker. ``bash scripts/test.sh`` starts the deployment before pytest and stops it after; run
alone, this module starts and stops it itself. Without PostgreSQL and without the means to
install it, the module is skipped, except in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_facility.attach import submit_tag

from .airflow_rest import AirflowRest, wait_for

pytestmark = [pytest.mark.deployment, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "airflow-local.sh"
STATE = Path(os.environ.get("AIRFLOW_LOCAL_DIR", "/tmp/airflow-local"))
#: ``airflow-local.sh start`` exits with this when PostgreSQL is missing and cannot be installed.
POSTGRES_UNAVAILABLE = 3
#: Seconds between status rounds in the deployment's DAGs (``tests/deployment/dags``).
POLL = 2.0
#: Generous bounds for a loaded two-core machine; a healthy run takes a fraction of them.
RUN_TIMEOUT = 240.0
DAG_IDS = (
    "deployment_mapped",
    "deployment_failing",
    "deployment_deferred",
    "deployment_inline",
    "deployment_inline_slow_retry",
    "cross_facility_pipeline",
    "file_staging",
    "status_gated_run",
)
BATCHED_STATUS_ROUTE = "POST /iri/api/v2/compute/status/{resource_id}"


@dataclass
class Deployment:
    api: AirflowRest
    emulator_url: str
    home: str
    collections: dict[str, str]
    """The emulator's Globus collections' roots by name (``alcf-eagle``, ``nersc-dtn``...)."""

    def jobs(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.emulator_url}/_emulator/jobs", timeout=30)
        answer.raise_for_status()
        return list(answer.json()["jobs"])

    def jobs_tagged(self, tag: str) -> list[dict[str, Any]]:
        return [job for job in self.jobs() if tag in json.dumps(job.get("spec"))]

    def job(self, job_id: str) -> dict[str, Any]:
        return next(job for job in self.jobs() if job["id"] == job_id)

    def routes(self) -> dict[str, int]:
        answer = httpx.get(f"{self.emulator_url}/_emulator/stats", timeout=30)
        answer.raise_for_status()
        return dict(answer.json()["routes"])

    def cancel(self, job_id: str) -> None:
        """Clean up a job a test left running."""
        from facility_common import FacilityClient

        credentials = httpx.get(f"{self.emulator_url}/_emulator/credentials", timeout=30).json()
        with FacilityClient.connect(
            "iri", base_url=f"{self.emulator_url}/iri/api/v1", auth=credentials["static_token"]
        ) as client:
            client.cancel("polaris", job_id)


def _script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _settings() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (STATE / "env").read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    # `start` is idempotent: it returns once everything runs and is healthy.
    started_here = not (STATE / "env").exists()
    result = _script("start")
    if result.returncode == POSTGRES_UNAVAILABLE and not os.environ.get("CI"):
        pytest.skip(f"PostgreSQL is not installed and cannot be installed here: {result.stderr.strip()}")
    assert result.returncode == 0, f"the deployment did not start:\n{result.stderr[-4000:]}"
    settings = _settings()
    api = AirflowRest(
        settings["AIRFLOW_LOCAL_API_URL"], settings["AIRFLOW_LOCAL_USER"], settings["AIRFLOW_LOCAL_PASSWORD"]
    )
    emulator = json.loads(Path(settings["AIRFLOW_LOCAL_EMULATOR"]).read_text())
    try:
        for dag_id in DAG_IDS:
            wait_for(f"the DAG {dag_id} to be parsed", lambda d=dag_id: api.has_dag(d), timeout=120)
        assert api.dag_errors() == []
        collections = emulator["credentials"]["globus"]["collections"]
        roots = {name: str(item["root"]) for name, item in collections.items()}
        yield Deployment(api, emulator["url"], emulator["credentials"]["home"], roots)
    finally:
        api.close()
        if started_here:
            _script("stop", timeout=120)


@dataclass
class Runs:
    """The run ids of everything triggered at the start, the stats before, and the jobs whose
    workers were killed (by run)."""

    ids: dict[str, str]
    routes_before: dict[str, int]
    started: float
    killed_jobs: dict[str, str]


@pytest.fixture(scope="module")
def runs(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    api, home = deployment.api, deployment.home
    local = tmp_path_factory.mktemp("examples")
    routes_before, started = deployment.routes(), time.monotonic()
    ids = {
        "mapped": api.trigger("deployment_mapped", {"seconds": 10}),
        "failing": api.trigger("deployment_failing"),
        "clear": api.trigger("deployment_deferred", {"seconds": 300}),
        "success": api.trigger("deployment_deferred", {"seconds": 300}),
        "failed": api.trigger("deployment_deferred", {"seconds": 300}),
        "lost": api.trigger("deployment_inline", {"seconds": 40}),
        "ended": api.trigger("deployment_inline_slow_retry"),
        "cross_facility_pipeline": api.trigger(
            "cross_facility_pipeline",
            {
                # Site A's Eagle and site B's NERSC DTN collections, as their jobs and Globus see them.
                "site_a_workdir": f"{deployment.collections['alcf-eagle']}/pipeline",
                "site_a_transfer_dir": "/pipeline/",
                "site_b_resource": "aurora",
                "site_b_workdir": f"{deployment.collections['nersc-dtn']}/analysis",
                "site_b_transfer_dir": "/analysis/",
                "local_dir": str(local / "pipeline"),
            },
        ),
        "file_staging": api.trigger(
            "file_staging", {"remote_dir": f"{home}/staging", "local_dir": str(local / "staging")}
        ),
        "status_gated_run": api.trigger("status_gated_run"),
    }
    # The crashes come at once, while their moment lasts: the workers die while their jobs run,
    # the triggerer while mapped tasks are deferred.
    killed_jobs = {
        name: _kill_worker(deployment, dag_id, ids[name])
        for name, dag_id in (("lost", "deployment_inline"), ("ended", "deployment_inline_slow_retry"))
    }
    _crash_the_triggerer(deployment, ids["mapped"])
    return Runs(ids, routes_before, started, killed_jobs)


def _kill_worker(deployment: Deployment, dag_id: str, run_id: str) -> str:
    """SIGKILL the task's process and its supervisor (the LocalExecutor worker) once its job runs;
    returns the job's id."""
    api = deployment.api
    ti = wait_for("the task to run", lambda: _in_state(api, dag_id, run_id, "wait", "running"), RUN_TIMEOUT)
    tag = _tag(dag_id, run_id, "wait")
    [job] = wait_for("the job to start", lambda: deployment.jobs_tagged(tag), RUN_TIMEOUT)
    pid = int(ti["pid"])
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    for victim in (pid, parent):
        os.kill(victim, signal.SIGKILL)
    return str(job["id"])


def _crash_the_triggerer(deployment: Deployment, run_id: str) -> None:
    """SIGKILL the triggerer while a mapped task is deferred; start it again after two intervals."""
    api = deployment.api

    def some_deferred() -> bool:
        states = _states(api, "deployment_mapped", run_id)
        return len(states) == 20 and "deferred" in states.values()

    wait_for("a mapped task to defer", some_deferred, timeout=RUN_TIMEOUT)
    result = _script("kill", "triggerer", timeout=60)
    assert result.returncode == 0, result.stderr
    time.sleep(2 * POLL)  # the jobs go on at the facility while no triggerer runs
    result = _script("start")
    assert result.returncode == 0, result.stderr


def _finished(api: AirflowRest, dag_id: str, run_id: str) -> str:
    return wait_for(
        f"{dag_id} {run_id} to finish",
        lambda: (state := api.run_state(dag_id, run_id)) in ("success", "failed") and state,
        timeout=RUN_TIMEOUT,
    )


def _states(api: AirflowRest, dag_id: str, run_id: str) -> dict[str, str | None]:
    return {f"{ti['task_id']}[{ti['map_index']}]": ti["state"] for ti in api.task_instances(dag_id, run_id)}


def _in_state(api: AirflowRest, dag_id: str, run_id: str, task_id: str, state: str) -> dict[str, Any] | None:
    ti = api.task_instance(dag_id, run_id, task_id)
    return ti if ti["state"] == state else None


def _waiting_in_the_triggerer(api: AirflowRest, dag_id: str, run_id: str) -> None:
    """Wait until the task is deferred and its trigger has seen its job run (so that a user
    action now reaches a running trigger)."""
    wait_for("the task to defer", lambda: _in_state(api, dag_id, run_id, "wait", "deferred"), RUN_TIMEOUT)
    wait_for(
        "the trigger to see the job run",
        lambda: "on polaris: RUNNING" in api.log(dag_id, run_id, "wait", 1),
        RUN_TIMEOUT,
    )


def _tag(dag_id: str, run_id: str, task_id: str, map_index: int = -1, cycle: int = 1) -> str:
    return submit_tag(dag_id, task_id, run_id, map_index, cycle)


# -- (a) + (c): mapped deferred submits, batched status, a triggerer crash ------------------------


def test_mapped_deferred_jobs_survive_a_triggerer_crash_with_one_job_each(
    deployment: Deployment, runs: Runs
) -> None:
    api, run_id = deployment.api, runs.ids["mapped"]
    dag_id = "deployment_mapped"
    # (the triggerer was killed and started again while tasks of this run were deferred: runs())
    assert _finished(api, dag_id, run_id) == "success", _states(api, dag_id, run_id)
    elapsed = time.monotonic() - runs.started
    for index in range(20):
        jobs = deployment.jobs_tagged(_tag(dag_id, run_id, "compute", index))
        assert [job["state"] for job in jobs] == ["completed"], (index, jobs)
    # Every wait of the 20 goes through one poller per triggerer process: one batched request
    # per interval and process, not one per task (the IRI v2 connection is this DAG's alone).
    batched = deployment.routes().get(BATCHED_STATUS_ROUTE, 0) - runs.routes_before.get(
        BATCHED_STATUS_ROUTE, 0
    )
    assert 1 <= batched <= 2 * (elapsed / POLL + 1), (batched, elapsed)
    assert not [route for route in deployment.routes() if route.startswith("GET /iri/api/v2/compute/job")]


# -- (b): a failing job ---------------------------------------------------------------------------


def test_a_job_exiting_3_fails_its_task_with_the_stderr_tail(deployment: Deployment, runs: Runs) -> None:
    api, run_id = deployment.api, runs.ids["failing"]
    assert _finished(api, "deployment_failing", run_id) == "failed"
    log = api.log("deployment_failing", run_id, "fail", 1)
    assert "exit code 3" in log, log[-3000:]
    assert "the-stderr-tail-marker" in log, log[-3000:]


# -- (d), point 1: clearing a deferred task -------------------------------------------------------


def test_a_cleared_deferred_task_runs_a_new_job_and_cancels_the_old(
    deployment: Deployment, runs: Runs
) -> None:
    api, run_id, dag_id = deployment.api, runs.ids["clear"], "deployment_deferred"
    _waiting_in_the_triggerer(api, dag_id, run_id)
    [first_job] = deployment.jobs_tagged(_tag(dag_id, run_id, "wait"))

    api.clear(dag_id, run_id, "wait")

    assert _finished(api, dag_id, run_id) == "success", _states(api, dag_id, run_id)
    ti = api.task_instance(dag_id, run_id, "wait")
    assert ti["try_number"] == 2
    # The clear cancelled the first try's job (the trigger's on_kill); the new try ran its own.
    assert wait_for(
        "the old job to be cancelled",
        lambda: deployment.job(first_job["id"])["state"] == "canceled",
        RUN_TIMEOUT,
    )
    [second_job] = deployment.jobs_tagged(_tag(dag_id, run_id, "wait", cycle=2))
    assert second_job["state"] == "completed"
    assert api.xcom(dag_id, run_id, "wait", "job_id") == second_job["id"]
    assert "re-attaching" not in api.log(dag_id, run_id, "wait", 2)


# -- point 3: marking a deferred task success or failed -------------------------------------------


def test_marking_a_deferred_task_success_leaves_its_job_running(deployment: Deployment, runs: Runs) -> None:
    api, run_id, dag_id = deployment.api, runs.ids["success"], "deployment_deferred"
    _waiting_in_the_triggerer(api, dag_id, run_id)
    [job] = deployment.jobs_tagged(_tag(dag_id, run_id, "wait"))

    api.set_state(dag_id, run_id, "wait", "success")

    # The triggerer calls the trigger's on_kill, which reads the task's state and says so.
    wait_for(
        "the trigger's on_kill to leave the job",
        lambda: (
            "is left running" in api.log(dag_id, run_id, "wait", 1)
            or deployment.job(job["id"])["state"] == "canceled"
        ),
        timeout=60,
    )
    assert deployment.job(job["id"])["state"] == "active"
    deployment.cancel(job["id"])


def test_marking_a_deferred_task_failed_cancels_its_job(deployment: Deployment, runs: Runs) -> None:
    api, run_id, dag_id = deployment.api, runs.ids["failed"], "deployment_deferred"
    _waiting_in_the_triggerer(api, dag_id, run_id)
    [job] = deployment.jobs_tagged(_tag(dag_id, run_id, "wait"))

    api.set_state(dag_id, run_id, "wait", "failed")

    wait_for("the job to be cancelled", lambda: deployment.job(job["id"])["state"] == "canceled", RUN_TIMEOUT)


# -- (e) and point 2: a worker killed while it waits inline ---------------------------------------


def test_a_retry_after_a_lost_worker_reattaches_to_the_running_job(
    deployment: Deployment, runs: Runs
) -> None:
    api, run_id, dag_id = deployment.api, runs.ids["lost"], "deployment_inline"
    tag, job_id = _tag(dag_id, run_id, "wait"), runs.killed_jobs["lost"]
    # (its worker was killed while the job ran: runs())

    assert _finished(api, dag_id, run_id) == "success", _states(api, dag_id, run_id)
    assert api.task_instance(dag_id, run_id, "wait")["try_number"] == 2
    assert [job["id"] for job in deployment.jobs_tagged(tag)] == [job_id]
    assert "re-attaching to job" in api.log(dag_id, run_id, "wait", 2)


def test_a_retry_after_the_job_ended_adopts_its_result(deployment: Deployment, runs: Runs) -> None:
    api, run_id, dag_id = deployment.api, runs.ids["ended"], "deployment_inline_slow_retry"
    tag, job_id = _tag(dag_id, run_id, "wait"), runs.killed_jobs["ended"]
    # (its worker was killed while the job ran: runs())

    assert _finished(api, dag_id, run_id) == "success", _states(api, dag_id, run_id)
    assert api.task_instance(dag_id, run_id, "wait")["try_number"] == 2
    # The job finished before the retry started: the retry took its result, nothing ran twice.
    assert [(job["id"], job["state"]) for job in deployment.jobs_tagged(tag)] == [(job_id, "completed")]
    log = api.log(dag_id, run_id, "wait", 2)
    assert "ended COMPLETED" in log and "submitted job" not in log, log[-3000:]


# -- point 4: the example DAGs without a logical date ---------------------------------------------


@pytest.mark.parametrize("dag_id", ["cross_facility_pipeline", "file_staging", "status_gated_run"])
def test_example_dags_pass_when_triggered_without_a_logical_date(
    deployment: Deployment, runs: Runs, dag_id: str
) -> None:
    api, run_id = deployment.api, runs.ids[dag_id]
    assert _finished(api, dag_id, run_id) == "success", _states(api, dag_id, run_id)


# -- the connection forms as the real UI gets them ---------------------------------------------------


def test_each_connection_form_shows_only_its_apis_fields(deployment: Deployment) -> None:
    """The api-server serves the UI each facility connection type's form: its own auth types,
    the extras they read and its API's options, with Login hidden where no auth type uses it."""
    from airflow_facility.connections import facility_descriptors, form_behaviour, form_fields

    served = {form["connection_type"]: form for form in deployment.api.connection_forms()}
    for descriptor in facility_descriptors():
        form = served[descriptor.conn_type]
        assert form["hook_name"] == descriptor.label
        assert form["hook_class_name"].endswith(f".{descriptor.hook_class}")
        expected = form_fields(descriptor)
        assert set(form["extra_fields"]) == set(expected), descriptor.conn_type
        auth_field = form["extra_fields"]["auth_type"]
        assert auth_field["schema"]["enum"] == list(descriptor.auth_types)
        standard = form["standard_fields"]
        behaviour = form_behaviour(descriptor)
        assert standard["host"]["title"] == "Base URL"
        hidden = {name for name, field in standard.items() if field and field.get("hidden")}
        assert ("login" in hidden) == ("login" in behaviour["hidden-fields"]), descriptor.conn_type

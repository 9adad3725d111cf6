"""The status gate holds a run while a planned outage overlaps the job's window and lets it pass
once the outage is gone; the short-circuit gate skips instead of waiting."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .conftest import emulator_admin, load_dag, task_states


def _incidents_checked(server: Any) -> int:
    routes = emulator_admin(server, "GET", "stats")["routes"]
    return sum(count for route, count in routes.items() if route.endswith("/status/incidents"))


def _jobs_on(server: Any, resource: str) -> int:
    return int(emulator_admin(server, "GET", "jobs")["per_resource"].get(resource, 0))


def _planned_outage(server: Any, resource: str) -> str:
    now = datetime.now(UTC)
    incident = emulator_admin(
        server,
        "POST",
        "incidents",
        {
            "name": f"{resource} maintenance",
            "type": "planned",
            "start": (now + timedelta(minutes=5)).isoformat(),
            "end": (now + timedelta(hours=2)).isoformat(),
            "resources": [resource],
        },
    )
    return str(incident["id"])


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "poke"])
def test_gate_holds_during_a_planned_outage_and_passes_after(
    airflow_env: None, facility: Any, deferrable: bool
) -> None:
    polaris_outage = _planned_outage(facility, "polaris")
    aurora_outage = _planned_outage(facility, "aurora")
    polaris_jobs = _jobs_on(facility, "polaris")
    aurora_jobs = _jobs_on(facility, "aurora")
    emulator_admin(facility, "DELETE", "stats")
    observed: dict[str, int] = {}

    def end_outage_after_the_gate_held() -> None:
        deadline = time.monotonic() + 120
        # Three checks of the outage calendar: the gate has looked and kept waiting.
        while _incidents_checked(facility) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        observed["polaris_jobs_while_held"] = _jobs_on(facility, "polaris")
        emulator_admin(facility, "DELETE", f"incidents/{polaris_outage}")

    releaser = threading.Thread(target=end_outage_after_the_gate_held)
    releaser.start()
    try:
        dag = load_dag("status_gated_run")
        dag.get_task("wait_for_polaris").deferrable = deferrable
        run = dag.test()
    finally:
        releaser.join(timeout=150)
        emulator_admin(facility, "DELETE", f"incidents/{aurora_outage}")

    states = task_states(run)
    assert observed["polaris_jobs_while_held"] == polaris_jobs
    assert states["wait_for_polaris"] == "success"
    assert states["run_when_clear"] == "success"
    assert _jobs_on(facility, "polaris") == polaris_jobs + 1
    # Aurora's outage stays: the short-circuit gate skipped its job instead of waiting.
    assert states["check_aurora"] == "skipped"
    assert states["run_if_clear"] == "skipped"
    assert _jobs_on(facility, "aurora") == aurora_jobs
    assert run.state == "success"

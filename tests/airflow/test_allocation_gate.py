"""The status gate's allocation check under ``dag.test()`` against the emulator: the gate skips
its job while the project's allocation is below ``min_remaining``, the sensor holds its job until
the allocation is refilled, and a job that runs charges the allocation it passed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from facility_common import ConfigurationError

from .conftest import SITE_A, emulator_admin, load_dag, task_states

DAG_ID = "facility_allocation_gate"


def _set(server: Any, project: str, **values: float) -> None:
    emulator_admin(server, "PUT", "allocations", {"project": project, "capability": "polaris", **values})


def _used(server: Any, project: str) -> float:
    grants = emulator_admin(server, "GET", "allocations")["allocations"]
    return float(next(g["usage"] for g in grants if (g["project"], g["capability"]) == (project, "polaris")))


def _allocation_reads(server: Any) -> int:
    routes = emulator_admin(server, "GET", "stats")["routes"]
    return sum(count for route, count in routes.items() if route.endswith("/project_allocations"))


def _jobs_of(server: Any, account: str) -> int:
    jobs = emulator_admin(server, "GET", "jobs")["jobs"]
    return sum(1 for job in jobs if (job.get("spec") or {}).get("attributes", {}).get("account") == account)


@pytest.fixture
def grants(facility: Any) -> Iterator[Any]:
    """The polaris grants of both projects, put back as the emulator starts them afterwards."""
    yield facility
    _set(facility, "demo", allocation=1000.0, base_usage=120.0)
    _set(facility, "staff", allocation=100.0, base_usage=40.0)


def test_gate_skips_an_exhausted_project_and_a_funded_job_charges_its_allocation(
    airflow_env: None, grants: Any
) -> None:
    _set(grants, "demo", allocation=1000.0, base_usage=999.9)  # 0.1 node-hours left, 0.5 needed
    demo_jobs = _jobs_of(grants, "demo")
    run = load_dag(DAG_ID).test()
    states = task_states(run)
    assert states["check_allocation"] == "skipped"
    assert states["run_if_funded"] == "skipped"
    assert _jobs_of(grants, "demo") == demo_jobs
    assert states["wait_for_allocation"] == "success"  # staff has 60% left, 50% needed
    assert states["run_when_funded"] == "success"

    _set(grants, "demo", base_usage=120.0)
    used_before = _used(grants, "demo")
    run = load_dag(DAG_ID).test()
    states = task_states(run)
    assert states["check_allocation"] == "success"
    assert states["run_if_funded"] == "success"
    assert _jobs_of(grants, "demo") == demo_jobs + 1
    assert _used(grants, "demo") > used_before  # the finished job charged its node-hours


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "poke"])
def test_sensor_holds_until_the_allocation_is_refilled(
    airflow_env: None, grants: Any, deferrable: bool
) -> None:
    _set(grants, "staff", allocation=100.0, base_usage=90.0)  # 10% left, 50% needed
    staff_jobs = _jobs_of(grants, "staff")
    emulator_admin(grants, "DELETE", "stats")
    observed: dict[str, int] = {}

    def refill_after_the_sensor_held() -> None:
        deadline = time.monotonic() + 120
        while _allocation_reads(grants) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        observed["staff_jobs_while_held"] = _jobs_of(grants, "staff")
        _set(grants, "staff", allocation=200.0)  # a new grant: 110 of 200 left

    refiller = threading.Thread(target=refill_after_the_sensor_held)
    refiller.start()
    try:
        dag = load_dag(DAG_ID)
        dag.get_task("wait_for_allocation").deferrable = deferrable
        run = dag.test()
    finally:
        refiller.join(timeout=150)
    states = task_states(run)
    assert observed["staff_jobs_while_held"] == staff_jobs
    assert states["wait_for_allocation"] == "success"
    assert states["run_when_funded"] == "success"
    assert _jobs_of(grants, "staff") == staff_jobs + 1


def test_bad_thresholds_are_refused_when_the_dag_is_written() -> None:
    from airflow_facility.operators import FacilityResourceGateOperator
    from airflow_facility.sensors import FacilityResourceSensor

    with pytest.raises(ConfigurationError, match="min_remaining"):
        FacilityResourceGateOperator(task_id="g", facility_conn_id="c", resource="r", min_remaining="lots")
    with pytest.raises(ConfigurationError, match="min_remaining"):
        FacilityResourceSensor(task_id="s", facility_conn_id="c", resource="r", min_remaining=-1)
    with pytest.raises(ConfigurationError, match="min_remaining"):
        FacilityResourceSensor(task_id="s", facility_conn_id="c", resource="r", project="demo")


def _first_event(trigger: Any) -> Any:
    async def first() -> Any:
        async for event in trigger.run():
            return event
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def test_trigger_says_how_much_is_left_and_fails_on_what_it_cannot_check(
    airflow_env: None, grants: Any
) -> None:
    from airflow_facility.triggers import FacilityResourceTrigger

    funded = _first_event(
        FacilityResourceTrigger(SITE_A, "polaris", poll_interval=0.1, min_remaining=10, project="staff")
    )
    assert funded.payload["status"] == "available"
    assert "staff Polaris compute nodes: " in funded.payload["allocation"]
    assert " of 100 node-hours remaining" in funded.payload["allocation"]

    unknown = _first_event(
        FacilityResourceTrigger(SITE_A, "polaris", poll_interval=0.1, min_remaining=10, project="nosuch")
    )
    assert unknown.payload["status"] == "error"
    assert "nosuch" in unknown.payload["message"]

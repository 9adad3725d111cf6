"""FacilityIncidentSensor and its trigger: a run held until an IRI incident is resolved (poking
and deferred), an unknown incident failing the task, and the trigger's serialisation."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_facility.triggers import FacilityIncidentTrigger

from .conftest import SITE_A, emulator_admin, load_dag, task_states


def _incident(server: Any, resource: str) -> str:
    incident = emulator_admin(
        server,
        "POST",
        "incidents",
        {
            "name": f"{resource} down",
            "type": "unplanned",
            "start": datetime.now(UTC).isoformat(),
            "resources": [resource],
        },
    )
    return str(incident["id"])


def _reads_of(server: Any, incident_id: str) -> int:
    routes = emulator_admin(server, "GET", "stats")["routes"]
    return sum(count for route, count in routes.items() if route.endswith("/status/incidents/{incident_id}"))


def test_trigger_round_trip() -> None:
    trigger = FacilityIncidentTrigger("conn", "inc-1", resource="polaris", poll_interval=2.0, seen=False)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_facility.triggers.incident.FacilityIncidentTrigger"
    assert FacilityIncidentTrigger(**kwargs).serialize() == (classpath, kwargs)
    with pytest.raises(ValueError, match="incident_id"):
        FacilityIncidentTrigger("conn", "")


def test_the_run_waits_until_the_incident_is_resolved(airflow_env: None, facility: Any) -> None:
    incident_id = _incident(facility, "aurora")
    emulator_admin(facility, "DELETE", "stats")
    observed: dict[str, Any] = {}

    def resolve_after_both_sensors_looked() -> None:
        deadline = time.monotonic() + 120
        # Several reads of the incident: both sensors have looked and kept waiting.
        while _reads_of(facility, incident_id) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        observed["reads_before"] = _reads_of(facility, incident_id)
        emulator_admin(facility, "POST", f"incidents/{incident_id}/resolve")

    releaser = threading.Thread(target=resolve_after_both_sensors_looked)
    releaser.start()
    try:
        run = load_dag("facility_incident_sensor").test(run_conf={"incident_id": incident_id})
    finally:
        releaser.join(timeout=150)
    assert observed["reads_before"] >= 4
    assert task_states(run) == {"wait_poke": "success", "wait_deferred": "success"}


def test_an_unknown_incident_fails_the_task(airflow_env: None) -> None:
    run = load_dag("facility_incident_sensor").test(run_conf={"incident_id": "no-such-incident"})
    assert set(task_states(run).values()) == {"failed"}


def test_the_trigger_reports_an_incident_that_ended(airflow_env: None, facility: Any) -> None:
    incident_id = _incident(facility, "eagle")
    emulator_admin(facility, "POST", f"incidents/{incident_id}/resolve")

    async def first_event() -> Any:
        async for event in FacilityIncidentTrigger(SITE_A, incident_id, poll_interval=0.1).run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    payload = asyncio.run(first_event())
    assert payload["status"] == "ended" and payload["incident_id"] == incident_id
    assert payload["outage"]["resources"] == ["eagle"] and "raw" not in payload["outage"]

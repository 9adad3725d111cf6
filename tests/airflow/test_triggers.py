"""Triggers: serialisation round trips, and many deferred waits sharing one status request."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_facility.triggers import FacilityJobTrigger, FacilityResourceTrigger
from facility_common import AsyncFacilityClient, JobSpec

from .conftest import SITE_A, emulator_admin


def _rebuild(trigger: Any) -> Any:
    classpath, kwargs = trigger.serialize()
    module_name, _, class_name = classpath.rpartition(".")
    module = __import__(module_name, fromlist=[class_name])
    return getattr(module, class_name)(**kwargs)


@pytest.mark.parametrize(
    "trigger",
    [
        FacilityJobTrigger("conn", "polaris", "42"),
        FacilityJobTrigger("conn", "polaris", "42", poll_interval=2.5, deadline=1.9e9, cancel_on_kill=False),
        FacilityResourceTrigger("conn", "eagle"),
        FacilityResourceTrigger("conn", "eagle", duration=120.0, poll_interval=3.0),
        FacilityResourceTrigger("conn", "polaris", min_remaining="5%", project="demo", capability="gpu"),
        FacilityResourceTrigger("conn", "polaris", min_remaining=12.5),
    ],
)
def test_serialize_round_trip(trigger: Any) -> None:
    classpath, kwargs = trigger.serialize()
    assert classpath.startswith("airflow_facility.triggers.")
    rebuilt = _rebuild(trigger)
    assert rebuilt.serialize() == (classpath, kwargs)
    # The kwargs are plain JSON: what the triggerer stores in its table.
    assert all(isinstance(value, str | int | float | bool | type(None)) for value in kwargs.values())


def test_job_trigger_rejects_bad_arguments_at_construction() -> None:
    with pytest.raises(ValueError, match="job_id"):
        FacilityJobTrigger("conn", "polaris", "")
    with pytest.raises(ValueError, match="poll_interval"):
        FacilityJobTrigger("conn", "polaris", "1", poll_interval=0)


def _list_requests(server: Any) -> int:
    routes = emulator_admin(server, "GET", "stats")["routes"]
    return sum(
        count for route, count in routes.items() if route.startswith("POST ") and "/compute/status/" in route
    )


def test_hundred_deferred_waits_share_one_request_per_interval(airflow_env: None, facility: Any) -> None:
    credentials = facility.credentials
    interval = 0.5

    async def submit_all() -> list[str]:
        async with AsyncFacilityClient.connect(
            "iri", base_url=facility.iri_url("v1"), auth=credentials["static_token"]
        ) as client:
            spec = JobSpec(executable="/bin/sleep", arguments=["2"])
            jobs = await asyncio.gather(*(client.submit("polaris", spec) for _ in range(100)))
            return [job.id for job in jobs]

    job_ids = asyncio.run(submit_all())
    emulator_admin(facility, "DELETE", "stats")

    async def wait_all() -> tuple[list[TriggerEvent], float]:
        triggers = [
            _rebuild(FacilityJobTrigger(SITE_A, "polaris", job_id, poll_interval=interval))
            for job_id in job_ids
        ]
        started = time.monotonic()

        async def first_event(trigger: FacilityJobTrigger) -> TriggerEvent:
            async for event in trigger.run():
                return event
            raise AssertionError("the trigger ended without an event")

        events = await asyncio.gather(*(first_event(trigger) for trigger in triggers))
        return list(events), time.monotonic() - started

    events, elapsed = asyncio.run(wait_all())

    assert [event.payload["status"] for event in events] == ["terminal"] * 100
    assert {event.payload["job"]["state"] for event in events} == {"COMPLETED"}
    requests = _list_requests(facility)
    # The poller makes a round only when its last one is older than the interval, so however the
    # machine schedules the 100 waits, the rounds are bounded by the elapsed intervals.
    assert 1 <= requests <= elapsed / interval + 1, (requests, elapsed)
    assert requests < 100
    routes = emulator_admin(facility, "GET", "stats")["routes"]
    assert not [route for route in routes if route.startswith("GET ") and "/compute/job/" in route]


def test_a_rebuilt_resource_trigger_keeps_its_allocation_gate() -> None:
    trigger = FacilityResourceTrigger("conn", "polaris", min_remaining="5%", project="demo", capability="gpu")
    rebuilt = _rebuild(trigger)
    assert rebuilt.gate is not None and rebuilt.gate.arguments() == trigger.gate.arguments()
    assert {"min_remaining", "project", "capability"} <= set(trigger.serialize()[1])

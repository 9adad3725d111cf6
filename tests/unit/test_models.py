"""The shared models validate themselves and survive a JSON round trip."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from facility_common import (
    FileEntry,
    InvalidJobSpec,
    Job,
    JobAttributes,
    JobSpec,
    JobState,
    Outage,
    ResourceSpec,
    ResourceState,
    ResourceStatus,
)


def full_spec() -> JobSpec:
    return JobSpec(
        executable="/bin/echo",
        arguments=["hi", "there"],
        name="greet",
        directory="/home/demo",
        environment={"A": "1"},
        stdout_path="/home/demo/out",
        resources=ResourceSpec(node_count=2, processes_per_node=4, memory=1 << 30),
        attributes=JobAttributes(
            duration=timedelta(minutes=5), queue_name="debug", account="proj", custom_attributes={"k": "v"}
        ),
    )


def test_jobspec_round_trips_through_json() -> None:
    spec = full_spec()
    again = JobSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert spec.to_dict()["attributes"]["duration"] == 300


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: JobSpec(), "executable"),
        (lambda: JobSpec(executable="/bin/x", script="#!/bin/sh"), "script"),
        (lambda: JobSpec(executable=""), "executable"),
        (lambda: JobSpec(executable="/bin/echo", arguments=[1]), "arguments[0]"),  # type: ignore[list-item]
        (lambda: JobSpec(executable="/bin/echo", arguments="hi"), "arguments"),
        (lambda: JobSpec(executable="/bin/echo", environment={"A": 1}), "environment['A']"),  # type: ignore[dict-item]
        (lambda: JobSpec(executable="/bin/echo", name="a\nb"), "name"),
        (lambda: JobSpec(executable="/bin/echo", directory="/tmp/\x00x"), "directory"),
        (lambda: ResourceSpec(node_count=0), "resources.node_count"),
        (lambda: ResourceSpec(process_count=-1), "resources.process_count"),
        (lambda: JobAttributes(duration=timedelta(0)), "attributes.duration"),
        (lambda: JobAttributes(duration=300), "attributes.duration"),  # type: ignore[arg-type]
        (lambda: JobAttributes(queue_name="q\n"), "attributes.queue_name"),
    ],
)
def test_bad_jobspec_names_the_field(build: object, field: str) -> None:
    with pytest.raises(InvalidJobSpec) as info:
        build()  # type: ignore[operator]
    assert info.value.field == field
    assert field in str(info.value)


def test_terminal_states() -> None:
    assert {s for s in JobState if s.is_terminal} == {
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMEOUT,
        JobState.PREEMPTED,
    }


def test_job_resource_outage_file_round_trip() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    job = Job(
        id="1", resource="polaris", state=JobState.TIMEOUT, exit_code=271, submitted_at=now, raw={"a": 1}
    )
    assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    status = ResourceStatus(id="u", name="polaris", state=ResourceState.DEGRADED, updated_at=now)
    assert ResourceStatus.from_dict(json.loads(json.dumps(status.to_dict()))) == status
    assert status.state.is_usable
    outage = Outage(
        id="o", name="pm", start=now, end=now + timedelta(hours=2), planned=True, resources=("polaris",)
    )
    assert Outage.from_dict(json.loads(json.dumps(outage.to_dict()))) == outage
    entry = FileEntry(name="a", path="/x/a", type="file", size=3, modified_at=now)
    assert FileEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry


def test_outage_overlap() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    outage = Outage(
        id="o", name="pm", start=now + timedelta(hours=1), end=now + timedelta(hours=3), planned=True
    )
    assert outage.overlaps(now, now + timedelta(hours=2))
    assert not outage.overlaps(now, now + timedelta(minutes=59))
    open_ended = Outage(id="o", name="x", start=now, end=None, planned=False)
    assert open_ended.overlaps(now + timedelta(days=30), now + timedelta(days=31))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"executable": "/bin/true", "executible": "x"}, "executible"),
        ({"executable": "/bin/true", "resources": {"nodes": 1}}, "resources.nodes"),
        ({"executable": "/bin/true", "attributes": {"walltime": 60}}, "attributes.walltime"),
        ({"executable": "/bin/true", "attributes": {"duration": "60"}}, "attributes.duration"),
        ({"executable": "/bin/true", "attributes": {"duration": True}}, "attributes.duration"),
        ({"executable": "/bin/true", "attributes": {"duration": float("nan")}}, "attributes.duration"),
        ({"executable": "/bin/true", "resources": [1]}, "resources"),
        ({"executable": "/bin/true", "environment": {"1X": "a"}}, "environment"),
        ({"executable": "/bin/true", "environment": {"X": None}}, "environment['X']"),
        ("executable=/bin/true", "spec"),
    ],
)
def test_from_dict_refuses_what_it_would_have_dropped_or_crashed_on(data: object, field: str) -> None:
    with pytest.raises(InvalidJobSpec) as caught:
        JobSpec.from_dict(data)  # type: ignore[arg-type]
    assert caught.value.field == field and field in str(caught.value)


def test_from_dict_takes_durations_in_seconds() -> None:
    spec = JobSpec.from_dict({"executable": "/bin/true", "attributes": {"duration": 90.5}})
    assert spec.attributes.duration == timedelta(seconds=90.5)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": 7}, "Job.id"),
        ({"id": ""}, "Job.id"),
        ({"native_state": 9}, "Job.native_state"),
        ({"exit_code": "0"}, "Job.exit_code"),
        ({"exit_code": True}, "Job.exit_code"),
        ({"state": "RUNNING"}, "Job.state"),
        ({"submitted_at": "2026-01-01"}, "Job.submitted_at"),
        ({"message": ["x"]}, "Job.message"),
    ],
)
def test_a_job_of_wrong_types_is_refused(changes: dict[str, object], field: str) -> None:
    """A server answering a number for text must not become a Job; the client reports it."""
    fields: dict[str, object] = {"id": "1", "resource": "polaris", "state": JobState.RUNNING, **changes}
    with pytest.raises(TypeError, match=re.escape(field)):
        Job(**fields)  # type: ignore[arg-type]


def test_a_resource_of_wrong_types_is_refused() -> None:
    with pytest.raises(TypeError, match=r"ResourceStatus\.name"):
        ResourceStatus(id="r", name=5, state=ResourceState.UP)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ResourceStatus\.state"):
        ResourceStatus(id="r", name="r", state="up")  # type: ignore[arg-type]

"""Building a JobSpec from rendered operator arguments."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_facility.attach import submit_tag
from airflow_facility.spec import build_job_spec, to_duration
from facility_common import InvalidJobSpec, JobSpec, ResourceSpec


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (90, timedelta(seconds=90)),
        ("90", timedelta(seconds=90)),
        ("01:30:00", timedelta(hours=1, minutes=30)),
        ("2-00:00:05", timedelta(days=2, seconds=5)),
        ("10:00", timedelta(minutes=10)),
        (timedelta(minutes=3), timedelta(minutes=3)),
        (None, None),
    ],
)
def test_durations(value: object, expected: timedelta | None) -> None:
    assert to_duration(value) == expected  # type: ignore[arg-type]


def test_bad_duration_names_the_field() -> None:
    with pytest.raises(InvalidJobSpec, match="duration"):
        to_duration("soon")


def test_fields_override_a_base_spec() -> None:
    base = JobSpec(
        executable="/bin/true", environment={"A": "1"}, resources=ResourceSpec(node_count=4)
    ).to_dict()
    base["attributes"] = {"queue_name": "debug", "account": "old"}
    spec = build_job_spec(
        job_spec=base,
        script="#!/bin/bash\necho hi\n",
        environment={"B": "2"},
        resources={"processes_per_node": 8},
        duration="00:10:00",
        account="new",
    )
    assert spec.executable is None
    assert spec.script is not None and spec.script.startswith("#!/bin/bash")
    assert spec.environment == {"A": "1", "B": "2"}
    assert spec.resources == ResourceSpec(node_count=4, processes_per_node=8)
    assert spec.attributes.duration == timedelta(minutes=10)
    assert (spec.attributes.queue_name, spec.attributes.account) == ("debug", "new")


def test_a_spec_needs_something_to_run() -> None:
    with pytest.raises(InvalidJobSpec, match="executable"):
        build_job_spec(arguments=["x"])


def test_submit_tag_is_stable_per_task_instance() -> None:
    tag = submit_tag("dag", "task", "run", -1)
    assert tag == submit_tag("dag", "task", "run", None)
    assert tag != submit_tag("dag", "task", "run", 0)
    assert tag != submit_tag("dag", "task", "run2", -1)

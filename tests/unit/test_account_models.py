"""The identity and allocation models (JSON round trips, units, what remains) and the one rule
for "enough allocation left" (:class:`AllocationThreshold`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from facility_common import Allocation, AllocationThreshold, ConfigurationError, Identity, Project
from facility_common.account import normalise_unit


def _allocation(
    project: str = "demo", used: float = 90.0, allocated: float | None = 100.0, **changes: str
) -> Allocation:
    return Allocation(
        project=project, unit=changes.pop("unit", "node-hours"), used=used, allocated=allocated, **changes
    )


def test_models_round_trip_through_json() -> None:
    identity = Identity(
        username="ada",
        user_id="1001",
        groups=("staff",),
        projects=("demo", "staff"),
        default_project="demo",
        permissions=("compute-ace",),
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        source="GET /account/",
        raw={"uid": 1001},
    )
    project = Project(id="m1234", name="m1234", description="d", members=("ada",), role="PI", is_default=True)
    allocation = _allocation(
        capability="gpu", resource="perlmutter", user="ada", native_unit="gpu_hours_given"
    )
    for model in (identity, project, allocation):
        assert type(model).from_dict(json.loads(json.dumps(model.to_dict()))) == model
    assert allocation.to_dict()["remaining"] == 10.0


def test_remaining_fraction_and_description() -> None:
    assert _allocation().remaining == 10.0 and _allocation().fraction_remaining == pytest.approx(0.1)
    assert _allocation(used=120.0).remaining == -20.0  # overdrawn
    assert _allocation(used=0.0, allocated=0.0).fraction_remaining == 0.0
    unlimited = _allocation(allocated=None)
    assert unlimited.remaining is None and unlimited.fraction_remaining is None
    assert _allocation(used=1749.99944, allocated=2000.0, capability="cpu").describe() == (
        "demo cpu: 250.0006 of 2000 node-hours remaining"
    )
    assert unlimited.describe() == "demo: 90 node-hours used, no limit"


def test_models_refuse_values_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match="used"):
        Allocation(project="p", unit="node-hours", used="lots")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="username"):
        Identity(username="")
    with pytest.raises(TypeError, match=r"Project\.id"):
        Project(id=5, name="x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("native", "word"),
    [
        ("node_hours", "node-hours"),
        ("urn:doe-iri:allocation:compute:node-hours", "node-hours"),
        ("urn:doe-iri:allocation:storage:bytes", "bytes"),
        ("inodes", "inodes"),
        ("GPU_Hours", "gpu-hours"),
    ],
)
def test_units_are_normalised(native: str, word: str) -> None:
    assert normalise_unit(native) == word


@pytest.mark.parametrize(
    ("setting", "amount", "fraction"),
    [(50, 50.0, False), ("12.5", 12.5, False), ("5%", 0.05, True), (" 100 % ", 1.0, True), (0, 0.0, False)],
)
def test_min_remaining_is_a_number_or_a_percentage(setting: object, amount: float, fraction: bool) -> None:
    threshold = AllocationThreshold.parse(setting)
    assert (threshold.amount, threshold.fraction) == (pytest.approx(amount), fraction)


@pytest.mark.parametrize("setting", [-1, "lots", "150%", True, None, float("nan"), [5]])
def test_bad_min_remaining_names_the_field(setting: object) -> None:
    with pytest.raises(ConfigurationError, match="min_remaining"):
        AllocationThreshold.parse(setting, facility="iri")


def test_verdict_checks_the_projects_time_allocations_not_a_users_share() -> None:
    allocations = [
        _allocation(used=95.0, capability="cpu"),
        _allocation(used=10.0, capability="gpu"),
        _allocation(used=0.0, allocated=1.0, user="ada", capability="cpu"),  # a share: not checked
        _allocation(used=1.0, allocated=1.0, unit="bytes", capability="eagle"),  # not time
    ]
    short = AllocationThreshold.parse(10).verdict(allocations)
    assert not short.ok and [a.capability for a in short.short] == ["cpu"]
    assert "demo cpu: 5 of 100 node-hours remaining" in short.message
    assert AllocationThreshold.parse(10, "gpu").verdict(allocations).ok
    assert AllocationThreshold.parse("4%").verdict(allocations).ok
    assert not AllocationThreshold.parse("50%", "eagle").verdict(allocations).ok


def test_verdict_needs_a_project_among_several_and_a_capability_that_exists() -> None:
    allocations = [_allocation("demo"), _allocation("staff", used=0.0)]
    with pytest.raises(ConfigurationError, match=r"project: .*demo, staff"):
        AllocationThreshold.parse(5).verdict(allocations)
    assert AllocationThreshold.parse(5).verdict(allocations, "staff").ok
    with pytest.raises(ConfigurationError, match="capability: no allocation matches 'tape'"):
        AllocationThreshold.parse(5, "tape").verdict(allocations, "demo")


def test_a_project_without_limits_passes() -> None:
    verdict = AllocationThreshold.parse(1000).verdict([_allocation(allocated=None)], "demo")
    assert verdict.ok and "no allocation limit" in verdict.message

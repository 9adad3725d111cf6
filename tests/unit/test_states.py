"""The native-state tables and ``translate_state``."""

from __future__ import annotations

import logging

import pytest

from facility_common.backends import states
from facility_common.backends.states import (
    FLUX_STATES,
    IRI_STATES,
    PBS_STATES,
    SLURM_STATES,
    settle_exit_code,
    translate_flux_state,
    translate_state,
)
from facility_common.models import JobState


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(states, "_warned", set())


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "facility_common.backends.states" and r.levelno == logging.WARNING
    ]


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("new", JobState.PENDING),
        ("queued", JobState.PENDING),
        ("held", JobState.HELD),
        ("active", JobState.RUNNING),
        ("completed", JobState.COMPLETED),
        ("failed", JobState.FAILED),
        ("canceled", JobState.CANCELLED),
    ],
)
def test_iri_table_covers_the_spec_enum(native: str, expected: JobState) -> None:
    assert translate_state(IRI_STATES, native, facility="iri") is expected


def test_iri_table_is_exactly_the_spec_enum() -> None:
    assert set(IRI_STATES) == {"new", "queued", "held", "active", "completed", "failed", "canceled"}


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("PENDING", JobState.PENDING),
        ("REQUEUE_HOLD", JobState.HELD),
        ("SUSPENDED", JobState.HELD),
        ("COMPLETING", JobState.RUNNING),
        ("COMPLETED", JobState.COMPLETED),
        ("NODE_FAIL", JobState.FAILED),
        ("BOOT_FAIL", JobState.FAILED),
        ("OUT_OF_MEMORY", JobState.FAILED),
        ("TIMEOUT", JobState.TIMEOUT),
        ("DEADLINE", JobState.TIMEOUT),
        ("PREEMPTED", JobState.PREEMPTED),
        ("REVOKED", JobState.CANCELLED),
        ("CANCELLED by 12345", JobState.CANCELLED),
        ("FAILED,REQUEUED", JobState.FAILED),
        ("running", JobState.RUNNING),
    ],
)
def test_slurm_table(native: str, expected: JobState) -> None:
    assert translate_state(SLURM_STATES, native, facility="slurm") is expected


def test_walltime_is_never_failed_in_any_table() -> None:
    for table in (SLURM_STATES, PBS_STATES, FLUX_STATES, IRI_STATES):
        for word in ("TIMEOUT", "DEADLINE"):
            if word in table:
                assert table[word] is JobState.TIMEOUT


@pytest.mark.parametrize(
    ("native", "exit_code", "expected"),
    [
        ("Q", None, JobState.PENDING),
        ("H", None, JobState.HELD),
        ("R", None, JobState.RUNNING),
        ("E", None, JobState.RUNNING),
        ("F", 0, JobState.COMPLETED),
        ("F", 271, JobState.FAILED),
        ("X", 1, JobState.FAILED),
    ],
)
def test_pbs_table_with_exit_codes(native: str, exit_code: int | None, expected: JobState) -> None:
    state = translate_state(PBS_STATES, native, facility="pbs")
    assert settle_exit_code(state, exit_code) is expected


@pytest.mark.parametrize(
    ("state", "result", "expected"),
    [
        ("SCHED", None, JobState.PENDING),
        ("DEPEND", None, JobState.PENDING),
        ("RUN", None, JobState.RUNNING),
        ("CLEANUP", None, JobState.RUNNING),
        ("INACTIVE", "COMPLETED", JobState.COMPLETED),
        ("INACTIVE", "FAILED", JobState.FAILED),
        ("INACTIVE", "CANCELED", JobState.CANCELLED),
        ("INACTIVE", "TIMEOUT", JobState.TIMEOUT),
        ("INACTIVE", None, JobState.UNKNOWN),
    ],
)
def test_flux_states_and_results(state: str, result: str | None, expected: JobState) -> None:
    assert translate_flux_state(state, result, facility="flux") is expected


def test_unknown_word_is_unknown_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        assert translate_state(IRI_STATES, "hibernating", facility="iri") is JobState.UNKNOWN
    assert len(_warnings(caplog)) == 1
    assert "hibernating" in _warnings(caplog)[0].getMessage()
    translate_state(IRI_STATES, "sleeping", facility="iri")
    assert len(_warnings(caplog)) == 2


def test_none_and_empty_are_unknown_without_raising() -> None:
    assert translate_state(IRI_STATES, None, facility="iri") is JobState.UNKNOWN
    assert translate_state(IRI_STATES, "", facility="iri") is JobState.UNKNOWN
    assert translate_state(IRI_STATES, "   ", facility="iri") is JobState.UNKNOWN


def test_settle_exit_code_only_touches_completed() -> None:
    assert settle_exit_code(JobState.COMPLETED, 0) is JobState.COMPLETED
    assert settle_exit_code(JobState.COMPLETED, None) is JobState.COMPLETED
    assert settle_exit_code(JobState.COMPLETED, 2) is JobState.FAILED
    assert settle_exit_code(JobState.TIMEOUT, 2) is JobState.TIMEOUT
    assert settle_exit_code(JobState.CANCELLED, 15) is JobState.CANCELLED

"""Jobs that fail fail their task with the stderr tail in the log; the job sensor follows jobs
submitted elsewhere."""

from __future__ import annotations

import pytest

from .conftest import load_dag, task_states


def test_failing_job_fails_the_task_with_its_stderr_tail(
    airflow_env: None, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    run = load_dag("facility_failing_job").test()
    states = task_states(run)
    log = "".join(capfd.readouterr()) + caplog.text

    assert run.state == "failed"
    assert states == {"fails_inline": "failed", "fails_deferred": "failed"}
    assert log.count("boom: input deck missing") >= 2  # both tasks logged the tail
    assert "ended FAILED" in log
    assert "native state 'failed'" in log
    # Only the last three lines: the first stderr line is outside the tail.
    assert "stderr line 1" not in log
    assert "stderr line 3" in log


def test_job_sensor_waits_for_jobs_submitted_elsewhere(airflow_env: None) -> None:
    run = load_dag("facility_job_sensor").test()

    assert run.state == "success"
    assert set(task_states(run).values()) == {"success"}

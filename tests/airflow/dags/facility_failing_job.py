"""Test DAG: a job that writes to stderr and exits non-zero, once waited inline, once deferred."""

from __future__ import annotations

import datetime

from airflow.sdk import dag

from airflow_facility.operators import FacilitySubmitJobOperator

FAILING = "echo 'step one ok'; for i in 1 2 3; do echo \"stderr line $i\" >&2; done; echo 'boom: input deck missing' >&2; exit 3"


@dag(schedule=None, start_date=datetime.datetime(2025, 1, 1), catchup=False)
def facility_failing_job() -> None:
    for deferrable in (False, True):
        FacilitySubmitJobOperator(
            task_id=f"fails_{'deferred' if deferrable else 'inline'}",
            facility_conn_id="hpc_site_a",
            resource="polaris",
            executable="/bin/bash",
            arguments=["-c", FAILING],
            duration=60,
            poll_interval=0.5,
            deferrable=deferrable,
            stderr_tail_lines=3,
        )


facility_failing_job()

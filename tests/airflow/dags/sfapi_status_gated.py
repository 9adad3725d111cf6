"""Test DAG: a status-gated run on NERSC Perlmutter through the SF API (connection
``facility_sfapi``): wait until Perlmutter is free of outages for the job's walltime, then run a
job and wait for it (deferred)."""

from __future__ import annotations

import datetime

from airflow.sdk import dag

from airflow_facility.operators import FacilitySubmitJobOperator
from airflow_facility.sensors import FacilityResourceSensor

WINDOW = datetime.timedelta(minutes=30)


@dag(schedule=None, start_date=datetime.datetime(2025, 1, 1), catchup=False)
def sfapi_status_gated() -> None:
    wait_for_perlmutter = FacilityResourceSensor(
        task_id="wait_for_perlmutter",
        facility_conn_id="facility_sfapi",
        resource="perlmutter",
        duration=WINDOW,
        poke_interval=1,
        timeout=300,
        deferrable=True,
    )
    run_on_perlmutter = FacilitySubmitJobOperator(
        task_id="run_on_perlmutter",
        facility_conn_id="facility_sfapi",
        resource="perlmutter",
        executable="/bin/echo",
        arguments=["perlmutter is clear"],
        duration=WINDOW,
        poll_interval=0.5,
        deferrable=True,
    )
    wait_for_perlmutter >> run_on_perlmutter


sfapi_status_gated()

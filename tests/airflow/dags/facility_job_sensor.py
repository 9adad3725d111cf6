"""Test DAG: jobs submitted without waiting, then watched by FacilityJobSensor (poke and deferred)."""

from __future__ import annotations

import datetime

from airflow.sdk import dag

from airflow_facility.operators import FacilitySubmitJobOperator
from airflow_facility.sensors import FacilityJobSensor


@dag(schedule=None, start_date=datetime.datetime(2025, 1, 1), catchup=False)
def facility_job_sensor() -> None:
    for mode, deferrable in (("poke", False), ("deferred", True)):
        submit = FacilitySubmitJobOperator(
            task_id=f"submit_{mode}",
            facility_conn_id="hpc_site_a",
            resource="polaris",
            executable="/bin/sleep",
            arguments=["1"],
            duration=60,
            wait_for_completion=False,
        )
        watch = FacilityJobSensor(
            task_id=f"watch_{mode}",
            facility_conn_id="hpc_site_a",
            resource="polaris",
            job_id=f"{{{{ ti.xcom_pull(task_ids='submit_{mode}', key='job_id') }}}}",
            poke_interval=0.5,
            timeout=120,
            deferrable=deferrable,
        )
        submit >> watch


facility_job_sensor()

"""Test DAG: wait for the outage named in the run's conf to end, by poking and deferred."""

from __future__ import annotations

import datetime

from airflow.sdk import dag

from airflow_facility.sensors import FacilityIncidentSensor


@dag(schedule=None, start_date=datetime.datetime(2025, 1, 1), catchup=False)
def facility_incident_sensor() -> None:
    for mode, deferrable in (("poke", False), ("deferred", True)):
        FacilityIncidentSensor(
            task_id=f"wait_{mode}",
            facility_conn_id="hpc_site_a",
            incident_id="{{ dag_run.conf['incident_id'] }}",
            poke_interval=0.3,
            timeout=120,
            deferrable=deferrable,
        )


facility_incident_sensor()

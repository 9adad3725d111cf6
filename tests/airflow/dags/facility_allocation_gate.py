"""Test DAG: runs gated on the project's allocation (connection ``hpc_site_a``, IRI v1).

* ``check_allocation`` skips its job when project ``demo`` has less than ``min_remaining``
  node-hours of Polaris left;
* ``wait_for_allocation`` holds the run (deferred or poking, as the test sets) until ``staff``
  has at least half its Polaris grant left, then its job runs.
"""

from __future__ import annotations

import datetime

from airflow.sdk import dag

from airflow_facility.operators import FacilityResourceGateOperator, FacilitySubmitJobOperator
from airflow_facility.sensors import FacilityResourceSensor

WINDOW = datetime.timedelta(minutes=10)


@dag(schedule=None, start_date=datetime.datetime(2025, 1, 1), catchup=False)
def facility_allocation_gate() -> None:
    check_allocation = FacilityResourceGateOperator(
        task_id="check_allocation",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        duration=WINDOW,
        min_remaining=0.5,
        project="demo",
        capability="polaris",
    )
    run_if_funded = FacilitySubmitJobOperator(
        task_id="run_if_funded",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        executable="/bin/sleep",
        arguments=["0.2"],
        account="demo",
        duration=WINDOW,
        poll_interval=0.2,
    )
    wait_for_allocation = FacilityResourceSensor(
        task_id="wait_for_allocation",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        duration=WINDOW,
        min_remaining="50%",
        project="staff",
        poke_interval=0.5,
        timeout=300,
    )
    run_when_funded = FacilitySubmitJobOperator(
        task_id="run_when_funded",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        executable="/bin/true",
        account="staff",
        duration=WINDOW,
        poll_interval=0.2,
    )
    check_allocation >> run_if_funded
    wait_for_allocation >> run_when_funded


facility_allocation_gate()

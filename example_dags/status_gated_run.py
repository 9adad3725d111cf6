"""Status-gated runs: wait for a resource, or skip when it is not usable.

* ``wait_for_polaris`` holds the run (deferred, no worker slot) while Polaris is down or a planned
  outage overlaps the next ``window_minutes``; the job starts once the window is clear.
* ``check_aurora`` makes the same check once and skips its job (instead of waiting) when Aurora
  is not usable.

Connection ``hpc_site_a`` (a facility connection; ``AIRFLOW_CONN_HPC_SITE_A`` works).
"""

from __future__ import annotations

import datetime

from airflow.sdk import dag

from airflow_facility.operators import FacilityResourceGateOperator, FacilitySubmitJobOperator
from airflow_facility.sensors import FacilityResourceSensor

WINDOW = datetime.timedelta(minutes=30)


@dag(schedule=None, start_date=datetime.datetime(2025, 1, 1), catchup=False, tags=["hpc", "example"])
def status_gated_run() -> None:
    """Run a job only when its resource is free of outages for the job's walltime."""
    wait_for_polaris = FacilityResourceSensor(
        task_id="wait_for_polaris",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        duration=WINDOW,
        poke_interval=2,
        timeout=3600,
        deferrable=True,
    )
    run_when_clear = FacilitySubmitJobOperator(
        task_id="run_when_clear",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        executable="/bin/echo",
        arguments=["polaris is clear for", str(WINDOW)],
        duration=WINDOW,
        poll_interval=1.0,
    )
    check_aurora = FacilityResourceGateOperator(
        task_id="check_aurora", facility_conn_id="hpc_site_a", resource="aurora", duration=WINDOW
    )
    run_if_clear = FacilitySubmitJobOperator(
        task_id="run_if_clear",
        facility_conn_id="hpc_site_a",
        resource="aurora",
        executable="/bin/echo",
        arguments=["aurora is clear"],
        duration=WINDOW,
        poll_interval=1.0,
    )
    wait_for_polaris >> run_when_clear
    check_aurora >> run_if_clear


status_gated_run()

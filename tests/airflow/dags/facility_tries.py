"""Test DAGs for what a try costs and when it defers.

``facility_first_tries``: three mapped first tries that only submit (no wait); none may ask the
facility for anything but its submit. ``facility_short_job``: a deferrable submit whose job ends
while the worker is still between its submit and its deferral (the operator below waits for the
job's end there, as a slow worker would), so the task must finish without deferring.
"""

from __future__ import annotations

import datetime

from airflow.sdk import dag

from airflow_facility.operators import FacilitySubmitJobOperator
from facility_common import FacilityClient, Job

START = datetime.datetime(2025, 1, 1)


class SlowToDeferOperator(FacilitySubmitJobOperator):
    """Lets the job end before the state check that precedes the deferral."""

    def status_before_deferral(self, client: FacilityClient, job: Job) -> Job:
        client.wait(self.resource, job.id, timeout=60, poll_interval=0.2)
        return super().status_before_deferral(client, job)


@dag(schedule=None, start_date=START, catchup=False)
def facility_first_tries() -> None:
    FacilitySubmitJobOperator.partial(
        task_id="submit",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        executable="/bin/true",
        duration=60,
        wait_for_completion=False,
    ).expand(arguments=[["a"], ["b"], ["c"]])


@dag(schedule=None, start_date=START, catchup=False)
def facility_short_job() -> None:
    SlowToDeferOperator(
        task_id="short",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        executable="/bin/true",
        duration=60,
        poll_interval=0.5,
        deferrable=True,
    )


facility_first_tries()
facility_short_job()

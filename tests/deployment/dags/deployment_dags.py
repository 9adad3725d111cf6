"""DAGs run by the deployment test (``tests/deployment``) in a real Airflow deployment.

Connections (written by ``scripts/airflow-local.sh`` for its emulator): ``hpc_site_a`` (IRI v1)
and ``hpc_site_c`` (IRI v2, used by the mapped DAG alone, so that the emulator's per-route
counts of IRI v2 requests are that DAG's). Job lengths come from run parameters; a job's
arguments may depend on the try (``ti.try_number``), so that a cleared task's new job is short.
"""

from __future__ import annotations

import datetime

from airflow.sdk import Param, dag

from airflow_facility.operators import FacilitySubmitJobOperator

#: Seconds between status rounds of every wait here.
POLL = 2.0
START = datetime.datetime(2025, 1, 1)


@dag(
    schedule=None,
    start_date=START,
    catchup=False,
    params={"seconds": Param(6, type="integer")},
)
def deployment_mapped() -> None:
    """20 deferred jobs of ``seconds`` each, mapped from one task."""
    FacilitySubmitJobOperator.partial(
        task_id="compute",
        facility_conn_id="hpc_site_c",
        resource="polaris",
        executable="/bin/sleep",
        duration=600,
        poll_interval=POLL,
        deferrable=True,
    ).expand(arguments=[["{{ params.seconds }}"]] * 20)


@dag(schedule=None, start_date=START, catchup=False)
def deployment_failing() -> None:
    """A job that writes to stderr and exits 3."""
    FacilitySubmitJobOperator(
        task_id="fail",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        executable="/bin/sh",
        arguments=["-c", "echo 'first line'; echo 'the-stderr-tail-marker' >&2; exit 3"],
        duration=600,
        poll_interval=POLL,
        deferrable=True,
    )


@dag(schedule=None, start_date=START, catchup=False, params={"seconds": Param(120, type="integer")})
def deployment_deferred() -> None:
    """One deferred job: ``seconds`` long in the first try, 1 s in any later one (a cleared task's)."""
    FacilitySubmitJobOperator(
        task_id="wait",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        executable="/bin/sleep",
        arguments=["{{ params.seconds if ti.try_number == 1 else 1 }}"],
        duration=600,
        poll_interval=POLL,
        deferrable=True,
    )


@dag(schedule=None, start_date=START, catchup=False, params={"seconds": Param(30, type="integer")})
def deployment_inline() -> None:
    """One job waited for inline by a worker, retried once 1 s after a failure."""
    FacilitySubmitJobOperator(
        task_id="wait",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        executable="/bin/sleep",
        arguments=["{{ params.seconds }}"],
        duration=600,
        poll_interval=POLL,
        deferrable=False,
        retries=1,
        retry_delay=datetime.timedelta(seconds=1),
    )


@dag(schedule=None, start_date=START, catchup=False)
def deployment_inline_slow_retry() -> None:
    """A 4 s job waited for inline, whose retry comes 20 s later: after the job has ended."""
    FacilitySubmitJobOperator(
        task_id="wait",
        facility_conn_id="hpc_site_a",
        resource="polaris",
        executable="/bin/sleep",
        arguments=["4"],
        duration=600,
        poll_interval=POLL,
        deferrable=False,
        retries=1,
        retry_delay=datetime.timedelta(seconds=20),
    )


deployment_mapped()
deployment_failing()
deployment_deferred()
deployment_inline()
deployment_inline_slow_retry()

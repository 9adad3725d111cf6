"""Cross-facility pipeline: gate, stage input, simulate at site A, fetch, analyse at site B.

1. wait until site A's compute resource is up with no outage in the job's walltime window;
2. write the input locally and upload it to site A;
3. run the "simulation" there, waiting in the triggerer (deferrable);
4. download its result;
5. upload the result to site B and run the "analysis" there.

Connections (``AIRFLOW_CONN_*`` works)::

    AIRFLOW_CONN_HPC_SITE_A='{"conn_type": "facility_iri", "host": "https://api.alcf.anl.gov/api/v1",
                              "password": "<token>"}'
    AIRFLOW_CONN_HPC_SITE_B='{"conn_type": "facility_iri", "host": "https://api.iri.nersc.gov/api/v1",
                              "login": "<client id>", "password": "<client secret>",
                              "extra": {"auth_type": "oidc_client_credentials", "token_url": "..."}}'

Run parameters name the resources and the remote working directories.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from airflow.sdk import Param, dag, task

from airflow_facility.operators import (
    FacilityDownloadOperator,
    FacilityMkdirOperator,
    FacilitySubmitJobOperator,
    FacilityUploadOperator,
)
from airflow_facility.sensors import FacilityResourceSensor

SIMULATION = """\
echo "simulating on $(hostname) in $PWD"
tr 'a-z' 'A-Z' < input.txt > result.txt
echo "input words: $(wc -w < input.txt)"
"""

ANALYSIS = """\
echo "analysing on $(hostname)"
echo "result bytes: $(wc -c < result.txt)"
grep -c FOX result.txt
"""


@dag(
    schedule=None,
    start_date=datetime.datetime(2025, 1, 1),
    catchup=False,
    tags=["hpc", "example"],
    params={
        "site_a_resource": Param("polaris", type="string"),
        "site_a_workdir": Param("/home/user/pipeline", type="string"),
        "site_b_resource": Param("aurora", type="string"),
        "site_b_workdir": Param("/home/user/pipeline-analysis", type="string"),
        "local_dir": Param("/tmp/facility-pipeline", type="string"),
    },
)
def cross_facility_pipeline() -> None:
    """Move data and work between two facilities, each step through its facility's API."""
    gate = FacilityResourceSensor(
        task_id="wait_for_site_a",
        facility_conn_id="hpc_site_a",
        resource="{{ params.site_a_resource }}",
        duration=datetime.timedelta(minutes=30),
        poke_interval=5,
        timeout=3600,
    )

    @task
    def write_input(local_dir: str) -> str:
        path = Path(local_dir) / "input.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the quick brown fox jumps over the lazy dog\n" * 3)
        return str(path)

    local_input = write_input("{{ params.local_dir }}")

    mkdir_a = FacilityMkdirOperator(
        task_id="make_workdir_a",
        facility_conn_id="hpc_site_a",
        resource="{{ params.site_a_resource }}",
        path="{{ params.site_a_workdir }}",
    )
    upload = FacilityUploadOperator(
        task_id="stage_input",
        facility_conn_id="hpc_site_a",
        resource="{{ params.site_a_resource }}",
        local_path=local_input,
        remote_path="{{ params.site_a_workdir }}/input.txt",
    )
    simulate = FacilitySubmitJobOperator(
        task_id="simulate",
        facility_conn_id="hpc_site_a",
        resource="{{ params.site_a_resource }}",
        executable="/bin/bash",
        arguments=["-c", SIMULATION],
        directory="{{ params.site_a_workdir }}",
        job_name="simulate-{{ dag_run.run_after | ts_nodash }}",
        duration=datetime.timedelta(minutes=10),
        poll_interval=1.0,
        deferrable=True,
    )
    fetch = FacilityDownloadOperator(
        task_id="fetch_result",
        facility_conn_id="hpc_site_a",
        resource="{{ params.site_a_resource }}",
        remote_path="{{ params.site_a_workdir }}/result.txt",
        local_path="{{ params.local_dir }}/result.txt",
    )
    mkdir_b = FacilityMkdirOperator(
        task_id="make_workdir_b",
        facility_conn_id="hpc_site_b",
        resource="{{ params.site_b_resource }}",
        path="{{ params.site_b_workdir }}",
    )
    stage_b = FacilityUploadOperator(
        task_id="stage_result_at_b",
        facility_conn_id="hpc_site_b",
        resource="{{ params.site_b_resource }}",
        local_path="{{ params.local_dir }}/result.txt",
        remote_path="{{ params.site_b_workdir }}/result.txt",
    )
    analyse = FacilitySubmitJobOperator(
        task_id="analyse",
        facility_conn_id="hpc_site_b",
        resource="{{ params.site_b_resource }}",
        executable="/bin/bash",
        arguments=["-c", ANALYSIS],
        directory="{{ params.site_b_workdir }}",
        duration=datetime.timedelta(minutes=10),
        poll_interval=1.0,
        deferrable=True,
    )

    gate >> mkdir_a >> upload >> simulate >> fetch >> mkdir_b >> stage_b >> analyse
    local_input >> upload


cross_facility_pipeline()

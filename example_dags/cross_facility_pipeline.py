"""Cross-facility pipeline: gate, stage input, simulate at site A, move the output to site B
with Globus, analyse it there.

1. wait until site A's compute resource is up with no outage in the job's walltime window;
2. write the input locally and upload it to site A;
3. run the "simulation" there, waiting in the triggerer (deferrable);
4. move the simulation's directory from site A's storage to site B's with Globus Transfer,
   waiting in the triggerer; a retried task finds its transfer instead of starting another;
5. run the "analysis" at site B, in the directory the transfer filled.

Connections (``AIRFLOW_CONN_*`` works). Each facility connection says which Globus collection
stands for which storage (``globus_collections``; an IRI v2 connection needs none, its API
reports them); the Globus connection holds the Globus credentials (see docs/transfers.md)::

    AIRFLOW_CONN_HPC_SITE_A='{"conn_type": "facility_iri", "host": "https://api.alcf.anl.gov/api/v1",
                              "password": "<token>",
                              "extra": {"globus_collections": {"eagle": "<Eagle collection id>"}}}'
    AIRFLOW_CONN_HPC_SITE_B='{"conn_type": "facility_iri", "host": "https://api.iri.nersc.gov/api/v1",
                              "login": "<client id>", "password": "<client secret>",
                              "extra": {"auth_type": "oidc_client_credentials", "token_url": "...",
                                        "globus_collections": {"dtn": "<NERSC DTN collection id>"}}}'
    AIRFLOW_CONN_GLOBUS_DEFAULT='{"conn_type": "facility_globus", "login": "<Globus client id>",
                                  "password": "<Globus client secret>"}'

Run parameters name the resources, the working directories as the jobs see them, and the same
directories as Globus paths on the two storages' collections.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from airflow.sdk import Param, dag, task

from airflow_facility.operators import (
    FacilityMkdirOperator,
    FacilitySubmitJobOperator,
    FacilityTransferOperator,
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
        "site_a_workdir": Param("/lus/eagle/projects/demo/pipeline", type="string"),
        "site_a_storage": Param("eagle", type="string"),
        "site_a_transfer_dir": Param("/demo/pipeline/", type="string"),
        "site_b_resource": Param("perlmutter", type="string"),
        "site_b_workdir": Param("/global/cfs/cdirs/demo/pipeline-analysis", type="string"),
        "site_b_storage": Param("dtn", type="string"),
        "site_b_transfer_dir": Param("/global/cfs/cdirs/demo/pipeline-analysis/", type="string"),
        "local_dir": Param("/tmp/facility-pipeline", type="string"),
    },
)
def cross_facility_pipeline() -> None:
    """Move data and work between two facilities: jobs through each facility's API, the data
    between them through Globus."""
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
    move = FacilityTransferOperator(
        task_id="move_output",
        source_conn_id="hpc_site_a",
        source_storage="{{ params.site_a_storage }}",
        source_path="{{ params.site_a_transfer_dir }}",
        destination_conn_id="hpc_site_b",
        destination_storage="{{ params.site_b_storage }}",
        destination_path="{{ params.site_b_transfer_dir }}",
        recursive=True,
        transfer_label="simulation output",
        verify_checksum=True,
        poll_interval=1.0,
        deferrable=True,
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

    gate >> mkdir_a >> upload >> simulate >> move >> analyse
    local_input >> upload


cross_facility_pipeline()

"""File staging at a facility: make a directory, upload, list, copy, move, chmod, download, clean up.

Connection ``hpc_site_a`` (a facility connection; ``AIRFLOW_CONN_HPC_SITE_A`` works). Run
parameters name the storage resource, the remote directory and a local scratch directory.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from airflow.sdk import Param, dag, task

from airflow_facility.operators import (
    FacilityChmodOperator,
    FacilityCopyOperator,
    FacilityDownloadOperator,
    FacilityListOperator,
    FacilityMkdirOperator,
    FacilityMoveOperator,
    FacilityRemoveOperator,
    FacilityUploadOperator,
)

CONN = "hpc_site_a"


@dag(
    schedule=None,
    start_date=datetime.datetime(2025, 1, 1),
    catchup=False,
    tags=["hpc", "example"],
    params={
        "resource": Param("eagle", type="string"),
        "remote_dir": Param("/home/user/staging", type="string"),
        "local_dir": Param("/tmp/facility-staging", type="string"),
    },
)
def file_staging() -> None:
    """Stage a data file in and out of a facility filesystem."""

    @task
    def make_local_file(local_dir: str) -> str:
        path = Path(local_dir) / "data.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{i},{i * i}\n" for i in range(5000)))
        return str(path)

    @task
    def check_round_trip(original: str, returned: str) -> int:
        if Path(original).read_bytes() != Path(returned).read_bytes():
            raise ValueError("the downloaded file differs from the uploaded one")
        return Path(returned).stat().st_size

    resource = "{{ params.resource }}"
    remote = "{{ params.remote_dir }}"
    local_file = make_local_file("{{ params.local_dir }}")

    mkdir = FacilityMkdirOperator(
        task_id="mkdir", facility_conn_id=CONN, resource=resource, path=f"{remote}/in"
    )
    upload = FacilityUploadOperator(
        task_id="upload",
        facility_conn_id=CONN,
        resource=resource,
        local_path=local_file,
        remote_path=f"{remote}/in/data.csv",
    )
    copy = FacilityCopyOperator(
        task_id="copy",
        facility_conn_id=CONN,
        resource=resource,
        source=f"{remote}/in/data.csv",
        target=f"{remote}/in/copy.csv",
    )
    move = FacilityMoveOperator(
        task_id="move",
        facility_conn_id=CONN,
        resource=resource,
        source=f"{remote}/in/copy.csv",
        target=f"{remote}/data-final.csv",
    )
    chmod = FacilityChmodOperator(
        task_id="chmod", facility_conn_id=CONN, resource=resource, path=f"{remote}/data-final.csv", mode="640"
    )
    listing = FacilityListOperator(task_id="list", facility_conn_id=CONN, resource=resource, path=remote)
    download = FacilityDownloadOperator(
        task_id="download",
        facility_conn_id=CONN,
        resource=resource,
        remote_path=f"{remote}/data-final.csv",
        local_path="{{ params.local_dir }}/returned.csv",
    )
    cleanup = FacilityRemoveOperator(
        task_id="cleanup", facility_conn_id=CONN, resource=resource, path=f"{remote}/in"
    )

    mkdir >> upload >> copy >> move >> chmod >> listing >> download >> cleanup
    download >> check_round_trip(local_file, "{{ params.local_dir }}/returned.csv")


file_staging()

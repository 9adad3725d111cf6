"""Streaming pipeline: a Redis cluster at OLCF (S3M) carries readings from a producer job at one
facility to a consumer job at another.

1. provision a Redis cluster through S3M and wait until it is ready (the DAG's setup task);
2. run the producer at site A: it appends readings to a Redis stream;
3. run the consumer at site B: it reads them back;
4. delete the cluster (the teardown task: it runs when the producer or the consumer fails too).

Each job finds the cluster in ``$STREAMING_URL`` (credentials included), which the operator asks
S3M for when the job is submitted; the password is masked in task logs and never lands in XCom
or the rendered fields. The default commands use ``redis-cli``; any Redis client works.

Connections (``AIRFLOW_CONN_*`` works)::

    AIRFLOW_CONN_HPC_STREAMING='{"conn_type": "facility_s3m", "host": "https://s3m.olcf.ornl.gov",
                                 "password": "<S3M token with the data-streaming permission>"}'
    AIRFLOW_CONN_HPC_SITE_A='{"conn_type": "facility_iri", "host": "https://api.alcf.anl.gov/api/v1",
                              "password": "<token>"}'
    AIRFLOW_CONN_HPC_SITE_B='{"conn_type": "facility_iri", "host": "https://api.iri.nersc.gov/api/v1",
                              "password": "<token>"}'
"""

from __future__ import annotations

import datetime

from airflow.sdk import Param, dag

from airflow_facility.operators import (
    FacilityStreamingClusterDeleteOperator,
    FacilityStreamingClusterOperator,
    FacilityStreamingJobOperator,
)

#: One cluster per run: a DNS label, unique per engine in the S3M project.
CLUSTER = "{{ params.cluster_prefix }}-{{ dag_run.run_after | ts_nodash | lower }}"

PRODUCER = """\
for value in 17 23 42; do
  redis-cli -u "$STREAMING_URL" --no-auth-warning XADD readings '*' value "$value" > /dev/null
done
echo "produced 3 readings on $(hostname)"
"""

CONSUMER = """\
echo "consuming on $(hostname)"
redis-cli -u "$STREAMING_URL" --no-auth-warning --raw XRANGE readings - +
"""


@dag(
    schedule=None,
    start_date=datetime.datetime(2025, 1, 1),
    catchup=False,
    tags=["hpc", "example", "streaming"],
    params={
        "cluster_prefix": Param("readings", type="string", pattern="^[a-z][a-z0-9-]{0,20}$"),
        "producer_resource": Param("polaris", type="string"),
        "consumer_resource": Param("aurora", type="string"),
        "producer_command": Param(PRODUCER, type="string"),
        "consumer_command": Param(CONSUMER, type="string"),
    },
)
def streaming_pipeline() -> None:
    """Stream data between two facilities through a short-lived Redis cluster at OLCF."""
    create = FacilityStreamingClusterOperator(
        task_id="create_stream",
        facility_conn_id="hpc_streaming",
        engine="redis",
        name=CLUSTER,
        cluster_resources={"cpus": 1, "ram-gbs": 1},
        timeout=900,
        poll_interval=2.0,
    )
    produce = FacilityStreamingJobOperator(
        task_id="produce",
        facility_conn_id="hpc_site_a",
        resource="{{ params.producer_resource }}",
        streaming_conn_id="hpc_streaming",
        engine="redis",
        cluster=CLUSTER,
        executable="/bin/bash",
        arguments=["-c", "{{ params.producer_command }}"],
        duration=datetime.timedelta(minutes=10),
        poll_interval=1.0,
    )
    consume = FacilityStreamingJobOperator(
        task_id="consume",
        facility_conn_id="hpc_site_b",
        resource="{{ params.consumer_resource }}",
        streaming_conn_id="hpc_streaming",
        engine="redis",
        cluster=CLUSTER,
        executable="/bin/bash",
        arguments=["-c", "{{ params.consumer_command }}"],
        duration=datetime.timedelta(minutes=10),
        poll_interval=1.0,
    )
    delete = FacilityStreamingClusterDeleteOperator(
        task_id="delete_stream", facility_conn_id="hpc_streaming", engine="redis", name=CLUSTER
    )

    create >> produce >> consume >> delete.as_teardown(setups=create)


streaming_pipeline()

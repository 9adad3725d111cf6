"""The streaming example DAG runs under ``dag.test()`` against the emulator: a real Redis cluster
carries the producer's readings to the consumer, the teardown deletes it (also when a job fails),
and the cluster's password shows up in no XCom, rendered field or task log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..streaming_support import leftover_servers, require_engine
from .conftest import emulator_admin, load_dag, task_states

CONN = "AIRFLOW_CONN_HPC_STREAMING"


@pytest.fixture
def streaming_conn(facility: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    require_engine("redis")
    token = facility.flavour_credentials("s3m")["token"]
    monkeypatch.setenv(
        CONN, json.dumps({"conn_type": "facility_s3m", "host": facility.url, "password": token})
    )
    yield


def _quick(dag: Any) -> Any:
    dag.get_task("create_stream").poll_interval = 0.05
    for task_id in ("produce", "consume"):
        dag.get_task(task_id).poll_interval = 0.1
    return dag


def _consumer_output(run: Any) -> str:
    """What the consumer job wrote to its stdout (its path is in the task's XCom)."""
    from airflow import settings
    from airflow.models.xcom import XComModel

    session = settings.Session()
    try:
        (xcom,) = session.query(XComModel).filter(
            XComModel.dag_id == run.dag_id,
            XComModel.run_id == run.run_id,
            XComModel.task_id == "consume",
            XComModel.key == "return_value",
        )
        value = xcom.value if isinstance(xcom.value, dict) else json.loads(xcom.value)
    finally:
        session.close()
    return Path(value["stdout_path"]).read_text()


def _stored(run: Any) -> str:
    from airflow import settings
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel

    session = settings.Session()
    try:
        xcoms = session.query(XComModel).filter(
            XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id
        )
        rendered = session.query(RenderedTaskInstanceFields).filter(
            RenderedTaskInstanceFields.dag_id == run.dag_id, RenderedTaskInstanceFields.run_id == run.run_id
        )
        values = [json.dumps(x.value, default=str) for x in xcoms]
        values += [json.dumps(r.rendered_fields, default=str) for r in rendered]
        return "\n".join(values)
    finally:
        session.close()


def _provisioned_passwords(facility: Any) -> list[str]:
    """The passwords the emulated S3M handed out, from its recorded provisioning answers."""
    return [
        json.loads(e.response_body)["password"]
        for e in facility.exchanges()
        if e.path.endswith("/redis/provision_cluster") and e.status == 200
    ]


def _clusters(facility: Any) -> list[dict[str, Any]]:
    clusters: list[dict[str, Any]] = emulator_admin(facility, "GET", "s3m/streaming")["clusters"]
    return clusters


def test_streaming_pipeline_carries_readings_between_facilities(
    airflow_env: None,
    streaming_conn: None,
    facility: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = set(_provisioned_passwords(facility))
    run = _quick(load_dag("streaming_pipeline")).test(run_conf={"cluster_prefix": "ok"})
    log = "".join(capfd.readouterr()) + caplog.text

    assert run.state == "success", task_states(run)
    assert task_states(run) == dict.fromkeys(
        ("create_stream", "produce", "consume", "delete_stream"), "success"
    )
    output = _consumer_output(run)
    assert [line for line in output.splitlines() if line in ("17", "23", "42")] == ["17", "23", "42"]
    assert not [c for c in _clusters(facility) if c["name"].startswith("ok-")]
    assert not leftover_servers()

    (password,) = set(_provisioned_passwords(facility)) - before
    stored = _stored(run)
    assert '"public_url": "redis://127.0.0.1:' in stored  # the endpoints without secrets
    assert password not in stored
    assert password not in log


def test_the_teardown_deletes_the_cluster_when_a_job_fails(
    airflow_env: None, streaming_conn: None, facility: Any
) -> None:
    dag = _quick(load_dag("streaming_pipeline"))
    run = dag.test(run_conf={"cluster_prefix": "failing", "producer_command": "echo broken >&2; exit 3"})

    states = task_states(run)
    assert run.state == "failed", states
    assert states["create_stream"] == "success" and states["produce"] == "failed"
    assert states["consume"] == "upstream_failed" and states["delete_stream"] == "success"
    assert not [c for c in _clusters(facility) if c["name"].startswith("failing-")]
    assert not leftover_servers()


def test_other_apis_are_told_where_streaming_is(airflow_env: None) -> None:
    from airflow_facility.operators import FacilityStreamingClusterOperator
    from facility_common import UnsupportedOperation

    task = FacilityStreamingClusterOperator(
        task_id="t", facility_conn_id="hpc_site_a", engine="redis", name="x"
    )
    with pytest.raises(UnsupportedOperation, match="OLCF S3M API"):
        task.execute({})  # type: ignore[arg-type]

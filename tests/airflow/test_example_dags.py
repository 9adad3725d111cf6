"""The example DAGs run end to end with ``dag.test()`` against the emulator, waits inline and
deferred, and no secret of their connections shows up in XCom, rendered fields or task logs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from facility_emulator.globus.engine import engine_of

from .conftest import load_dag, task_states
from .transfer_support import collection_roots, transfer_connections  # noqa: F401 - a fixture


def _set_deferrable(dag: Any, deferrable: bool) -> None:
    for task in dag.tasks:
        if hasattr(task, "deferrable"):
            task.deferrable = deferrable


def _stored_values(run: Any) -> str:
    """Everything the run left in the XCom and rendered-fields tables, as text."""
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
        assert values, "the run stored no XCom and no rendered fields"
        return "\n".join(values)
    finally:
        session.close()


@pytest.mark.usefixtures("transfer_connections")
@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "inline"])
def test_cross_facility_pipeline(
    airflow_env: None,
    facility: Any,
    tmp_path: Path,
    deferrable: bool,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run_id = uuid.uuid4().hex[:8]
    roots = collection_roots(facility)
    eagle, dtn = roots["eagle"], roots["dtn"]
    dag = load_dag("cross_facility_pipeline")
    _set_deferrable(dag, deferrable)
    run = dag.test(
        run_conf={
            "site_a_workdir": f"{eagle}/pipeline-{run_id}",
            "site_a_transfer_dir": f"/pipeline-{run_id}/",
            "site_b_resource": "aurora",
            "site_b_workdir": f"{dtn}/analysis-{run_id}",
            "site_b_transfer_dir": f"/analysis-{run_id}/",
            "local_dir": str(tmp_path),
        }
    )
    log = "".join(capfd.readouterr()) + caplog.text

    assert run.state == "success", task_states(run)
    # The simulation's output reached site B through Globus, and the analysis ran on it there.
    arrived = Path(dtn, f"analysis-{run_id}")
    assert (arrived / "result.txt").read_text().startswith("THE QUICK BROWN FOX")
    assert (arrived / "result.txt").read_bytes() == Path(
        eagle, f"pipeline-{run_id}", "result.txt"
    ).read_bytes()
    [analysis] = [p for p in arrived.glob("*.out") if not p.name.startswith("simulate")]
    assert "result bytes: 132" in analysis.read_text()
    assert "submitted job" in log
    # Deferrable tasks defer, unless their job had already ended when they looked once before
    # deferring (then they finish at once, avoiding Airflow's race with very short jobs).
    deferred = "running trigger in line" in log or "finishing without deferring" in log
    assert deferred == deferrable

    stored = _stored_values(run)
    assert '"iri"' in stored  # the facility XCom is there
    [moved] = [
        t for t in engine_of(facility.state).tasks() if t.items[0].destination_path == f"/analysis-{run_id}/"
    ]
    assert moved.task_id in stored and moved.label is not None and moved.label.startswith("simulation output")
    for secret in (facility.credentials["static_token"], facility.credentials["client_secret"]):
        assert secret not in log
        assert secret not in stored


def test_file_staging(airflow_env: None, facility: Any, tmp_path: Path) -> None:
    remote = f"{facility.credentials['home']}/staging-{uuid.uuid4().hex[:8]}"
    run = load_dag("file_staging").test(run_conf={"remote_dir": remote, "local_dir": str(tmp_path)})

    assert run.state == "success", task_states(run)
    assert (tmp_path / "returned.csv").read_bytes() == (tmp_path / "data.csv").read_bytes()
    remaining = sorted(path.name for path in Path(remote).iterdir())
    assert remaining == ["data-final.csv"]
    assert oct(Path(remote, "data-final.csv").stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "poke"])
def test_status_gated_run_without_outages(airflow_env: None, deferrable: bool) -> None:
    dag = load_dag("status_gated_run")
    _set_deferrable(dag, deferrable)
    run = dag.test()

    assert run.state == "success"
    assert set(task_states(run).values()) == {"success"}

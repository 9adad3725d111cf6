"""An example DAG runs against the emulator in ``--scheduler slurm`` mode: its jobs are real jobs of
the local Slurm (scripts/slurm-local.sh; skipped with the reason when it is not running)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ..conformance.flavours.slurmrest import ENV_FILE, slurm_settings
from .conftest import SITE_A, emulator_admin, load_dag, task_states


@pytest.fixture(scope="module")
def slurm_facility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if slurm_settings() is None:
        pytest.skip(f"local Slurm is not running ({ENV_FILE} is absent; run scripts/slurm-local.sh start)")
    from facility_emulator import EmulatorConfig, EmulatorServer

    root = tmp_path_factory.mktemp("airflow-slurm")
    config = EmulatorConfig(root=root, queue_delay=0.0, task_delay=0.01, scheduler="slurm")
    with EmulatorServer(config) as server:
        yield server


def test_status_gated_run_on_slurm(
    airflow_db: None, slurm_facility: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = {
        "conn_type": "facility_iri",
        "host": slurm_facility.iri_url("v1"),
        "password": slurm_facility.credentials["static_token"],
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{SITE_A.upper()}", json.dumps(connection))
    run = load_dag("status_gated_run").test()
    assert run.state == "success", task_states(run)
    jobs = emulator_admin(slurm_facility, "GET", "jobs")["jobs"]
    assert len(jobs) == 2
    for job in jobs:
        assert job["state"] == "completed"
        assert str(job["meta_data"]["slurm_job_id"]).isdigit()  # a real Slurm job ran it

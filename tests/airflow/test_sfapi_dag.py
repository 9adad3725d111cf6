"""A status-gated DAG on the emulated NERSC SF API, with a ``facility_sfapi`` connection whose
``auth`` extra is a private-key-JWT mapping; the key never shows in logs or XCom."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import emulator_admin, load_dag, task_states


def test_sfapi_status_gated_dag(
    airflow_env: None,
    facility: Any,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    credentials = facility.flavour_credentials("sfapi")
    connection = {
        "conn_type": "facility_sfapi",
        "host": facility.api_url("sfapi"),
        "extra": {
            "auth": {
                "type": "private_key_jwt",
                "token_url": credentials["token_url"],
                "client_id": credentials["client_id"],
                "private_key": credentials["private_key"],
            }
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_FACILITY_SFAPI", json.dumps(connection))
    run = load_dag("sfapi_status_gated").test()
    log = "".join(capfd.readouterr()) + caplog.text
    assert run.state == "success", task_states(run)
    jobs = [job for job in emulator_admin(facility, "GET", "jobs")["jobs"] if job["resource"] == "perlmutter"]
    assert jobs and jobs[-1]["state"] == "completed"
    assert "PRIVATE KEY" not in log

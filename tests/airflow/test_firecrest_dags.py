"""An example DAG end to end on emulated FirecREST v2: the file-staging DAG with its connection
pointed at FirecREST (``facility_firecrest``, OIDC client credentials, backend options in the
extras) and its storage resource set to the Slurm system "daint"."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from .conftest import load_dag, task_states


@pytest.fixture
def firecrest_site_a(facility: Any, airflow_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = facility.credentials
    connection = {
        "conn_type": "facility_firecrest",
        "host": facility.api_url("firecrest"),
        "login": credentials["client_id"],
        "password": credentials["client_secret"],
        "extra": {
            "auth_type": "oidc_client_credentials",
            "token_url": credentials["token_url"],
            "account": "g123",
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_HPC_SITE_A", json.dumps(connection))


def test_file_staging_on_firecrest(firecrest_site_a: None, facility: Any, tmp_path: Path) -> None:
    remote = f"{facility.credentials['home']}/f7t-staging-{uuid.uuid4().hex[:8]}"
    facility.clear_exchanges()
    run = load_dag("file_staging").test(
        run_conf={"resource": "daint", "remote_dir": remote, "local_dir": str(tmp_path)}
    )

    assert run.state == "success", task_states(run)
    assert (tmp_path / "returned.csv").read_bytes() == (tmp_path / "data.csv").read_bytes()
    assert sorted(path.name for path in Path(remote).iterdir()) == ["data-final.csv"]
    assert oct(Path(remote, "data-final.csv").stat().st_mode & 0o777) == "0o640"
    routes = {e.route for e in facility.exchanges() if e.route and e.route.startswith("/firecrest/")}
    assert "/firecrest/filesystem/{system_name}/ops/upload" in routes
    assert "/firecrest/filesystem/{system_name}/transfer/mv" in routes

"""Airflow suite fixtures: a private AIRFLOW_HOME on SQLite, a DAGs folder, the emulator and the
connections pointing at it.

Airflow reads its configuration when first imported, so the environment is set here, at import
time of this conftest, before any test module imports Airflow.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
DAGS_FOLDER = _HOME / "dags"
DAGS_FOLDER.mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
    }
)

REPO = Path(__file__).resolve().parents[2]
for source in [
    *sorted((REPO / "example_dags").glob("*.py")),
    *sorted((Path(__file__).parent / "dags").glob("*.py")),
]:
    (DAGS_FOLDER / source.name).symlink_to(source)

SITE_A = "hpc_site_a"
SITE_B = "hpc_site_b"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the metadata database once (about 5 s on SQLite)."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture(scope="session")
def facility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private emulator for the Airflow suite (tests here change resource status)."""
    from facility_emulator import EmulatorConfig, EmulatorServer

    root = tmp_path_factory.mktemp("airflow-facility")
    with EmulatorServer(EmulatorConfig(root=root, queue_delay=0.1, task_delay=0.01)) as server:
        yield server


def connection_env(server: Any) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values for the two example sites: A with a static token, B with OIDC
    client credentials (both served by the one emulator)."""
    credentials = server.credentials
    site_a = {
        "conn_type": "facility_iri",
        "host": server.iri_url("v1"),
        "password": credentials["static_token"],
    }
    site_b = {
        "conn_type": "facility_iri",
        "host": server.iri_url("v1"),
        "login": credentials["client_id"],
        "password": credentials["client_secret"],
        "extra": {"auth_type": "oidc_client_credentials", "token_url": credentials["token_url"]},
    }
    return {
        f"AIRFLOW_CONN_{SITE_A.upper()}": json.dumps(site_a),
        f"AIRFLOW_CONN_{SITE_B.upper()}": json.dumps(site_b),
    }


@pytest.fixture(scope="session")
def connections(facility: Any) -> Iterator[None]:
    """Both site connections in the environment for the whole session."""
    values = connection_env(facility)
    os.environ.update(values)
    yield
    for key in values:
        os.environ.pop(key, None)


@pytest.fixture
def airflow_env(airflow_db: None, connections: None) -> None:
    """Everything a ``dag.test()`` run needs."""


def load_dag(dag_id: str) -> Any:
    """Parse the DAGs folder and return one DAG."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS_FOLDER))
    dag = bag.get_dag(dag_id)
    assert dag is not None, bag.import_errors
    return dag


def task_states(run: Any) -> dict[str, str]:
    """task_id -> final state of a finished dag run."""
    from airflow import settings

    session = settings.Session()
    try:
        return {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
    finally:
        session.close()


def emulator_admin(server: Any, method: str, path: str, body: Any = None) -> Any:
    """Call the emulator's admin API."""
    import httpx

    answer = httpx.request(method, f"{server.url}/_emulator/{path}", json=body, timeout=10)
    answer.raise_for_status()
    return answer.json() if answer.content else None

"""The demo's Airflow step: run the cross-facility example DAG with ``dag.test()`` against the
emulator.

It gives Airflow a private home under ``scratch`` (SQLite metadata database, a DAGs folder holding
the example DAG), defines the two site connections and the Globus connection through
``AIRFLOW_CONN_*`` variables, runs the DAG with its waits deferred to an in-process trigger, and
prints each task's outcome. Airflow
reads its configuration when first imported, so this module imports it only inside :func:`run`.

Run alone: ``uv run python scripts/demo_airflow.py``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.config import CREDENTIALS_ENV

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "example_dags" / "cross_facility_pipeline.py"
DAG_ID = "cross_facility_pipeline"


def _configure_airflow(home: Path) -> None:
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    link = dags / DAG_FILE.name
    if not link.exists():
        link.symlink_to(DAG_FILE)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    # Airflow's test client imports starlette's, which warns about httpx; not ours to fix.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")


def _collections(server: EmulatorServer) -> dict[str, Any]:
    """The emulator's Globus collections by name (id, root...)."""
    return dict(server.flavour_credentials("globus")["collections"])


def _connections(server: EmulatorServer) -> dict[str, str]:
    """Site A (its Eagle collection), site B (its NERSC DTN collection), and the Globus
    connection of the emulator's confidential client."""
    credentials, collections = server.credentials, _collections(server)
    site_a = {
        "conn_type": "facility_iri",
        "host": server.iri_url("v1"),
        "password": credentials["static_token"],
        "extra": {"globus_collections": {"eagle": collections["alcf-eagle"]["id"]}},
    }
    site_b = {
        "conn_type": "facility_iri",
        "host": server.iri_url("v1"),
        "login": credentials["client_id"],
        "password": credentials["client_secret"],
        "extra": {
            "auth_type": "oidc_client_credentials",
            "token_url": credentials["token_url"],
            "globus_collections": {"dtn": collections["nersc-dtn"]["id"]},
        },
    }
    globus = {
        "conn_type": "facility_globus",
        "host": f"{server.url}/transfer/",
        "login": credentials["client_id"],
        "password": credentials["client_secret"],
        "extra": {"auth_base_url": f"{server.url}/globus/"},
    }
    return {
        "AIRFLOW_CONN_HPC_SITE_A": json.dumps(site_a),
        "AIRFLOW_CONN_HPC_SITE_B": json.dumps(site_b),
        "AIRFLOW_CONN_GLOBUS_DEFAULT": json.dumps(globus),
    }


def _task_rows(run: Any) -> list[tuple[str, str, float | None]]:
    from airflow import settings

    session = settings.Session()
    try:
        rows = []
        for ti in sorted(
            run.get_task_instances(session=session), key=lambda ti: ti.start_date or ti.end_date
        ):
            seconds = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else None
            rows.append((ti.task_id, str(ti.state), seconds))
        return rows
    finally:
        session.close()


def run(server: EmulatorServer, scratch: Path) -> bool:
    """Run the cross-facility DAG once against ``server``; print progress; True on success."""
    started = time.monotonic()
    _configure_airflow(scratch / "airflow")
    os.environ.update(_connections(server))
    print("  preparing Airflow's metadata database (SQLite)", flush=True)
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.initdb()
    dag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(DAG_ID)
    if dag is None:
        print(f"  the DAG {DAG_ID} could not be loaded", flush=True)
        return False
    collections = _collections(server)
    eagle, dtn = collections["alcf-eagle"]["root"], collections["nersc-dtn"]["root"]
    tag = uuid.uuid4().hex[:6]
    local_dir = scratch / "airflow-pipeline"
    print(f"  running {DAG_ID}: polaris (site A) -> Globus -> aurora (site B), waits deferred", flush=True)
    dag_run = dag.test(
        run_conf={
            "site_a_workdir": f"{eagle}/airflow-sim-{tag}",
            "site_a_transfer_dir": f"/airflow-sim-{tag}/",
            "site_b_resource": "aurora",
            "site_b_workdir": f"{dtn}/airflow-ana-{tag}",
            "site_b_transfer_dir": f"/airflow-ana-{tag}/",
            "local_dir": str(local_dir),
        }
    )
    for task_id, state, seconds in _task_rows(dag_run):
        duration = f"{seconds:5.1f}s" if seconds is not None else "     "
        print(f"  {task_id:<20} {state:<8} {duration}", flush=True)
    result = Path(dtn) / f"airflow-ana-{tag}" / "result.txt"
    if result.exists():
        print(f"  result at site B: {result.read_text().splitlines()[0]!r}", flush=True)
    ok = str(dag_run.state) == "success"
    print(f"  dag run {dag_run.state} in {time.monotonic() - started:.1f}s", flush=True)
    return ok


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="facility-airflow-demo-") as scratch:
        config = EmulatorConfig(
            root=Path(scratch) / "facility", credentials_file=os.environ.get(CREDENTIALS_ENV) or None
        )
        emulator = EmulatorServer(config)
        with emulator as server:
            return 0 if run(server, Path(scratch)) else 1


if __name__ == "__main__":
    sys.exit(main())

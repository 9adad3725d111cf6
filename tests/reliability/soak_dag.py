"""The soak DAG as a DAG file: ``dag.test()`` runs only DAGs that Airflow parsed from its DAGs
folder, so the soak links this file there for its run. It builds the DAG from the plan the soak
wrote to the JSON file named by ``FACILITY_SOAK_PLAN``, and defines nothing without it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.reliability.soak_airflow import build_dag
from tests.reliability.soak_ledger import LogicalJob

_PLAN = os.environ.get("FACILITY_SOAK_PLAN")
if _PLAN and Path(_PLAN).is_file():
    _data = json.loads(Path(_PLAN).read_text())
    soak = build_dag(
        _data["dag_id"],
        [LogicalJob(**job) for job in _data["jobs"]],
        _data["resources"],
        _data["marker_dir"],
    )

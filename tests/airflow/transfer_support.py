"""Connections for the transfer tests: the example sites with their Globus collections, and a
Globus connection with the emulator's confidential client."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import connection_env


def collection_roots(facility: Any) -> dict[str, str]:
    """Where site A's ``eagle`` and site B's ``dtn`` collections keep their files."""
    collections = facility.flavour_credentials("globus")["collections"]
    return {"eagle": collections["alcf-eagle"]["root"], "dtn": collections["nersc-dtn"]["root"]}


@pytest.fixture
def transfer_connections(facility: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two sites' connections with their Globus collections (site A's Eagle, site B's NERSC
    DTN, both emulated), and a Globus connection with the emulator's confidential client."""
    collections = facility.flavour_credentials("globus")["collections"]
    for conn_id, storage, name in (("hpc_site_a", "eagle", "alcf-eagle"), ("hpc_site_b", "dtn", "nersc-dtn")):
        variable = f"AIRFLOW_CONN_{conn_id.upper()}"
        connection = json.loads(connection_env(facility)[variable])
        connection.setdefault("extra", {})["globus_collections"] = {storage: collections[name]["id"]}
        monkeypatch.setenv(variable, json.dumps(connection))
    credentials = facility.credentials
    globus = {
        "conn_type": "facility_globus",
        "host": f"{facility.url}/transfer/",
        "login": credentials["client_id"],
        "password": credentials["client_secret"],
        "extra": {"auth_base_url": f"{facility.url}/globus/"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GLOBUS_DEFAULT", json.dumps(globus))

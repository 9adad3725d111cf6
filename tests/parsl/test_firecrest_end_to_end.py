"""Parsl's HighThroughputExecutor on emulated FirecREST v2: FacilityProvider submits the pilot as
an ``#SBATCH`` script through pyfirecrest, authenticated with OIDC client credentials, and the
pilot's workers run the apps on "daint"."""

from __future__ import annotations

from pathlib import Path

import parsl
import pytest

from facility_emulator import EmulatorServer

from .conftest import emulator_jobs, htex_config, make_provider

pytestmark = pytest.mark.slow


@parsl.python_app
def triple(x: int) -> int:
    return 3 * x


@pytest.fixture(scope="module")
def facility(emulator: EmulatorServer) -> EmulatorServer:
    """The session emulator: this test only adds pilot jobs named after its own executor."""
    return emulator


def test_apps_run_on_a_firecrest_pilot(facility: EmulatorServer, tmp_path: Path) -> None:
    credentials = facility.credentials
    provider = make_provider(
        facility,
        facility="firecrest",
        base_url=facility.api_url("firecrest"),
        resource="daint",
        auth={
            "type": "oidc_client_credentials",
            "token_url": credentials["token_url"],
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
        account="g123",
        queue="debug",
        init_blocks=1,
        min_blocks=0,
        max_blocks=1,
    )
    config = htex_config(provider, tmp_path / "runinfo", "f7t-e2e")
    with parsl.load(config):
        results = [triple(n).result(timeout=120) for n in range(10)]
    parsl.clear()
    assert results == [3 * n for n in range(10)]
    jobs = emulator_jobs(facility, "parsl.f7t-e2e.block-")
    assert len(jobs) == 1
    assert jobs[0]["spec"]["account"] == "g123" and jobs[0]["spec"]["partition"] == "debug"
    leaked = [
        str(path)
        for path in (tmp_path / "runinfo").rglob("*")
        if path.is_file() and credentials["client_secret"].encode() in path.read_bytes()
    ]
    assert leaked == []

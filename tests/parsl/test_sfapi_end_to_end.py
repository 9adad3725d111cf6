"""Parsl's HighThroughputExecutor on the emulated NERSC SF API: FacilityProvider submits the pilot
as an ``#SBATCH`` script (a submit task awaited for its job id), authenticated with a private-key
JWT from a mode-0600 key file, and the pilot's workers run the apps on "perlmutter"."""

from __future__ import annotations

from pathlib import Path

import parsl
import pytest

from facility_emulator import EmulatorServer

from .conftest import emulator_jobs, htex_config, make_provider

pytestmark = pytest.mark.slow


@parsl.python_app
def double(x: int) -> int:
    return 2 * x


@pytest.fixture(scope="module")
def facility(emulator: EmulatorServer) -> EmulatorServer:
    """The session emulator: this test only adds pilot jobs named after its own executor."""
    return emulator


def test_apps_run_on_an_sfapi_pilot(facility: EmulatorServer, tmp_path: Path) -> None:
    credentials = facility.flavour_credentials("sfapi")
    key = tmp_path / "sfapi-key.pem"
    key.write_text(f"{credentials['client_id']}\n{credentials['private_key']}")
    key.chmod(0o600)
    provider = make_provider(
        facility,
        facility="sfapi",
        base_url=facility.api_url("sfapi"),
        resource="perlmutter",
        auth={"type": "private_key_jwt", "token_url": credentials["token_url"], "key_path": str(key)},
        account="m0000",
        queue="debug",
        client_options={"task_poll_interval": 0.1},
        init_blocks=1,
        min_blocks=0,
        max_blocks=1,
    )
    config = htex_config(provider, tmp_path / "runinfo", "sfapi-e2e")
    with parsl.load(config):
        results = [double(n).result(timeout=120) for n in range(10)]
    parsl.clear()
    assert results == [2 * n for n in range(10)]
    jobs = emulator_jobs(facility, "parsl.sfapi-e2e.block-")
    assert len(jobs) == 1
    leaked = [
        str(path)
        for path in (tmp_path / "runinfo").rglob("*")
        if path.is_file() and b"PRIVATE KEY" in path.read_bytes()
    ]
    assert leaked == []

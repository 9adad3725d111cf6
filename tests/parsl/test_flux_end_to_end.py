"""Parsl's HighThroughputExecutor on emulated Flux: FacilityProvider starts a pilot job through
the Flux RESTful API (shared-secret handshake), the pilot's workers run the apps, and the block is
cancelled at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import parsl
import pytest

from facility_emulator import EmulatorConfig, EmulatorServer

from .conftest import REPO_ROOT, htex_config, make_provider

pytestmark = pytest.mark.slow


@parsl.python_app
def cube(x: int) -> int:
    return x * x * x


@parsl.bash_app
def show_marker(stdout: str | None = None) -> str:
    return "echo marker=$FLUX_E2E_MARKER"


@pytest.fixture(scope="module")
def facility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("parsl-flux"), queue_delay=0.1)
    with EmulatorServer(config) as server:
        yield server


def test_apps_run_on_a_flux_pilot(facility: EmulatorServer, tmp_path: Path) -> None:
    credentials = facility.flavour_credentials("flux")
    provider = make_provider(
        facility,
        facility="flux",
        base_url=facility.api_url("flux"),
        resource="flux",
        auth=None,
        account=None,
        queue=None,
        client_options={
            "user": credentials["user"],
            "token": credentials["token"],
            "secret_key": credentials["secret_key"],
        },
        environment={"PYTHONPATH": REPO_ROOT, "FLUX_E2E_MARKER": "through-flux"},
        init_blocks=1,
        min_blocks=0,
        max_blocks=1,
    )
    config = htex_config(provider, tmp_path / "runinfo", "flux-e2e")
    with parsl.load(config):
        results = [cube(n).result(timeout=120) for n in range(10)]
        marker_file = tmp_path / "marker.txt"
        assert show_marker(stdout=str(marker_file)).result(timeout=60) == 0
    parsl.clear()
    assert results == [n**3 for n in range(10)]
    assert marker_file.read_text() == "marker=through-flux\n"
    secrets = (credentials["token"], credentials["secret_key"])
    leaked = [
        str(path)
        for path in (tmp_path / "runinfo").rglob("*")
        if path.is_file() and any(secret.encode() in path.read_bytes() for secret in secrets)
    ]
    assert leaked == []
    instance = httpx.get(f"{facility.url}/_emulator/flux", timeout=10).json()["shared-secret"]
    assert instance["jobs"] >= 1

"""Parsl staging of ``facility://`` files: an app running on the emulated ALCF's pilot reads a file
staged in from the emulated NERSC and leaves its output at the emulated OLCF, every move a Globus
transfer of the emulator.

The pilot's staging place is ALCF's Eagle storage, whose collection and root the IRI v2 storage
access endpoints report; NERSC's and OLCF's collections come from configuration.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import parsl
import pytest
from parsl.data_provider.files import File

from facility_common import ClientSettings
from facility_common.transfers import AsyncTransferClient, FacilitySite, TransferClient
from facility_emulator import EmulatorConfig, EmulatorServer
from parsl_facility.staging import FacilityStaging

from .conftest import htex_config, make_provider

pytestmark = pytest.mark.slow


@parsl.python_app
def count_words(inputs: list[File] = (), outputs: list[File] = ()) -> int:  # type: ignore[assignment]
    with open(inputs[0].filepath) as source:
        words = len(source.read().split())
    with open(outputs[0].filepath, "w") as target:
        target.write(f"{words}\n")
    return words


@pytest.fixture(scope="module")
def facility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("parsl-staging"), queue_delay=0.1, task_delay=0.01)
    with EmulatorServer(config) as server:
        yield server


def _collections(server: EmulatorServer) -> dict[str, Any]:
    return dict(server.flavour_credentials("globus")["collections"])


def _transfers(server: EmulatorServer) -> TransferClient:
    credentials, collections = server.credentials, _collections(server)
    alcf = ClientSettings(
        conn_id="alcf",
        backend="iri",
        base_url=server.iri_url("v2"),
        auth=credentials["static_token"],
        options={"project": "demo"},
    )
    client = AsyncTransferClient.connect(
        globus_auth={
            "type": "globus_confidential",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "auth_base_url": f"{server.url}/globus/",
        },
        globus_url=f"{server.url}/transfer/",
        sites=[
            FacilitySite("alcf", alcf),
            FacilitySite("nersc", collections={"dtn": collections["nersc-dtn"]["id"]}),
            FacilitySite("olcf", collections={"orion": collections["olcf-dtn"]["id"]}),
        ],
        poll_interval=0.2,
    )
    return TransferClient(client)


def test_an_app_on_one_facility_reads_a_file_staged_from_another(
    facility: EmulatorServer, tmp_path: Path
) -> None:
    run = f"staging-{uuid.uuid4().hex[:8]}"
    roots = {name: Path(item["root"]) for name, item in _collections(facility).items()}
    source = roots["nersc-dtn"] / run / "input.txt"
    source.parent.mkdir(parents=True)
    source.write_text("the quick brown fox jumps over the lazy dog\n" * 4)

    transfers = _transfers(facility)
    staging = FacilityStaging(transfers, "alcf:eagle:/parsl-staging", poll_interval=0.2, timeout=120)
    assert "client_secret" not in repr(staging) and facility.credentials["client_secret"] not in repr(staging)
    provider = make_provider(facility, init_blocks=1, min_blocks=0, max_blocks=1)
    config = htex_config(provider, tmp_path / "runinfo", "staging", executor={"storage_access": [staging]})
    with parsl.load(config):
        future = count_words(
            inputs=[File(f"facility://nersc/dtn/{run}/input.txt")],
            outputs=[File(f"facility://olcf/orion/{run}/count.txt")],
        )
        assert future.result(timeout=240) == 36
        future.outputs[0].result(timeout=120)
    parsl.clear()
    transfers.close()

    # The input was staged onto the pilot's storage (where the app read it) and the output left
    # at the third facility.
    assert (roots["alcf-eagle"] / "parsl-staging" / "input.txt").read_text() == source.read_text()
    assert (roots["olcf-dtn"] / run / "count.txt").read_text() == "36\n"

"""The SF API's Globus routes, driven by NERSC's ``sfapi_client`` (0.6.0) ``storage.globus()``.

They share the Globus engine and collections with the Transfer API: NERSC's names ``dtn`` and
``perlmutter`` are the NERSC DTN collection, ``hpss`` NERSC HPSS, and any collection id works.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sfapi_client import Client
from sfapi_client._models import GlobusStatus

from facility_emulator import EmulatorServer

from ..integration.test_sfapi_spec_conformance import PREFIX, validation_errors
from .globus_support import collection, make_tree, tree_digests


def _key_file(server: EmulatorServer, folder: Path) -> Path:
    creds = server.flavour_credentials("sfapi")
    path = folder / "sfapi-key.pem"
    path.write_text(f"{creds['client_id']}\n{creds['private_key']}")
    path.chmod(0o600)
    return path


@pytest.fixture
def sfapi(server: EmulatorServer, tmp_path: Path) -> Iterator[Client]:
    with Client(
        key=_key_file(server, tmp_path),
        api_base_url=server.api_url("sfapi"),
        token_url=server.flavour_credentials("sfapi")["token_url"],
        wait_interval=0.1,
    ) as client:
        yield client


def test_sfapi_client_archives_analysis_output_at_olcf(server: EmulatorServer, sfapi: Client) -> None:
    nersc, kronos = collection(server, "nersc-dtn"), collection(server, "olcf-kronos")
    digests = make_tree(nersc.root / "pscratch/analysis/out", 4 * 1024 * 1024, files=4)
    globus = sfapi.storage.globus()
    transfer = globus.start_transfer(
        "perlmutter", kronos.id, "/pscratch/analysis/out", "/archive/out", "archive"
    )
    assert transfer.transfer_id and transfer.status.value == "OK"
    assert transfer.complete(timeout=60) == GlobusStatus.SUCCEEDED
    assert tree_digests(kronos.root / "archive/out") == digests
    assert transfer.bytes_transferred == 4 * 1024 * 1024 and transfer.completion_time is not None
    again = globus.transfer(transfer.transfer_id)
    assert again.globus_status == GlobusStatus.SUCCEEDED and again.reason is None


def test_a_file_lands_in_the_target_directory(server: EmulatorServer, sfapi: Client) -> None:
    eagle, hpss = collection(server, "alcf-eagle"), collection(server, "nersc-hpss")
    (eagle.root / "one-file.txt").write_text("one\n")
    transfer = sfapi.storage.globus().start_transfer(eagle.id, "hpss", "/one-file.txt", "/inbox")
    assert transfer.complete(timeout=60) == GlobusStatus.SUCCEEDED
    assert (hpss.root / "inbox" / "one-file.txt").read_text() == "one\n"


def test_a_missing_source_fails_with_the_reason(sfapi: Client) -> None:
    transfer = sfapi.storage.globus().start_transfer("dtn", "hpss", "/pscratch/not-there", "/inbox")
    assert transfer.complete(timeout=60) == GlobusStatus.FAILED
    assert transfer.reason == "FILE_NOT_FOUND: file not found"


def test_refusals_take_the_sf_api_shapes(server: EmulatorServer, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{server.api_url('sfapi')}/storage/globus/transfer"
    form = {"source_uuid": "nowhere", "target_uuid": "dtn", "source_dir": "/a", "target_dir": "/b"}
    unknown = httpx.post(url, data=form, headers=headers)
    assert unknown.status_code == 200
    assert unknown.json()["status"] == "ERROR" and "nowhere" in unknown.json()["reason"]
    missing = httpx.post(url, data={"source_uuid": "dtn"}, headers=headers)
    assert missing.status_code == 422
    assert {tuple(d["loc"]) for d in missing.json()["detail"]} == {
        ("body", "target_uuid"),
        ("body", "source_dir"),
        ("body", "target_dir"),
    }
    not_found = httpx.get(f"{url}/00000000-0000-0000-0000-000000000000", headers=headers).json()
    assert not_found["status"] == "ERROR"
    assert httpx.post(url, data=form).status_code == 401


def test_the_globus_exchanges_follow_the_sf_api_spec(server: EmulatorServer, sfapi: Client) -> None:
    nersc = collection(server, "nersc-dtn")
    (nersc.root / "spec-check.txt").write_text("checked\n")
    server.clear_exchanges()
    globus = sfapi.storage.globus()
    transfer = globus.start_transfer("dtn", "hpss", "/spec-check.txt", "/spec")
    assert transfer.complete(timeout=60) == GlobusStatus.SUCCEEDED
    exchanges = [e for e in server.exchanges() if e.path.startswith(PREFIX + "/")]
    assert {e.route for e in exchanges} == {
        f"{PREFIX}/status/globus",
        f"{PREFIX}/storage/globus/transfer",
        f"{PREFIX}/storage/globus/transfer/{{transfer_id}}",
    }
    failures = [message for exchange in exchanges for message in validation_errors(exchange)]
    assert not failures, failures

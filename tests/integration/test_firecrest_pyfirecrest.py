"""pyfirecrest itself, used as its README shows, against the emulated FirecREST; and the staged
transfer path of our backend, byte exact.

The README way: ``ClientCredentialsAuth(client_id, client_secret, token_uri)`` and
``firecrest.v2.Firecrest(firecrest_url=..., authorization=...)``, then ``systems``, ``submit``,
``job_info``, ``list_files``, ``upload`` and ``download`` (small files go direct, large ones
through the staged S3 path with presigned part URLs served by the emulator).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import firecrest as f7t
import pytest

from facility_common import FacilityClient

# pyfirecrest posts the multipart completion XML with httpx's deprecated ``data=`` bytes form.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def _readme_client(emulator: Any) -> Any:
    credentials = emulator.credentials
    keycloak = f7t.ClientCredentialsAuth(
        credentials["client_id"], credentials["client_secret"], credentials["token_url"]
    )
    return f7t.v2.Firecrest(firecrest_url=emulator.api_url("firecrest"), authorization=keycloak)


def test_pyfirecrest_as_its_readme_shows(emulator: Any, tmp_path: Path) -> None:
    client = _readme_client(emulator)
    home = emulator.credentials["home"]

    systems = client.systems()
    assert {s["name"] for s in systems} >= {"daint", "eiger"}

    job = client.submit(
        "daint", working_dir=home, script_str="#!/bin/bash\n#SBATCH --job-name=readme\necho readme-ok\n"
    )
    info = client.wait_for_job("daint", job["jobId"], timeout=60)
    assert info[0]["status"]["state"] == "COMPLETED"
    assert client.job_info("daint", job["jobId"])[0]["name"] == "readme"

    workdir = f"{home}/readme-{os.getpid()}"
    client.mkdir("daint", workdir, create_parents=True)
    small = tmp_path / "small.txt"
    small.write_text("hello firecrest\n")
    assert client.upload("daint", small, workdir, "small.txt") is None  # direct
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1536 * 1024))  # above pyfirecrest's 1 MiB direct limit: staged
    assert client.upload("daint", big, workdir, "big.bin") is not None
    names = {entry["name"] for entry in client.list_files("daint", workdir)}
    assert names == {"small.txt", "big.bin"}

    back_small = tmp_path / "back-small.txt"
    client.download("daint", f"{workdir}/small.txt", back_small)
    assert back_small.read_text() == "hello firecrest\n"
    back_big = tmp_path / "back-big.bin"
    client.download("daint", f"{workdir}/big.bin", back_big)
    assert back_big.read_bytes() == big.read_bytes()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture
def backend_client(emulator: Any) -> Any:
    credentials = emulator.credentials
    with FacilityClient.connect(
        "firecrest",
        base_url=emulator.api_url("firecrest"),
        auth={
            "type": "oidc_client_credentials",
            "token_url": credentials["token_url"],
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
        account="demo",
    ) as client:
        yield client


def test_20_mib_round_trip_through_the_staged_path(
    backend_client: Any, emulator: Any, tmp_path: Path
) -> None:
    home = emulator.credentials["home"]
    source = tmp_path / "twenty.bin"
    with source.open("wb") as handle:
        for _ in range(20):
            handle.write(os.urandom(1024 * 1024))
    seen: list[tuple[int, int | None]] = []
    remote = f"{home}/staged-{time.time_ns()}.bin"
    backend_client.upload("eiger", source, remote, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (20 * 1024 * 1024, 20 * 1024 * 1024)
    assert backend_client.stat("eiger", remote).size == 20 * 1024 * 1024
    assert backend_client.checksum("eiger", remote) == f"sha256:{_sha256(source)}"
    back = tmp_path / "back.bin"
    backend_client.download("eiger", remote, back)
    assert _sha256(back) == _sha256(source)
    assert not list(tmp_path.glob(".back.bin.*.part"))
    routes = {e.route for e in emulator.exchanges() if e.route}
    assert any("transfer/upload" in r for r in routes) and any("transfer/download" in r for r in routes)
    assert any("/parts/" in r for r in routes)

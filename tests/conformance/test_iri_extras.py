"""The IRI backend's newer operations against the emulator: the contract's update_job, symlink,
checksum, file_type, compress and extract (async client, and the sync facade for the facade's
flavour, as in test_contract.py), and the IRI-only extras. Runs on the IRI flavours only."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from facility_common import (
    AsyncFacilityClient,
    FacilityClient,
    JobAttributes,
    JobSpec,
    JobState,
    NotFoundError,
    ResourceSpec,
)
from facility_common.backends.iri import IRIBackend
from facility_common.errors import APIError, JobSubmissionError
from facility_emulator import EmulatorConfig, EmulatorServer

from .flavour import Flavour
from .flavours.iri import FLAVOURS as IRI_FLAVOURS
from .flavours.iri import iri_flavour

#: The flavours this module runs on (see conftest.pytest_generate_tests).
FLAVOUR_NAMES = sorted(IRI_FLAVOURS)
WAIT = {"timeout": 60, "poll_interval": 0.2}


@pytest.fixture(scope="module")
def slow_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """An emulator whose jobs wait 30 s in the queue (so they can still be updated), with one
    planned incident on eagle (so status events exist)."""
    config = EmulatorConfig(root=tmp_path_factory.mktemp("slow-queue"), queue_delay=30.0, task_delay=0.01)
    with EmulatorServer(config) as server:
        start = datetime.now(UTC) + timedelta(days=30)
        answer = httpx.post(
            f"{server.url}/_emulator/incidents",
            json={
                "name": "eagle maintenance",
                "type": "planned",
                "start": start.isoformat(),
                "end": (start + timedelta(hours=6)).isoformat(),
                "resources": ["eagle"],
            },
        )
        answer.raise_for_status()
        yield server


def spec(executable: str, *arguments: str, seconds: int = 60, **changes: Any) -> JobSpec:
    return JobSpec(
        executable=executable,
        arguments=list(arguments),
        resources=ResourceSpec(node_count=1),
        attributes=JobAttributes(duration=timedelta(seconds=seconds), queue_name="debug", account="demo"),
        **changes,
    )


def upload_bytes(client: Any, flavour: Flavour, tmp_path: Path, remote: str, data: bytes) -> None:
    local = tmp_path / os.path.basename(remote)
    local.write_bytes(data)
    client.upload(flavour.compute, local, remote)


# -- contract operations, through the `client` fixture ---------------------------------------------


def test_update_of_a_started_job_is_refused(client: Any, flavour: Flavour) -> None:
    job = client.submit(flavour.compute, spec("/bin/true"))
    done = client.wait(flavour.compute, job.id, **WAIT)
    assert done.state is JobState.COMPLETED
    with pytest.raises(JobSubmissionError) as refused:
        client.update_job(flavour.compute, job.id, spec("/bin/true", seconds=120))
    assert refused.value.status_code == 409
    assert "only new or queued jobs can be updated" in str(refused.value)


def test_update_of_an_unknown_job_is_not_found(client: Any, flavour: Flavour) -> None:
    with pytest.raises(NotFoundError):
        client.update_job(flavour.compute, "no-such-job", spec("/bin/true"))


def test_symlink(client: Any, flavour: Flavour, workdir: str, tmp_path: Path) -> None:
    upload_bytes(client, flavour, tmp_path, f"{workdir}/target.txt", b"through the link\n")
    client.symlink(flavour.compute, f"{workdir}/target.txt", f"{workdir}/link.txt")
    entries = {entry.name: entry for entry in client.ls(flavour.compute, workdir)}
    assert entries["link.txt"].type == "symlink"
    assert (entries["link.txt"].link_target or "").endswith("/target.txt")
    assert client.view(flavour.compute, f"{workdir}/link.txt") == "through the link\n"
    assert client.file_type(flavour.compute, f"{workdir}/link.txt").startswith("symbolic link")


def test_checksum_is_sha256_of_the_bytes(client: Any, flavour: Flavour, workdir: str, tmp_path: Path) -> None:
    payload = os.urandom(20000) + bytes(range(256))
    upload_bytes(client, flavour, tmp_path, f"{workdir}/data.bin", payload)
    assert client.checksum(flavour.compute, f"{workdir}/data.bin") == (
        "sha256:" + hashlib.sha256(payload).hexdigest()
    )
    with pytest.raises(NotFoundError):
        client.checksum(flavour.compute, f"{workdir}/missing.bin")


def test_file_type(client: Any, flavour: Flavour, workdir: str, tmp_path: Path) -> None:
    upload_bytes(client, flavour, tmp_path, f"{workdir}/notes.txt", b"plain words\n")
    upload_bytes(client, flavour, tmp_path, f"{workdir}/blob.bin", b"\xff\xfe\x00\x81" * 64)
    assert client.file_type(flavour.compute, f"{workdir}/notes.txt") == "ASCII text"
    assert client.file_type(flavour.compute, f"{workdir}/blob.bin") == "data"
    assert client.file_type(flavour.compute, workdir) == "directory"
    with pytest.raises(NotFoundError):
        client.file_type(flavour.compute, f"{workdir}/missing.txt")


@pytest.mark.parametrize(("compression", "suffix"), [("gzip", "tar.gz"), ("xz", "tar.xz"), ("none", "tar")])
def test_compress_and_extract_round_trip(
    client: Any, flavour: Flavour, workdir: str, tmp_path: Path, compression: str, suffix: str
) -> None:
    files = {"a.bin": os.urandom(5000), "b.txt": b"second file\n" * 50}
    client.mkdir(flavour.compute, f"{workdir}/src")
    for name, data in files.items():
        upload_bytes(client, flavour, tmp_path, f"{workdir}/src/{name}", data)
    archive = f"{workdir}/src.{suffix}"
    if compression == "gzip":
        client.compress(flavour.compute, f"{workdir}/src", archive)  # gzip is the default
        client.extract(flavour.compute, archive, f"{workdir}/out")
    else:
        client.compress(flavour.compute, f"{workdir}/src", archive, compression=compression)
        client.extract(flavour.compute, archive, f"{workdir}/out", compression=compression)
    assert client.stat(flavour.compute, archive).type == "file"
    unpacked = {entry.name: entry for entry in client.ls(flavour.compute, f"{workdir}/out")}
    base = f"{workdir}/out/src" if "src" in unpacked and unpacked["src"].is_dir else f"{workdir}/out"
    for name, data in files.items():
        local = tmp_path / f"back-{name}"
        client.download(flavour.compute, f"{base}/{name}", local)
        assert local.read_bytes() == data


def test_extracting_a_missing_archive_is_not_found(client: Any, flavour: Flavour, workdir: str) -> None:
    with pytest.raises(NotFoundError):
        client.extract(flavour.compute, f"{workdir}/none.tar.gz", f"{workdir}/out")


# -- update_job on a queue that holds jobs back -------------------------------------------------


def on_slow_queue(slow_queue: EmulatorServer, flavour: Flavour) -> Flavour:
    """``flavour`` pointed at the slow queue, which is put in the flavour's fidelity."""
    httpx.put(f"{slow_queue.url}/_emulator/config", json={"fidelity": flavour.fidelity}).raise_for_status()
    version = "v2" if flavour.base_url.rstrip("/").endswith("v2") else "v1"
    return iri_flavour(slow_queue, version, flavour.fidelity)


def test_update_of_a_queued_job(slow_queue: EmulatorServer, flavour: Flavour) -> None:
    own = on_slow_queue(slow_queue, flavour)
    with FacilityClient.connect(own.facility, base_url=own.base_url, auth=own.auth, **own.options) as client:
        job = client.submit(own.compute, spec("/bin/sleep", "1", name="before"))
        updated = client.update_job(own.compute, job.id, spec("/bin/sleep", "1", seconds=600, name="after"))
        assert updated.id == job.id and updated.state is JobState.PENDING and updated.name == "after"
        again = client.update_job(own.compute, job.id, spec("/bin/sleep", "1", seconds=600, name="after"))
        assert again.name == "after"  # the same update twice is harmless
        seen = client.get_job(own.compute, job.id)
        assert seen.state is JobState.PENDING
        if own.fidelity == "spec":  # the reference server reports no job_spec
            assert seen.name == "after" and seen.raw["job_spec"]["attributes"]["duration"] == 600
        client.cancel(own.compute, job.id)


# -- IRI-only extras, on the async backend under anyio.run --------------------------------------


def test_iri_extras(slow_queue: EmulatorServer, flavour: Flavour) -> None:
    own = on_slow_queue(slow_queue, flavour)
    version = "v2" if own.base_url.rstrip("/").endswith("v2") else "v1"

    async def main() -> None:
        async with AsyncFacilityClient.connect(
            own.facility, base_url=own.base_url, auth=own.auth, **own.options
        ) as client:
            backend = client.backend
            assert isinstance(backend, IRIBackend)
            info = await backend.facility_info()
            assert info["short_name"] == "ALCF" and info["site_uris"]
            sites = await backend.sites()
            assert len(sites) == 1
            site = await backend.site(sites[0]["id"])
            assert site["short_name"] == "ANL" and site["resource_uris"]
            with pytest.raises(NotFoundError):
                await backend.site("nowhere")

            events = await backend.events("eagle")
            assert [e["status"] for e in events] == ["down", "up"]
            incident_id = events[0]["incident_uri"].rstrip("/").rsplit("/", 1)[-1]
            assert [e["id"] for e in await backend.events(incident_id=incident_id)] == [
                e["id"] for e in events
            ]
            assert await backend.events("polaris") == []
            later = datetime.fromisoformat(events[0]["occurred_at"].replace("Z", "+00:00")) + timedelta(
                hours=1
            )
            assert [e["id"] for e in await backend.events("eagle", since=later)] == [events[1]["id"]]
            assert (await backend.event(events[1]["id"]))["status"] == "up"
            outage = await backend.incident(incident_id)
            assert outage.planned is True and outage.resources == ("eagle",)
            with pytest.raises(NotFoundError):
                await backend.incident("no-such-incident")

            assert {r.name for r in await backend.compute_resources()} == {"polaris", "aurora"}
            assert {r.name for r in await backend.filesystem_resources()} == {"eagle", "home"}

            home = own.scratch
            await backend.mkdir("polaris", f"{home}/extras-{version}", parents=True)
            tasks = await backend.tasks()
            assert tasks and all(
                t["status"] in ("pending", "active", "completed", "failed", "canceled") for t in tasks
            )
            mkdir_task = next(
                t
                for t in reversed(tasks)
                if t["command"]["command"] == "mkdir"
                and t["command"]["args"]["path"].endswith(f"extras-{version}")
            )
            got = await backend.get_task(mkdir_task["id"])
            assert got["status"] == "completed" and got["id"] == mkdir_task["id"]
            await backend.delete_task(mkdir_task["id"])
            with pytest.raises(NotFoundError):
                await backend.get_task(mkdir_task["id"])
            with pytest.raises(APIError):
                await backend.delete_task(mkdir_task["id"])

    anyio.run(main)

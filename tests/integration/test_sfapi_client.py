"""NERSC's own ``sfapi_client`` (0.6.0) works against the emulated SF API.

The client is pointed at the emulator with ``api_base_url``/``token_url`` and authenticates the
way NERSC users do: a key file (client id on the first line, then the PEM private key, mode 0600)
turned into a private-key JWT assertion by authlib. This keeps the emulator faithful to what the
real API's own client expects: status, submit (a task awaited for its ``jobid``), job state from
squeue and sacct, ls, upload and download.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from facility_emulator import EmulatorConfig, EmulatorServer

sfapi_client = pytest.importorskip("sfapi_client")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("sfapi-client"), queue_delay=0.05, task_delay=0.0)
    with EmulatorServer(config) as running:
        yield running


def key_file(server: EmulatorServer, tmp_path: Path) -> Path:
    creds = server.flavour_credentials("sfapi")
    path = tmp_path / "clientid.pem"
    path.write_text(f"{creds['client_id']}\n{creds['private_key']}")
    path.chmod(0o600)
    return path


def test_sfapi_client_status_submit_state_and_files(server: EmulatorServer, tmp_path: Path) -> None:
    from sfapi_client import AsyncClient
    from sfapi_client.compute import Machine
    from sfapi_client.jobs import JobState

    creds = server.flavour_credentials("sfapi")
    home = server.credentials["home"]

    async def scenario() -> None:
        async with AsyncClient(
            key=key_file(server, tmp_path),
            api_base_url=server.api_url("sfapi"),
            token_url=creds["token_url"],
            wait_interval=0.2,
        ) as client:
            status = await client.resources.status(Machine.perlmutter)
            assert status.status.value == "active"
            planned = await client.resources.planned_outages(Machine.perlmutter)
            assert planned and planned[0].status.value == "Planned"

            perlmutter = await client.compute(Machine.perlmutter)
            script = f"#!/bin/bash\n#SBATCH --job-name=sfapi-client\n#SBATCH --output={home}/sfc-%j.out\necho hi from $SLURM_JOB_ID\n"
            job = await perlmutter.submit_job(script)
            assert job.jobid
            assert await job.complete(timeout=60) == JobState.COMPLETED
            sacct = await perlmutter.job(job.jobid)
            assert sacct.state == JobState.COMPLETED and sacct.exitcode == "0:0"

            [output] = await perlmutter.ls(f"{home}/sfc-{job.jobid}.out")
            assert (await output.download()).read() == f"hi from {job.jobid}\n"

            [directory] = await perlmutter.ls(home, directory=True)
            upload = io.BytesIO(b"\x00\x01binary\xff")
            upload.filename = "blob.bin"  # type: ignore[attr-defined]
            await directory.upload(upload)
            [blob] = await perlmutter.ls(f"{home}/blob.bin")
            assert blob.size == 9
            assert (await blob.download(binary=True)).read() == b"\x00\x01binary\xff"
            assert await perlmutter.run("echo ran") == "ran\n"

    anyio.run(scenario)


def test_sfapi_client_sees_a_cancelled_job(server: EmulatorServer, tmp_path: Path) -> None:
    from sfapi_client import AsyncClient
    from sfapi_client.compute import Machine
    from sfapi_client.jobs import JobState

    creds = server.flavour_credentials("sfapi")

    async def scenario() -> None:
        async with AsyncClient(
            client_id=creds["client_id"],
            secret=creds["private_key"],
            api_base_url=server.api_url("sfapi"),
            token_url=creds["token_url"],
            wait_interval=0.2,
        ) as client:
            perlmutter = await client.compute(Machine.perlmutter)
            job = await perlmutter.submit_job("#!/bin/bash\nsleep 60\n")
            await job.running(timeout=30)
            await job.cancel(wait=True)
            assert job.state == JobState.CANCELLED

    anyio.run(scenario)

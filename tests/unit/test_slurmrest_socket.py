"""The slurmrest backend over slurmrestd's UNIX socket, on the real local Slurm (skipped with the
reason when scripts/slurm-local.sh is not running)."""

from __future__ import annotations

import anyio
import pytest

from facility_common import AsyncFacilityClient, JobSpec, JobState

from ..conformance.flavours.slurmrest import ENV_FILE, slurm_settings


def test_jobs_over_the_unix_socket() -> None:
    settings = slurm_settings()
    if settings is None or not settings.get("SLURMREST_SOCKET"):
        pytest.skip(f"local Slurm is not running ({ENV_FILE} is absent; run scripts/slurm-local.sh start)")

    async def main() -> None:
        async with AsyncFacilityClient.connect(
            "slurmrest",
            base_url="http://localhost",
            socket=settings["SLURMREST_SOCKET"],
            auth=settings["SLURM_JWT"],
            user_name=settings["SLURM_USER"],
            api_version="v0.0.38",
        ) as client:
            assert (await client.backend.ping())[0]["ping"] == "UP"
            job = await client.submit(
                settings.get("SLURM_PARTITION", "debug"), JobSpec(executable="/bin/true")
            )
            done = await client.wait("debug", job.id, timeout=60, poll_interval=0.2)
            assert done.state is JobState.COMPLETED

    anyio.run(main)

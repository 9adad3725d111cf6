"""Identity and allocations on the real local Slurm with accounting (scripts/slurm-local.sh): the
user's accounts from ``/slurmdb/v0.0.38/user``, an account's ``GrpTRESMins`` as its allocation and
its jobs' recorded run time as its usage, which a job charged to it raises. The test account
``facility-alloc`` (limits ``node=600,cpu=1200`` minutes) is added with ``sacctmgr`` when absent.
Skipped with the reason when that Slurm is not running or ``sacctmgr`` cannot change it."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import timedelta

import anyio
import pytest

from facility_common import AllocationThreshold, AsyncFacilityClient, JobAttributes, JobSpec, JobState

from ..conformance.flavours.slurmrest import ENV_FILE, slurm_settings

pytestmark = pytest.mark.slow

ACCOUNT = "facility-alloc"
LIMITS = "node=600,cpu=1200"


def _sacctmgr(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sacctmgr", "-i", *arguments], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def settings() -> dict[str, str]:
    found = slurm_settings()
    if found is None:
        pytest.skip(f"local Slurm is not running ({ENV_FILE} is absent; run scripts/slurm-local.sh start)")
    if found.get("SLURM_ACCOUNTING") != "slurmdbd" or shutil.which("sacctmgr") is None:
        pytest.skip("the local Slurm runs without accounting; run scripts/slurm-local.sh start to add it")
    listed = subprocess.run(
        ["sacctmgr", "-n", "-P", "list", "assoc", f"account={ACCOUNT}", "format=user,grptresmins"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if f"|{LIMITS}" not in listed.stdout or f"{found['SLURM_USER']}|" not in listed.stdout:
        for step in (
            (
                "add",
                "account",
                ACCOUNT,
                "cluster=local",
                "description=allocation tests",
                "organization=local",
            ),
            ("add", "user", found["SLURM_USER"], f"account={ACCOUNT}", "cluster=local"),
            ("modify", "account", ACCOUNT, "cluster=local", "set", f"GrpTRESMins={LIMITS}"),
        ):
            done = _sacctmgr(*step)
            if done.returncode != 0 and "Nothing new added" not in done.stdout + done.stderr:
                pytest.skip(
                    f"sacctmgr could not set up {ACCOUNT}: {done.stderr.strip() or done.stdout.strip()}"
                )
    return found


def test_an_accounts_allocation_is_its_limit_and_its_jobs_use(settings: dict[str, str]) -> None:
    async def main() -> None:
        async with AsyncFacilityClient.connect(
            "slurmrest",
            base_url=settings["SLURMREST_URL"],
            auth=settings["SLURM_JWT"],
            user_name=settings["SLURM_USER"],
            directory="/tmp",
        ) as client:
            identity = await client.whoami()
            assert ACCOUNT in identity.projects and identity.default_project in identity.projects
            before = {a.unit: a for a in await client.allocations(ACCOUNT)}
            assert (before["node-hours"].allocated, before["cpu-hours"].allocated) == (10.0, 20.0)
            assert {a.resource for a in before.values()} == {"local"}

            spec = JobSpec(
                executable="/bin/sleep",
                arguments=["1.5"],
                attributes=JobAttributes(duration=timedelta(minutes=1), account=ACCOUNT),
            )
            job = await client.submit(settings.get("SLURM_PARTITION", "debug"), spec)
            partition = settings.get("SLURM_PARTITION", "debug")
            assert (await client.wait(partition, job.id, poll_interval=0.2)).state is JobState.COMPLETED
            deadline = time.monotonic() + 60
            after = before
            while after["node-hours"].used <= before["node-hours"].used and time.monotonic() < deadline:
                await anyio.sleep(0.2)
                after = {a.unit: a for a in await client.allocations(ACCOUNT)}
            assert after["node-hours"].used > before["node-hours"].used
            assert after["node-hours"].remaining < before["node-hours"].remaining  # type: ignore[operator]
            # The gate's rule: any use leaves less than the whole grant.
            assert not AllocationThreshold.parse("100%").verdict(list(after.values()), ACCOUNT).ok

    anyio.run(main)

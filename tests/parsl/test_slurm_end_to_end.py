"""Parsl's HighThroughputExecutor with FacilityProvider on the real local Slurm, through
slurmrestd: the pilot is a real Slurm job and its workers run inside it.

Needs scripts/slurm-local.sh running (skipped with the reason otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import parsl
import pytest

from facility_common import FacilityClient, JobState

from ..conformance.flavours.slurmrest import ENV_FILE, slurm_settings
from .conftest import REPO_ROOT, VENV_BIN, htex_config

pytestmark = pytest.mark.slow


@parsl.python_app
def slurm_job_id() -> str:
    import os

    return os.environ.get("SLURM_JOB_ID", "")


@parsl.python_app
def cube(x: int) -> int:
    return x * x * x


@pytest.fixture(scope="module")
def settings() -> dict[str, str]:
    found = slurm_settings()
    if found is None:
        pytest.skip(f"local Slurm is not running ({ENV_FILE} is absent; run scripts/slurm-local.sh start)")
    return found


@pytest.fixture(scope="module")
def client_options(settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("slurm-pilots")
    workdir.chmod(0o755)
    return {
        "user_name": settings["SLURM_USER"],
        "directory": str(workdir),
        "local_output": True,
        # slurmrestd jobs get only the environment that is sent: Parsl's scripts must be on PATH.
        "environment": {"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir)},
    }


@pytest.fixture(scope="module")
def run(
    settings: dict[str, str], client_options: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from parsl_facility import FacilityProvider

    provider = FacilityProvider(
        facility="slurmrest",
        base_url=settings["SLURMREST_URL"],
        resource=settings.get("SLURM_PARTITION", "debug"),
        auth=settings["SLURM_JWT"],
        client_options=client_options,
        walltime="00:05:00",
        init_blocks=1,
        min_blocks=0,
        max_blocks=1,
        status_polling_interval=1,
        environment={"PYTHONPATH": REPO_ROOT},
    )
    run_dir: Path = tmp_path_factory.mktemp("slurm-runinfo")
    with parsl.load(htex_config(provider, run_dir, "slurm")):
        results = [cube(n).result(timeout=120) for n in range(20)]
        job_ids = {slurm_job_id().result(timeout=60) for _ in range(4)}
        block_ids = list(provider.resources)
    parsl.clear()
    yield {"results": results, "job_ids": job_ids, "block_ids": block_ids}


def test_results_come_back(run: dict[str, Any]) -> None:
    assert run["results"] == [n**3 for n in range(20)]


def test_workers_run_inside_the_slurm_pilot(
    run: dict[str, Any], settings: dict[str, str], client_options: dict[str, Any]
) -> None:
    assert run["block_ids"], "the provider submitted no block"
    assert run["job_ids"] == {str(run["block_ids"][0])}
    with FacilityClient.connect(
        "slurmrest", base_url=settings["SLURMREST_URL"], auth=settings["SLURM_JWT"], **client_options
    ) as client:
        job = client.wait(
            settings.get("SLURM_PARTITION", "debug"), str(run["block_ids"][0]), timeout=60, poll_interval=0.5
        )
    assert job.state in (JobState.CANCELLED, JobState.COMPLETED)
    assert job.name and job.name.startswith("parsl.slurm")

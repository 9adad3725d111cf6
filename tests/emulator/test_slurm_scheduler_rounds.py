"""The emulator's ``--scheduler slurm`` follows its live jobs with one query per round, not one
``scontrol show job`` per job twice a second, and reads jobs slurmctld forgot from accounting
(needs scripts/slurm-local.sh, with slurmdbd; skipped with the reason otherwise)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from facility_emulator import scheduler as scheduler_module
from facility_emulator.scheduler import LaunchPlan, SlurmScheduler

from ..conformance.flavours.slurmrest import ENV_FILE, slurm_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def settings() -> dict[str, str]:
    found = slurm_settings()
    if found is None:
        pytest.skip(f"local Slurm is not running ({ENV_FILE} is absent; run scripts/slurm-local.sh start)")
    return found


def plan(folder: Path, name: str, command: str) -> LaunchPlan:
    return LaunchPlan(
        argv=["/bin/sh", "-c", command],
        cwd=folder,
        env={"PATH": "/usr/bin:/bin"},
        stdout=folder / f"{name}.out",
        stderr=folder / f"{name}.err",
    )


def test_live_jobs_are_asked_about_in_one_query_per_round(
    settings: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path.chmod(0o755)
    calls: list[list[str]] = []
    real_run = subprocess.run

    def recording_run(argv: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        calls.append(list(argv))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(scheduler_module.subprocess, "run", recording_run)
    slurm = SlurmScheduler(0.0, poll_interval=0.2, partition=settings.get("SLURM_PARTITION", "debug"))
    jobs = [
        slurm.submit("debug", plan(tmp_path, f"job{i}", f"sleep 2; exit {i}"), {}, job_id=f"j{i}")
        for i in range(3)
    ]
    deadline = time.monotonic() + 120
    while not all(job.terminal for job in jobs) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(job.state, job.exit_code) for job in jobs] == [("completed", 0), ("failed", 1), ("failed", 2)]
    slurm_ids = {str(job.extra["slurm_job_id"]) for job in jobs}
    queries = [argv for argv in calls if argv[0] in ("squeue", "scontrol", "sacct")]
    rounds = [argv for argv in queries if argv[0] == "squeue"]
    assert len(rounds) == slurm.status_rounds > 0
    named = [set(argv[3].removeprefix("--jobs=").split(",")) for argv in rounds]
    assert slurm_ids in named, named  # all three live jobs in one query
    shows = [argv for argv in queries if argv[0] == "scontrol"]
    assert len(shows) <= len(jobs)  # a finished job's exit code is read once


def test_a_job_slurmctld_forgot_is_read_from_accounting(settings: dict[str, str], tmp_path: Path) -> None:
    if settings.get("SLURM_ACCOUNTING") != "slurmdbd":
        pytest.skip("the local Slurm runs without accounting; run scripts/slurm-local.sh start to add it")
    tmp_path.chmod(0o755)
    slurm_id = subprocess.run(
        ["sbatch", "--parsable", f"--output={tmp_path}/gone.out", "--wrap", "exit 4"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deadline = time.monotonic() + 120
    found: dict[str, dict[str, str]] = {}
    while time.monotonic() < deadline:
        found = SlurmScheduler._accounted([slurm_id])
        if found.get(slurm_id, {}).get("JobState") == "FAILED":
            break
        time.sleep(0.2)
    assert found[slurm_id] == {"JobState": "FAILED", "ExitCode": "4:0"}
    slurm = SlurmScheduler(0.0)
    job = slurm.submit("debug", plan(tmp_path, "x", "true"), {}, job_id="x", start=False)
    slurm._follow(job, found[slurm_id])
    assert (job.state, job.exit_code) == ("failed", 4)

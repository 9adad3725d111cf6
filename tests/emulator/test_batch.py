"""Batch scripts read the way Slurm reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from facility_emulator.batch import BatchScriptError, batch_plan, parse_directives, slurm_time


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5", 300), ("1:30", 90), ("01:00:00", 3600), ("1-0", 86400), ("1-02:03", 93780), ("0-0:0:2", 2)],
)
def test_slurm_times(text: str, seconds: float) -> None:
    assert slurm_time(text) == seconds


def test_directives_stop_at_the_first_command_and_ignore_indented_ones() -> None:
    script = "#!/bin/bash\n#SBATCH -J demo --time=00:10:00\n  #SBATCH --account=ignored\n#SBATCH -o out-%j.txt\necho hi\n#SBATCH -p late\n"
    directives = parse_directives(script)
    assert directives.job_name == "demo"
    assert directives.time_limit == 600
    assert directives.output == "out-%j.txt"
    assert directives.account is None and directives.partition is None


def test_plan_writes_the_script_and_expands_output_names(tmp_path: Path) -> None:
    plan, _ = batch_plan(
        "#!/bin/bash\n#SBATCH --job-name=x\n#SBATCH --output=%x-%j.out\necho hi\n",
        job_id="7",
        default_cwd=tmp_path,
        env={"A": "1"},
    )
    assert plan.stdout == tmp_path / "x-7.out" == plan.stderr
    assert plan.argv[0] == "/bin/bash" and Path(plan.argv[1]).read_text().startswith("#!/bin/bash")
    assert plan.env["SLURM_JOB_ID"] == "7"


def test_default_output_is_slurm_jobid_out(tmp_path: Path) -> None:
    plan, _ = batch_plan("#!/bin/sh\necho\n", job_id="9", default_cwd=tmp_path, env={})
    assert plan.stdout == tmp_path / "slurm-9.out"


def test_a_script_needs_a_shebang(tmp_path: Path) -> None:
    with pytest.raises(BatchScriptError):
        batch_plan("echo hi\n", job_id="1", default_cwd=tmp_path, env={})

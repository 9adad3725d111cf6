"""The Parsl pilot runs in a login shell, however a backend starts it: slurmrestd and S3M give a
job only the environment sent with it, so without the login profile the worker pool is not on
PATH (``process_worker_pool.py: command not found``, exit 127)."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

from parsl_facility.pilot import PilotSettings, build_job_spec
from parsl_facility.pilot import render_script as render_pilot


def test_the_pilot_is_a_login_shell_script() -> None:
    script = render_pilot(PilotSettings(walltime=timedelta(minutes=5)), "b", "run-workers")
    assert script.splitlines()[0] == "#!/bin/bash -l"


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def test_the_pilot_finds_what_the_login_profile_and_the_job_put_on_path(tmp_path: Path) -> None:
    """slurmrestd sends a job only its environment (``PATH=/usr/local/bin:/usr/bin:/bin``); the
    worker pool is on the PATH the user's login profile sets, as at the facilities."""
    home = tmp_path / "home"
    _executable(home / "env" / "bin" / "process_worker_pool.py", "#!/bin/sh\necho workers up\n")
    _executable(tmp_path / "given" / "given-tool", "#!/bin/sh\necho given tool\n")
    (home / ".bash_profile").write_text(f'export PATH="{home}/env/bin:$PATH"\nexport FROM_PROFILE=yes\n')
    settings = PilotSettings(walltime=timedelta(minutes=5), cores_per_node=2)
    command = (
        'given-tool && echo "$FROM_PROFILE $PARSL_CORES ${FACILITY_JOB_PATH-unset}" && process_worker_pool.py'
    )
    script = render_pilot(settings, "b", command)
    spec = build_job_spec(settings, "b", script)
    assert spec.executable is not None
    environment = {"PATH": f"{tmp_path}/given:/usr/local/bin:/usr/bin:/bin", "HOME": str(home)}
    done = subprocess.run(
        [spec.executable, *spec.arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "given tool\nyes 2 unset\nworkers up\n"), done.stderr


def test_the_pilot_started_as_a_file_is_a_login_shell_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bash_profile").write_text("export FROM_PROFILE=yes\n")
    script = render_pilot(PilotSettings(walltime=timedelta(minutes=5)), "b", 'echo "$FROM_PROFILE"')
    path = tmp_path / "pilot.sh"
    path.write_text(script)
    path.chmod(0o755)
    environment = {"PATH": os.defpath, "HOME": str(home)}
    for argv in (["/bin/bash", str(path)], [str(path)]):
        done = subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=60, check=False)
        assert (done.returncode, done.stdout) == (0, "yes\n"), done.stderr

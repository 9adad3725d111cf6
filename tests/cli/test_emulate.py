"""``facility emulate`` serves the emulator, prints settings without secrets, stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from .conftest import CONNECTION_VARIABLES, run


def test_emulate_prints_settings_that_work_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env_file = tmp_path / "facility.env"
    child_env = {k: v for k, v in os.environ.items() if k not in CONNECTION_VARIABLES}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "facility_cli",
            "emulate",
            "--root",
            str(tmp_path / "root"),
            "--env-file",
            str(env_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "press Ctrl-C to stop" in line:
                break
        printed = "".join(lines)
        settings = dict(
            line.removeprefix("export ").strip().split("=", 1) for line in env_file.read_text().splitlines()
        )
        assert f"export FACILITY_URL={settings['FACILITY_URL']}" in printed
        token = Path(settings["FACILITY_TOKEN_FILE"]).read_text()
        assert token and token not in printed
        assert Path(settings["FACILITY_TOKEN_FILE"]).stat().st_mode & 0o077 == 0
        env: dict[str, str | None] = dict.fromkeys(CONNECTION_VARIABLES)
        env.update(settings)
        env["FACILITY_CONFIG"] = str(tmp_path / "absent.toml")
        assert run(env, "check").exit_code == 0
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        assert "emulator stopped" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

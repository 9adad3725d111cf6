"""``facility emulate`` (the emulator's own command) serves every API, prints settings without a
secret (keys and tokens are 0600 files, printed as paths), stops on Ctrl-C and removes a sandbox
it created."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

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
        assert "PRIVATE KEY" not in printed
        for line in printed.splitlines():
            if line.strip().startswith(("static token:", "all credentials:", "SF API")):
                secret_file = Path(line.split(": ", 1)[1].split(" (")[0].strip())
                assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600, line
        credentials = json.loads((tmp_path / "root" / "credentials.json").read_text())
        assert credentials["client_secret"] not in printed
        env: dict[str, str | None] = dict.fromkeys(CONNECTION_VARIABLES)
        env.update(settings)
        assert run(env, "check").exit_code == 0
        for name in ("sfapi", "flux", "firecrest"):  # every API has a connection in the config file
            assert run({**env, "FACILITY_URL": None}, "check", "--conn", name).exit_code == 0, name
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        assert "emulator stopped" in rest
        assert (tmp_path / "root").is_dir()  # a given sandbox is kept
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_emulate_takes_the_emulator_options_and_removes_its_own_sandbox() -> None:
    child_env = {k: v for k, v in os.environ.items() if k not in CONNECTION_VARIABLES}
    command = [sys.executable, "-m", "facility_cli", "emulate", "--json", "--token-lifetime", "90"]
    command += ["--faults", "latency=0.01", "--queue-delay", "0.05"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env
    )
    try:
        assert process.stdout is not None
        info: dict[str, Any] = json.loads(process.stdout.readline())
        root = Path(info["credentials"]["root"])
        assert info["credentials"]["token_lifetime"] == 90.0
        assert "private_key" not in info["credentials"]["sfapi"]
        assert Path(info["credentials"]["sfapi"]["key_path"]).is_file()
        assert {Path(path).name for path in info["files"].values()} == {
            "facility-token",
            "connections.toml",
            "credentials.json",
        }
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
        assert process.returncode == 0
        assert not root.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_emulate_refuses_a_bad_fault_spec(tmp_path: Path) -> None:
    result = run({"FACILITY_CONFIG": str(tmp_path / "absent.toml")}, "emulate", "--faults", "bogus=1")
    assert result.exit_code == 2
    assert "invalid --faults" in result.stderr

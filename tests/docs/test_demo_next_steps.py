"""The demo ends by saying what to try next, and those three commands work as printed."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    yield importlib.import_module("demo")


@pytest.mark.parametrize("succeeded", [True, False])
def test_the_demo_ends_with_the_next_steps(
    demo: ModuleType, succeeded: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "run_demo", lambda: succeeded)
    assert demo.main() == (0 if succeeded else 1)
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith(demo.next_steps().rstrip())
    assert len(demo.NEXT_STEPS) == 3
    for _, command in demo.NEXT_STEPS:
        assert command in printed


def test_the_next_steps_work_as_printed(demo: ModuleType, tmp_path: Path) -> None:
    """Run the three commands from a directory holding the environment as `.venv`, as the demo's
    checkout does; pasting the printed export lines is done through `--env-file`."""
    (start, _), (check, _), (submit, _) = ((c, w) for w, c in demo.NEXT_STEPS)
    (tmp_path / ".venv").symlink_to(VENV)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACILITY_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(VENV))
    )
    exports = tmp_path / "exports.sh"
    emulator = subprocess.Popen(
        ["bash", "-c", f"{start} --env-file {exports}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while "REMOTE_HOME" not in (exports.read_text() if exports.exists() else ""):
            assert emulator.poll() is None, emulator.stderr.read().decode() if emulator.stderr else ""
            assert time.monotonic() < deadline, "the emulator never wrote its settings"
            time.sleep(0.2)
        second_terminal = f"source .venv/bin/activate && source {exports} && {check} && {submit}"
        result = subprocess.run(
            ["bash", "-c", second_terminal],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "hello from polaris" in result.stdout
    finally:
        os.killpg(emulator.pid, signal.SIGINT)
        try:
            emulator.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(emulator.pid, signal.SIGKILL)
            emulator.wait()

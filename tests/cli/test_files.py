"""The file commands against the emulator's sandbox: the client's file operations, recursive
transfers, and files downloaded with the user's usual mode."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import run


@pytest.fixture
def polaris(env: dict[str, str | None]) -> dict[str, str | None]:
    return {**env, "FACILITY_RESOURCE": "polaris"}


@pytest.fixture
def remote(cli_emulator: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh remote directory in the user's home (the sandbox is this machine's directory)."""
    path = Path(cli_emulator.credentials["home"]) / f"files-{request.node.name}"
    yield str(path)


def test_mkdir_put_stat_cat_head_tail_mv_cp_chmod_rm(
    polaris: dict[str, str | None], remote: str, tmp_path: Path
) -> None:
    assert run(polaris, "mkdir", "-p", f"{remote}/a/b").exit_code == 0
    local = tmp_path / "lines.txt"
    local.write_text("".join(f"line {n}\n" for n in range(1, 21)))
    assert run(polaris, "put", str(local), f"{remote}/a/").exit_code == 0
    shown = run(polaris, "stat", f"{remote}/a/lines.txt", "--json")
    assert json.loads(shown.stdout)["size"] == local.stat().st_size
    assert run(polaris, "cat", f"{remote}/a/lines.txt").stdout == local.read_text()
    assert run(polaris, "head", "-n", "2", f"{remote}/a/lines.txt").stdout == "line 1\nline 2\n"
    assert run(polaris, "tail", "-n", "1", f"{remote}/a/lines.txt").stdout == "line 20\n"
    assert run(polaris, "mv", f"{remote}/a/lines.txt", f"{remote}/a/moved.txt").exit_code == 0
    assert run(polaris, "cp", f"{remote}/a/moved.txt", f"{remote}/copy.txt").exit_code == 0
    assert run(polaris, "chmod", "640", f"{remote}/copy.txt").exit_code == 0
    assert stat.S_IMODE(os.stat(f"{remote}/copy.txt").st_mode) == 0o640
    refused = run(polaris, "rm", f"{remote}/a")
    assert refused.exit_code == 2 and "is a directory" in refused.stderr and "-R" in refused.stderr
    assert run(polaris, "rm", "-R", f"{remote}/a").exit_code == 0
    names = {entry["name"] for entry in json.loads(run(polaris, "ls", remote, "--json").stdout)}
    assert names == {"copy.txt"}


def test_ls_shows_human_sizes_and_local_times(polaris: dict[str, str | None], remote: str) -> None:
    os.makedirs(remote)
    Path(remote, "big.bin").write_bytes(b"x" * 3 * 1024 * 1024)
    listing = run(polaris, "ls", remote)
    row = next(line for line in listing.stdout.splitlines() if "big.bin" in line)
    assert "3.0 MiB" in row and "UTC" in row
    exact = run(polaris, "ls", remote, "--bytes")
    assert str(3 * 1024 * 1024) in exact.stdout


def test_recursive_put_and_get_of_a_tree(polaris: dict[str, str | None], remote: str, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "top.txt").write_text("top\n")
    (tree / "sub" / "deep.txt").write_text("deep\n")
    refused = run(polaris, "put", str(tree), remote)
    assert refused.exit_code == 2 and "give -R" in refused.stderr
    put = run(polaris, "put", "-R", str(tree), remote)
    assert put.exit_code == 0, put.output
    assert "2 files" in put.stdout
    back = tmp_path / "back"
    got = run(polaris, "get", "-R", remote, str(back))
    assert got.exit_code == 0, got.output
    assert (back / "top.txt").read_text() == "top\n" and (back / "sub" / "deep.txt").read_text() == "deep\n"
    assert run(polaris, "get", remote, str(tmp_path / "x")).exit_code == 2


def test_get_writes_files_with_the_usual_mode(
    polaris: dict[str, str | None], remote: str, tmp_path: Path
) -> None:
    os.makedirs(remote)
    Path(remote, "data.txt").write_text("data\n")
    previous = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.txt"
        assert run(polaris, "get", f"{remote}/data.txt", str(fresh)).exit_code == 0
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        kept = tmp_path / "kept.txt"
        kept.write_text("old\n")
        kept.chmod(0o600)
        assert run(polaris, "get", f"{remote}/data.txt", str(kept)).exit_code == 0
        assert kept.read_text() == "data\n" and stat.S_IMODE(kept.stat().st_mode) == 0o600
        into = tmp_path / "dir"
        into.mkdir()
        assert run(polaris, "get", f"{remote}/data.txt", str(into)).exit_code == 0
        assert (into / "data.txt").read_text() == "data\n"
    finally:
        os.umask(previous)


def test_the_progress_bar_shows_a_bar_only_for_a_known_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.progress import BarColumn

    from facility_cli.output import human_size
    from facility_cli.transfer import _Meter

    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    for total, has_bar in ((2048, True), (0, False)):
        meter = _Meter("get x", total)
        with meter.showing():
            meter.file_progress(total // 2, total)
            assert any(isinstance(column, BarColumn) for column in meter._bar.columns) is has_bar
            meter.file_done(total)
        assert meter.summary().startswith(f"{human_size(total)} in ")

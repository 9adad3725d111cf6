"""Every shell and Python block of ``docs/*.md`` and ``README.md`` runs against the emulator.

How a block runs, and the markers that keep one from running or put the emulator's values in place
of a site's, are described in :mod:`tests.docs.snippets`. This module starts one emulator (as
``facility emulate`` does: the same settings files and ``export`` lines), then runs each page's
shell blocks in one ``bash`` and its Python blocks in one Python process, each page in a
temporary directory with a config file of its own.

``facility`` is a small script on ``PATH`` that runs ``python -m facility_cli`` and logs each
call, so the test can tell that every documented command ran. The Python environment's ``bin``
is on ``PATH`` too (the activated environment the docs ask for): Parsl starts ``interchange.py``
and its pilots ``process_worker_pool.py`` through it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .snippets import (
    COMMAND,
    EXPECTED_EXIT,
    PAGES,
    ROOT,
    Block,
    MarkerError,
    blocks,
    emulator_values,
    page_blocks,
    skipped,
)

DRIVER = Path(__file__).with_name("run_python_blocks.py")
VENV_BIN = str(Path(sys.executable).parent)

#: Bound on one page's run: each command is a Python process of its own, slow to start on a
#: loaded machine, so the bound is generous and the test takes only as long as the blocks do.
PAGE_TIMEOUT = 540

#: Blocks kept from running. Each says why; keep them few.
MAX_SKIPPED = 40


def _pages_with(kind: str) -> list[Path]:
    """The pages holding a runnable block of ``kind`` (and any page whose markers are wrong,
    so that its test reports them)."""
    found = []
    for page in PAGES:
        try:
            if page_blocks(page, kind):
                found.append(page)
        except MarkerError:
            found.append(page)
    return found


@pytest.fixture(scope="module")
def emulator_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One emulator, its settings files, and the environment ``facility emulate`` prints."""
    from facility_emulator import EmulatorConfig, EmulatorServer
    from facility_emulator.cli import exports, write_settings

    base = tmp_path_factory.mktemp("docs")
    bin_dir = base / "bin"
    bin_dir.mkdir()
    log = base / "calls.log"
    wrapper = bin_dir / "facility"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" -m facility_cli "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    path = os.pathsep.join([str(bin_dir), VENV_BIN, os.environ.get("PATH", "")])
    # The emulator's jobs (Parsl pilots) inherit this process's environment, as they inherit the
    # shell's where the emulator was started from the activated environment.
    saved_path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([VENV_BIN, saved_path])
    config = EmulatorConfig(root=base / "root", queue_delay=0.05, task_delay=0.01)
    try:
        with EmulatorServer(config) as server:
            described = server.describe()
            files = write_settings(described, base / "root")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("FACILITY_", "AIRFLOW"))}
            for line in exports(described, files, "iri"):
                name, _, value = line.removeprefix("export ").partition("=")
                env[name] = value
            home = _site_home(base, described, files["token"])
            env.update(PATH=path, HOME=str(home), FACILITY_CALL_LOG=str(log), COLUMNS="160")
            yield {
                "env": env,
                "described": described,
                "values": emulator_values(described, files["token"]),
                "config": files["config"].read_text(),
                "log": log,
            }
    finally:
        os.environ["PATH"] = saved_path


def _site_home(base: Path, described: dict[str, Any], token_file: Path) -> Path:
    """A home directory holding the credential files the pages name, with the emulator's
    credentials in them (each readable only by its owner, as the pages ask)."""
    from globus_sdk.token_storage import JSONTokenStorage, TokenStorageData

    from facility_common.auth import ALCF_FACILITY_API_CLIENT_ID, ALCF_IRI_RESOURCE_SERVER

    credentials = described["credentials"]
    home = base / "home"
    files = {
        ".superfacility/priv_key.pem": Path(credentials["sfapi"]["key_path"]).read_text(),
        ".superfacility/iri-token": token_file.read_text(),
        ".olcf/opat": credentials["s3m"]["token"],
        ".olcf/iri-token": token_file.read_text(),
        ".slurm/jwt": credentials["slurmrestd"]["token"],
    }
    for name, text in files.items():
        target = home / name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        target.write_text(text)
        target.chmod(0o600)
    storage = home / ".globus/app" / ALCF_FACILITY_API_CLIENT_ID / "alcf_facility_api_app/tokens.json"
    storage.parent.mkdir(parents=True, mode=0o700)
    tokens = JSONTokenStorage(storage, namespace="DEFAULT")
    tokens.store_token_data_by_resource_server(
        {
            ALCF_IRI_RESOURCE_SERVER: TokenStorageData(
                resource_server=ALCF_IRI_RESOURCE_SERVER,
                identity_id=None,
                scope="",
                access_token="expired",
                refresh_token=credentials["refresh_token"],
                expires_at_seconds=0,
                token_type="Bearer",
            )
        }
    )
    tokens.close()
    storage.chmod(0o600)
    return home


def _page_env(page: Path, emulator_env: dict[str, Any], workdir: Path) -> dict[str, str]:
    """The environment of one page's run: the emulator's, a config file holding the emulator's
    connections and the page's ``toml`` blocks, and a private Airflow home."""
    parts = [emulator_env["config"]]
    for block in page_blocks(page, "config"):
        text = block.text(emulator_env["values"])
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            pytest.fail(f"{block.where}: not valid TOML: {exc}")
        parts.append(f"# {block.where}\n{text}")
    config = workdir / "connections.toml"
    config.write_text("\n".join(parts))
    config.chmod(0o600)
    return {
        **emulator_env["env"],
        "FACILITY_CONFIG": str(config),
        "AIRFLOW_HOME": str(workdir / "airflow-home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def _shell_script(page_blocks_: list[Block], values: dict[str, Any]) -> str:
    parts = [
        "set -euo pipefail",
        'expect_exit() { local want=$1; shift; set +e; "$@"; local got=$?; set -e;'
        ' if [ "$got" != "$want" ]; then echo "expected exit $want, got $got: $*" >&2; exit 99; fi; }',
    ]
    for block in page_blocks_:
        parts.append(f"echo '### {block.where}' >&2")
        parts.extend(block.prelude(values))
        for line in block.text(values).splitlines():
            expected = EXPECTED_EXIT.search(line)
            if expected and COMMAND.match(line.strip()):
                line = f"expect_exit {expected.group(1)} env {EXPECTED_EXIT.sub('', line).strip()}"
            parts.append(line)
    return "\n".join(parts) + "\n"


SHELL_PAGES = _pages_with("shell")
PYTHON_PAGES = _pages_with("python")


@pytest.mark.timeout(PAGE_TIMEOUT + 60)
@pytest.mark.parametrize("page", SHELL_PAGES, ids=[p.name for p in SHELL_PAGES])
def test_shell_blocks_run(page: Path, emulator_env: dict[str, Any], tmp_path: Path) -> None:
    runnable = page_blocks(page, "shell")
    env = _page_env(page, emulator_env, tmp_path)
    log: Path = emulator_env["log"]
    log.write_text("")
    result = subprocess.run(
        ["bash", "-c", _shell_script(runnable, emulator_env["values"])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
    )
    assert result.returncode == 0, f"{page.name}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    calls = log.read_text().splitlines()
    documented = sum(len(block.facility_lines) for block in runnable)
    assert len(calls) >= documented, f"{page.name}: {documented} documented commands, {len(calls)} ran"


@pytest.mark.timeout(PAGE_TIMEOUT + 60)
@pytest.mark.parametrize("page", PYTHON_PAGES, ids=[p.name for p in PYTHON_PAGES])
def test_python_blocks_run(page: Path, emulator_env: dict[str, Any], tmp_path: Path) -> None:
    runnable = page_blocks(page, "python")
    env = _page_env(page, emulator_env, tmp_path)
    job = {
        "described": emulator_env["described"],
        "blocks": [
            {
                "where": b.where,
                "before": b.prelude(emulator_env["values"]),
                "code": b.text(emulator_env["values"]),
            }
            for b in runnable
        ],
    }
    blocks_file = tmp_path / "blocks.json"
    blocks_file.write_text(json.dumps(job))
    blocks_file.chmod(0o600)
    result = subprocess.run(
        [sys.executable, str(DRIVER), str(blocks_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
    )
    assert result.returncode == 0, f"{page.name}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_the_getting_started_page_is_runnable() -> None:
    assert ROOT / "docs" / "getting-started.md" in SHELL_PAGES


def test_every_marker_is_well_formed() -> None:
    problems = []
    for page in PAGES:
        try:
            list(blocks(page))
        except MarkerError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


def test_few_blocks_are_skipped_and_each_says_why() -> None:
    kept_out = skipped()
    assert len(kept_out) <= MAX_SKIPPED, [f"{b.where}: {b.skip}" for b in kept_out]
    assert all(block.skip and len(block.skip.split()) >= 2 for block in kept_out)

"""Every ``facility`` command line in ``docs/*.md`` and ``README.md`` runs against the emulator.

Convention (also stated in docs/getting-started.md):

* A fenced block whose language is ``bash``, ``sh``, ``shell`` or ``console`` and that holds at
  least one ``facility`` command line is *runnable*. In ``bash``/``sh``/``shell`` blocks every line
  runs; in ``console`` blocks only the ``$ `` lines run (the rest is shown output).
* A ``facility`` line ending in ``# exit N`` must exit with code N (the troubleshooting examples);
  every other line must succeed (the block runs under ``set -euo pipefail``).
* A block whose info string holds ``no-run`` (```` ```bash no-run ````) is not run: it needs a
  real facility, or it blocks (``facility emulate``). Keep those few; the test bounds their number.

The runnable blocks of one page run in order in one ``bash`` process, so a later block may use a
variable an earlier one set (``JOB=$(facility submit ...)``). ``facility`` is a small script on
``PATH`` that runs ``python -m facility_cli`` and logs each call, and the environment is what
``facility emulate`` prints (``FACILITY_API``, ``FACILITY_URL``, ``FACILITY_TOKEN_FILE``,
``FACILITY_RESOURCE``, ``REMOTE_HOME``), pointing at an emulator of this module.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md"])
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^(```+|~~~+)(.*)$")
COMMAND = re.compile(r"^(?:[A-Z_]+=\S+\s+)*facility(?:\s|$)")
EXPECTED_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
MAX_NO_RUN_BLOCKS = 10


class Block(NamedTuple):
    page: Path
    line: int
    info: str
    lines: list[str]

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def commands(self) -> list[str]:
        """The shell lines of the block as they run (console: only the prompted lines)."""
        if self.language == "console":
            return [line[2:] for line in self.lines if line.startswith("$ ")]
        return list(self.lines)

    @property
    def facility_lines(self) -> list[str]:
        return [line for line in self.commands if COMMAND.match(line.strip())]


def blocks(page: Path) -> Iterator[Block]:
    """The fenced code blocks of a Markdown page."""
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index].strip())
        if not opening:
            index += 1
            continue
        fence, info, start = opening.group(1), opening.group(2).strip(), index
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index])
            index += 1
        index += 1
        yield Block(page, start + 1, info, body)


def _documented(block: Block) -> bool:
    return block.language in SHELL_LANGUAGES and bool(block.facility_lines)


def runnable(page: Path) -> list[Block]:
    return [b for b in blocks(page) if _documented(b) and "no-run" not in b.info.split()]


def _script(page_blocks: list[Block]) -> str:
    parts = [
        "set -euo pipefail",
        'expect_exit() { local want=$1; shift; set +e; "$@"; local got=$?; set -e;'
        ' if [ "$got" != "$want" ]; then echo "expected exit $want, got $got: $*" >&2; exit 99; fi; }',
    ]
    for block in page_blocks:
        parts.append(f"echo '### {block.page.name}:{block.line}' >&2")
        for line in block.commands:
            expected = EXPECTED_EXIT.search(line)
            if expected and COMMAND.match(line.strip()):
                line = f"expect_exit {expected.group(1)} env {EXPECTED_EXIT.sub('', line).strip()}"
            parts.append(line)
    return "\n".join(parts) + "\n"


@pytest.fixture(scope="module")
def doc_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    from facility_emulator import EmulatorConfig, EmulatorServer

    base = tmp_path_factory.mktemp("docs")
    bin_dir = base / "bin"
    bin_dir.mkdir()
    log = base / "calls.log"
    wrapper = bin_dir / "facility"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" -m facility_cli "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    with EmulatorServer(EmulatorConfig(root=base / "root", queue_delay=0.05, task_delay=0.01)) as server:
        token_file = base / "root" / "facility-token"
        token_file.write_text(server.credentials["static_token"])
        token_file.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACILITY_")}
        env.update(
            PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            FACILITY_API="iri",
            FACILITY_URL=server.iri_url("v1"),
            FACILITY_TOKEN_FILE=str(token_file),
            FACILITY_RESOURCE="polaris",
            FACILITY_CONFIG=str(base / "connections.toml"),
            REMOTE_HOME=str(server.credentials["home"]),
            FACILITY_CALL_LOG=str(log),
            COLUMNS="160",
        )
        yield env


PAGES_WITH_COMMANDS = [page for page in PAGES if runnable(page)]


#: Bound on one page's commands: each is a Python process of its own, slow to start on a loaded
#: machine, so the bound is generous and the test takes only as long as the commands do.
PAGE_TIMEOUT = 540


@pytest.mark.timeout(PAGE_TIMEOUT + 60)
@pytest.mark.parametrize("page", PAGES_WITH_COMMANDS, ids=[p.name for p in PAGES_WITH_COMMANDS])
def test_documented_commands_run(page: Path, doc_env: dict[str, str], tmp_path: Path) -> None:
    page_blocks = runnable(page)
    log = Path(doc_env["FACILITY_CALL_LOG"])
    log.write_text("")
    result = subprocess.run(
        ["bash", "-c", _script(page_blocks)],
        cwd=tmp_path,
        env=doc_env,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
    )
    assert result.returncode == 0, f"{page.name}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    calls = log.read_text().splitlines()
    documented = sum(len(block.facility_lines) for block in page_blocks)
    assert len(calls) >= documented, f"{page.name}: {documented} documented commands, {len(calls)} ran"


def test_the_getting_started_page_is_runnable() -> None:
    assert ROOT / "docs" / "getting-started.md" in PAGES_WITH_COMMANDS


def test_few_blocks_are_excluded() -> None:
    excluded: list[Any] = [
        f"{b.page.name}:{b.line}"
        for page in PAGES
        for b in blocks(page)
        if _documented(b) and "no-run" in b.info.split()
    ]
    assert len(excluded) <= MAX_NO_RUN_BLOCKS, excluded

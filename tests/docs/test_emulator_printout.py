"""The emulator's printout as the pages show it is the one it prints.

``docs/getting-started.md`` and ``docs/parsl.md`` show what ``facility emulate`` (and ``python -m
facility_emulator``) prints at start. This test makes the real printout of a running emulator and
compares it with each sample line by line, after putting placeholders for what differs from one
start to the next: the port, the sandbox directory, generated ids. And the emulator's ``--help``
names every API it serves.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .snippets import ROOT, blocks

FIRST_LINE = "facility emulator serving at "
_VARYING = [
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://HOST"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "UUID"),
    (re.compile(r"\b[0-9a-z]{13}\b"), "CLIENT"),  # the SF API's client ids
]


def _samples() -> list[tuple[str, list[str]]]:
    found = []
    for page in sorted(ROOT.glob("docs/*.md")):
        for block in blocks(page):
            lines = [line for line in block.lines if not line.startswith("$ ")]
            if lines and lines[0].startswith(FIRST_LINE):
                found.append((block.where, lines))
    return found


def _normalized(lines: list[str], sandbox: str) -> list[str]:
    out = []
    for line in lines:
        line = line.replace(sandbox, "SANDBOX")
        for pattern, placeholder in _VARYING:
            line = pattern.sub(placeholder, line)
        out.append(line.rstrip())
    return out


SAMPLES = _samples()


def test_the_pages_show_the_printout() -> None:
    assert {where.split(":")[0] for where, _ in SAMPLES} >= {"getting-started.md", "parsl.md"}


@pytest.mark.parametrize(("where", "sample"), SAMPLES, ids=[where for where, _ in SAMPLES])
def test_a_sample_printout_is_the_real_one(where: str, sample: list[str], tmp_path: Path) -> None:
    from facility_emulator import EmulatorConfig, EmulatorServer
    from facility_emulator.cli import exports, human, write_settings

    root = tmp_path / "facility-emulator-sample"
    with EmulatorServer(EmulatorConfig(root=root)) as server:
        described = server.describe()
        files = write_settings(described, root)
        printed = human(described, files, exports(described, files, "iri"), "iri", kept=False)
    shown_sandbox = re.search(r"^sandbox (\S+)", "\n".join(sample), re.MULTILINE)
    assert shown_sandbox, f"{where}: the sample has no sandbox line"
    real = _normalized(printed.splitlines(), str(root))
    assert _normalized(sample, shown_sandbox.group(1)) == real, where


#: How the emulator's ``--help`` names the API each of its flavours serves.
HELP_NAMES = {
    "firecrest": "FirecREST",
    "flux": "Flux",
    "globus": "Globus Transfer",
    "iri": "IRI v1 and v2",
    "s3m": "OLCF S3M",
    "sfapi": "NERSC SF API",
    "slurmrestd": "slurmrestd",
}


def test_the_emulators_help_names_every_api_it_serves(tmp_path: Path) -> None:
    from facility_emulator import EmulatorConfig, EmulatorServer

    served = set(EmulatorServer(EmulatorConfig(root=tmp_path)).flavours)
    assert served == set(HELP_NAMES), "a flavour was added or removed: name it in --help and here"
    shown = subprocess.run(
        [sys.executable, "-m", "facility_emulator", "--help"], capture_output=True, text=True, check=True
    ).stdout
    text = " ".join(shown.split())
    missing = [name for name in HELP_NAMES.values() if name not in text]
    assert not missing, f"--help does not name {missing}:\n{shown}"

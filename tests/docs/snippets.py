"""The code blocks of the documentation pages, and the markers that say how each one runs.

The convention (stated for writers in ``docs/getting-started.md``, "About the documentation
tests"):

* Every fenced block of ``docs/*.md`` and ``README.md`` in a shell language (``bash``, ``sh``,
  ``shell``, ``console``) or in Python (``python``, ``py``) runs against the emulator, unless it is
  marked. In ``console`` blocks only the ``$ `` lines run (the rest is shown output); a ``console``
  block without one is output only.
* ``toml`` blocks are ``facility`` connection tables: each is parsed and added to the page's config
  file (``FACILITY_CONFIG``) before the page's commands run, so ``--conn NAME`` finds it.
* A marker is an HTML comment (invisible on the rendered page) on the line right above the block's
  opening fence; several may stand one above the other:

  ``<!-- docs-test: skip REASON -->``
      the block does not run here; REASON (required) says why: it needs a real facility, it
      serves until Ctrl-C, it installs packages...
  ``<!-- docs-test: site OLD=>NEW OLD=>NEW -->``
      OLD, a site's value written in the block (a URL, a token, a resource name), is replaced by
      NEW before the block runs. NEW may hold ``{field}`` references to the emulator's
      description (``EmulatorServer.describe()``: ``{iri[v1]}``, ``{credentials[static_token]}``,
      ``{credentials[flux][secret_key]}``...) and ``{token_file}`` (the static token's file).
      Items are split like shell words, so quote one holding spaces. Every OLD must be in the
      block: a marker that no longer matches its block fails the test.
  ``<!-- docs-test: before COMMAND -->``
      COMMAND runs first: it makes what the block presumes the reader has, such as the batch
      script ``job.sbatch`` a ``submit --script`` line names. Above a shell block it is a shell
      command run in the same shell, above a Python block a line of Python run in the blocks'
      namespace. It may hold the ``{field}`` references a ``site`` marker's NEW may (literal
      braces doubled, ``{{ }}``).

* The shell blocks of a page run in order in one ``bash`` (``set -euo pipefail``; a ``facility``
  line ending in ``# exit N`` must exit with N), the Python blocks in order in one Python process
  and one namespace, where ``server`` stands for the emulator (its ``url``, ``credentials``,
  ``iri_url()``, ``api_url()``, ``flavour_credentials()``). Both get the environment
  ``facility emulate`` prints, pointing at the emulator, and a temporary working directory.
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md"])

SHELL = frozenset({"bash", "sh", "shell", "console"})
PYTHON = frozenset({"python", "py"})
CONFIG = frozenset({"toml"})

FENCE = re.compile(r"^(```+|~~~+)(.*)$")
MARKER = re.compile(r"^<!--\s*docs-test:\s*(\w+)\s*(.*?)\s*-->$")
COMMAND = re.compile(r"^(?:[A-Z_]+=\S+\s+)*facility(?:\s|$)")
EXPECTED_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")


class MarkerError(ValueError):
    """A marker the convention does not allow, named by page and line."""


@dataclass
class Block:
    """One fenced code block of a page, with what its markers say."""

    page: Path
    line: int
    info: str
    lines: list[str]
    skip: str | None = None
    """Why the block does not run, or None."""
    site: list[tuple[str, str]] = field(default_factory=list)
    """(site value, emulator value template) pairs."""
    before: list[str] = field(default_factory=list)
    """Commands (shell or Python, as the block) run before the block, as templates."""

    @property
    def where(self) -> str:
        return f"{self.page.name}:{self.line}"

    @property
    def language(self) -> str:
        words = self.info.split()
        return words[0].lower() if words else ""

    @property
    def kind(self) -> str:
        """``shell``, ``python``, ``config`` or ``text`` (never run)."""
        if self.language in SHELL:
            return "shell"
        if self.language in PYTHON:
            return "python"
        if self.language in CONFIG:
            return "config"
        return "text"

    @property
    def runs(self) -> bool:
        return self.kind != "text" and self.skip is None and (self.kind != "shell" or bool(self.commands))

    @property
    def commands(self) -> list[str]:
        """The shell lines of the block as they run (console: only the prompted lines)."""
        if self.language == "console":
            return [line[2:] for line in self.lines if line.startswith("$ ")]
        return list(self.lines)

    @property
    def facility_lines(self) -> list[str]:
        return [line for line in self.commands if COMMAND.match(line.strip())]

    def prelude(self, values: Mapping[str, Any]) -> list[str]:
        """The ``before`` commands with the emulator's values (``values``) in place."""
        return [string.Formatter().vformat(command, (), values) for command in self.before]

    def text(self, values: Mapping[str, Any]) -> str:
        """The block's code with its site values replaced by the emulator's (``values``)."""
        code = "\n".join(self.commands if self.kind == "shell" else self.lines) + "\n"
        for old, new in self.site:
            if old not in code:
                raise MarkerError(f"{self.where}: the site value {old!r} is not in the block")
            code = code.replace(old, string.Formatter().vformat(new, (), values))
        return code


def _apply(block: Block, marker: str, where: str) -> None:
    found = MARKER.match(marker)
    if not found:
        raise MarkerError(f"{where}: not a docs-test marker: {marker}")
    directive, argument = found.group(1), found.group(2)
    if directive == "skip":
        if len(argument.split()) < 2:
            raise MarkerError(f"{where}: a skipped block must say why (docs-test: skip REASON)")
        block.skip = argument
    elif directive == "site":
        for item in shlex.split(argument):
            old, arrow, new = item.partition("=>")
            if not arrow or not old:
                raise MarkerError(f"{where}: a site item is OLD=>NEW, got {item!r}")
            block.site.append((old, new))
        if not block.site:
            raise MarkerError(f"{where}: docs-test: site names no value")
    elif directive == "before":
        if block.kind not in ("shell", "python") or not argument:
            raise MarkerError(f"{where}: docs-test: before takes a command, above a shell or Python block")
        block.before.insert(0, argument)
    else:
        raise MarkerError(f"{where}: unknown docs-test directive {directive!r} (skip, site or before)")


def blocks(page: Path) -> Iterator[Block]:
    """The fenced code blocks of a Markdown page, with the markers right above each."""
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index].strip())
        if not opening:
            if lines[index].strip().startswith("<!-- docs-test") and not _marks_a_block(lines, index):
                raise MarkerError(
                    f"{page.name}:{index + 1}: a docs-test marker must stand right above a block"
                )
            index += 1
            continue
        fence, info, start = opening.group(1), opening.group(2).strip(), index
        indent = len(lines[index]) - len(lines[index].lstrip())
        if len(info.split()) > 1:
            raise MarkerError(
                f"{page.name}:{start + 1}: say how a block runs with a marker above it "
                f"(<!-- docs-test: skip REASON -->), not in its info string {info!r}"
            )
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            line = lines[index]
            body.append(line[indent:] if not line[:indent].strip() else line.lstrip())
            index += 1
        index += 1
        block = Block(page, start + 1, info, body)
        above = start - 1
        while above >= 0 and lines[above].strip().startswith("<!-- docs-test"):
            _apply(block, lines[above].strip(), f"{page.name}:{above + 1}")
            above -= 1
        yield block


def _marks_a_block(lines: list[str], index: int) -> bool:
    following = index + 1
    while following < len(lines) and lines[following].strip().startswith("<!-- docs-test"):
        following += 1
    return following < len(lines) and bool(FENCE.match(lines[following].strip()))


def page_blocks(page: Path, kind: str) -> list[Block]:
    """The blocks of ``kind`` that run on ``page``, in order."""
    return [block for block in blocks(page) if block.kind == kind and block.runs]


def skipped() -> list[Block]:
    """Every block of a runnable kind that a marker keeps from running."""
    return [block for page in PAGES for block in blocks(page) if block.kind != "text" and block.skip]


def emulator_values(described: Mapping[str, Any], token_file: Path) -> dict[str, Any]:
    """What ``{field}`` references in a ``site`` marker may name."""
    return {**described, "token_file": str(token_file)}

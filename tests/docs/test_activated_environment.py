"""The pages start the emulator from the activated environment.

Parsl starts ``interchange.py`` and its pilots start ``process_worker_pool.py`` through ``PATH``, and
the emulator's jobs inherit its environment: an emulator started as ``.venv/bin/python -m
facility_emulator`` from a shell without the environment's ``bin`` on ``PATH`` leaves every pilot
with ``command not found``. So no block of the pages starts it (or the ``facility`` command) by
the environment's path; they activate the environment or use ``uv run``.
"""

from __future__ import annotations

import re

from .snippets import PAGES, blocks

BY_PATH = re.compile(r"^\S*/bin/(python\S* -m facility_emulator|facility emulate)\b")


def test_no_page_starts_the_emulator_outside_the_activated_environment() -> None:
    found = [
        f"{block.where}: {line}"
        for page in PAGES
        for block in blocks(page)
        if block.kind == "shell"
        for line in block.commands
        if BY_PATH.match(line.strip())
    ]
    assert not found, found


def test_the_pages_that_start_it_activate_the_environment_first() -> None:
    for name in ("README.md", "emulator.md", "parsl.md"):
        page = next(page for page in PAGES if page.name == name)
        starts = [
            block
            for block in blocks(page)
            if block.kind == "shell" and any("facility_emulator" in line for line in block.commands)
        ]
        assert starts, f"{name} no longer shows how to start the emulator"
        first = [line.strip() for line in starts[0].commands]
        assert any(line.startswith(("source ", "uv run ")) for line in first), (
            f"{starts[0].where}: the page's first start of the emulator does not activate the environment"
        )

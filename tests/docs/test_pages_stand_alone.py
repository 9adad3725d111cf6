"""The pages stand alone: they point to no notes, issue tracker entries or paths outside this
repository, only to each other, to the repository's files and to public sites."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .snippets import PAGES

OUTSIDE = re.compile(r"FINDINGS|§\s*\d|\bissue\s+#?\d+|(?<![\w/])/work/|DESIGN\.md", re.IGNORECASE)


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_the_page_points_nowhere_outside(page: Path) -> None:
    text = page.read_text()
    found = [
        f"{page.name}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, found

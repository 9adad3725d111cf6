"""The documentation site builds with ``mkdocs build --strict``: every page in the nav, no broken
link or anchor, the API reference made from the docstrings. The build reads only this checkout
(no plugin fetches anything), so it runs offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: A loaded machine makes the build slow; the bound only keeps a hung build from hanging the suite.
BUILD_TIMEOUT = 540


@pytest.mark.timeout(BUILD_TIMEOUT + 60)
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "AIRFLOW_HOME": str(tmp_path / "airflow")}
    build = ["build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)]
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", *build],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "index.html").is_file()
    reference = (site / "reference" / "facility_common" / "index.html").read_text()
    for method in ("connect", "submit", "wait", "upload"):  # upload: a method the client inherits
        assert f'id="facility_common.AsyncFacilityClient.{method}"' in reference
    assert 'class="mermaid"' in (site / "architecture" / "index.html").read_text()

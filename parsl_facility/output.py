"""Bring a failed pilot's stdout/stderr tail next to Parsl's submit scripts.

Parsl's error report (``parsl.jobs.error_handlers``) reads ``JobStatus.stdout_path`` and
``stderr_path`` from the local file system. A pilot's output lives at the facility, so when a
block fails its tails are fetched through the API into the provider's ``script_dir`` and the
status points at those copies.
"""

from __future__ import annotations

import logging
from pathlib import Path

from facility_common import FacilityClient, FacilityError

__all__ = ["fetch_output_tails"]

logger = logging.getLogger(__name__)

STREAMS = {"stdout": "stdout", "stderr": "stderr"}


def fetch_output_tails(
    client: FacilityClient,
    resource: str,
    job_id: str,
    directory: Path,
    base_name: str,
    lines: int,
) -> dict[str, str | None]:
    """Write the last ``lines`` lines of the job's stdout and stderr to
    ``<directory>/<base_name>.<job_id>.<stream>``; returns stream -> local path, None when the
    facility could not provide that stream (the reason is logged, never raised)."""
    paths: dict[str, str | None] = {}
    for stream, suffix in STREAMS.items():
        paths[stream] = None
        try:
            text = client.job_output(resource, job_id, stream, tail=lines)
        except FacilityError as exc:
            logger.warning("could not fetch the %s of pilot %s on %s: %s", stream, job_id, resource, exc)
            continue
        target = directory / f"{base_name}.{job_id}.{suffix}"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            logger.warning("could not write the %s of pilot %s to %s: %s", stream, job_id, target, exc)
            continue
        paths[stream] = str(target)
    return paths

"""Re-attach a retried task to the job its earlier try submitted.

Each task instance stamps its job with a deterministic submit tag derived from the dag id, task
id, run id and map index (the same for every try of the instance). Before submitting, the operator
looks among the resource's jobs for a live one carrying that tag and waits for it instead of
submitting again. The IRI backend keeps a tag the spec already carries in
``environment["FACILITY_SUBMIT_TAG"]`` and reports each job's spec in its listings, which makes
the look-up one list call. A finished job is never reused: a cleared or retried task whose job
ended runs a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from facility_common import Job
from facility_common.backends.iri import SUBMIT_TAG_VARIABLE

__all__ = ["SUBMIT_TAG_VARIABLE", "find_live_job", "job_tag", "submit_tag"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def submit_tag(dag_id: str, task_id: str, run_id: str, map_index: int | None) -> str:
    """The tag shared by every try of one task instance (no secret, only identifiers)."""
    key = "\x1f".join([dag_id, task_id, run_id, str(-1 if map_index is None else map_index)])
    return "airflow-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def job_tag(job: Job) -> str | None:
    """The submit tag a listed job carries in its spec's environment, if the API reports it."""
    spec = job.raw.get("job_spec") if job.raw else None
    environment = spec.get("environment") if isinstance(spec, dict) else None
    tag = environment.get(SUBMIT_TAG_VARIABLE) if isinstance(environment, dict) else None
    return str(tag) if tag is not None else None


def find_live_job(jobs: Iterable[Job], tag: str) -> Job | None:
    """The newest non-terminal job carrying ``tag``."""
    live = [job for job in jobs if not job.is_terminal and job_tag(job) == tag]
    if not live:
        return None
    return max(live, key=lambda job: (job.submitted_at or _EPOCH, job.id))

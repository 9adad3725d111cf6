"""Re-attach a retried task to the job its earlier try submitted.

Each task instance stamps its job with a deterministic submit tag derived from the dag id, task
id, run id and map index (the same for every try of the instance), in
``environment["FACILITY_SUBMIT_TAG"]``. Before submitting, the operator asks the facility for the
job carrying that tag (:func:`find_earlier_job`, the client's ``find_job_by_tag``, which every
backend answers from its own listing: IRI's job specs, Slurm comments, ...) and waits for it
instead of submitting again when it is still live. This is what makes a retry after a submit
whose outcome was unknown (a gateway answered 504 after the job was created) find that job,
from a new process with a new client. A finished job is never reused: a cleared or retried task
whose job ended runs a new one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from facility_common import SUBMIT_TAG_VARIABLE, FacilityClient, Job, UnsupportedOperation

__all__ = ["SUBMIT_TAG_VARIABLE", "find_earlier_job", "find_live_job", "job_tag", "submit_tag"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
logger = logging.getLogger(__name__)


def submit_tag(dag_id: str, task_id: str, run_id: str, map_index: int | None) -> str:
    """The tag shared by every try of one task instance (no secret, only identifiers)."""
    key = "\x1f".join([dag_id, task_id, run_id, str(-1 if map_index is None else map_index)])
    return "airflow-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def find_earlier_job(client: FacilityClient, resource: str, tag: str) -> Job | None:
    """The live job an earlier try of the task submitted with ``tag``, or None.

    Asks the backend for the newest job carrying the tag; a finished one is not returned (the
    task runs anew). A backend that cannot look a tag up is asked for its listing instead, of
    which only jobs reporting their spec (IRI's) can be matched.
    """
    try:
        found = client.find_job_by_tag(resource, tag)
    except UnsupportedOperation as exc:
        logger.warning("looking for the job of an earlier try by its listing only: %s", exc.message)
        return find_live_job(client.list_jobs(resource), tag)
    return found if found is not None and not found.is_terminal else None


def job_tag(job: Job) -> str | None:
    """The submit tag a listed job carries in its spec's environment, if the API reports it."""
    spec = job.raw.get("job_spec") if job.raw else None
    environment = spec.get("environment") if isinstance(spec, dict) else None
    tag = environment.get(SUBMIT_TAG_VARIABLE) if isinstance(environment, dict) else None
    return str(tag) if tag is not None else None


def find_live_job(jobs: Iterable[Job], tag: str) -> Job | None:
    """The newest non-terminal job of a listing carrying ``tag`` in its reported spec."""
    live = [job for job in jobs if not job.is_terminal and job_tag(job) == tag]
    if not live:
        return None
    return max(live, key=lambda job: (job.submitted_at or _EPOCH, job.id))

"""Which job a try of a submit task runs: the rule for first tries, retries and clears.

**Cycles.** A task instance runs a series of tries. A *cycle* is the tries since it was last
cleared (or since its first run): clearing a task makes Airflow set ``max_tries = try_number +
retries``, so the first try of the current cycle is ``max_tries - retries + 1``, the number
Airflow itself uses for a sensor's first reschedule. Every try knows its cycle from its own
context (:func:`try_cycle`).

**The rule** (:func:`earlier_job`):

* The first try of a cycle submits a new job and looks for nothing: on a first run there is
  nothing to find, and after a clear the old job is the one the clear is cancelling (the
  trigger's ``on_kill``), never one to adopt. A clear means "run it again". If the record shows
  a job of an earlier cycle that no try saw end (:func:`job_of_cleared_cycle`), that try cancels
  it first: the trigger's ``on_kill`` may have come too late to see that the task was cleared,
  or the task was marked success and then cleared.
* A later try of the cycle is a retry: the worker was lost, the wait timed out, or the job
  failed. It reads what the earlier tries recorded in ``task_state_store`` (:class:`SubmitRecord`):

  - nothing recorded for this cycle: no earlier try sent a submit, so it submits;
  - the earlier try saw its job end (and failed the task for it): it submits, which is the retry;
  - a job id: it asks for that one job. Still live: it waits for it. COMPLETED: the job's result
    is this try's result and nothing runs twice. FAILED or TIMEOUT: this try fails with that
    job's failure and stderr tail, and records that it saw it, so a further retry runs anew.
    CANCELLED: it submits (a cancelled job has no result to report); so does a job the facility
    no longer knows;
  - a submit begun but no id recorded (the worker died between the two, or the submit's outcome
    stayed unknown): it looks the job up by the cycle's submit tag, then as above.

So a look-up costs one status request for one known id, and a search by tag happens only after a
submit whose result nobody recorded. The tag (:func:`submit_tag`), derived from the dag id, task
id, run id, map index and cycle, goes into the job's environment as ``FACILITY_SUBMIT_TAG``;
every try of one cycle shares it, so a search never finds an older cycle's job. Without a
``task_state_store`` (a context built by hand) a retry searches by tag and adopts a live or
COMPLETED job.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from facility_common import (
    SUBMIT_TAG_VARIABLE,
    FacilityClient,
    Job,
    JobState,
    NotFoundError,
    UnsupportedOperation,
)

if TYPE_CHECKING:
    from .outcome import TaskLog

__all__ = [
    "RECORD_KEY",
    "SUBMIT_TAG_VARIABLE",
    "StateStore",
    "SubmitRecord",
    "TryCycle",
    "earlier_job",
    "find_live_job",
    "job_of_cleared_cycle",
    "job_tag",
    "read_record",
    "submit_tag",
    "try_cycle",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The ``task_state_store`` key of a task instance's :class:`SubmitRecord`.
RECORD_KEY = "facility_submit"
logger = logging.getLogger(__name__)


class StateStore(Protocol):
    """The part of Airflow's ``context["task_state_store"]`` used here."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class TryCycle:
    """A try's number and the number of the first try of its cycle."""

    try_number: int
    first_try: int

    @property
    def is_retry(self) -> bool:
        """Whether an earlier try of this cycle ran (and may have submitted a job)."""
        return self.try_number > self.first_try


def try_cycle(ti: Any, retries: int | None) -> TryCycle:
    """The cycle of the try ``ti`` (a task instance from the context) of a task with ``retries``."""
    try_number = max(1, int(getattr(ti, "try_number", None) or 1))
    max_tries = getattr(ti, "max_tries", None)
    if not isinstance(max_tries, int):
        return TryCycle(try_number, 1)
    first = max(1, max_tries - int(retries or 0) + 1)
    return TryCycle(try_number, min(first, try_number))


def submit_tag(dag_id: str, task_id: str, run_id: str, map_index: int | None, cycle: int = 1) -> str:
    """The tag shared by every try of one cycle of a task instance (identifiers only, no secret).

    ``cycle`` is the number of the cycle's first try; the first cycle's tag leaves it out.
    """
    parts = [dag_id, task_id, run_id, str(-1 if map_index is None else map_index)]
    if cycle > 1:
        parts.append(str(cycle))
    return "airflow-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SubmitRecord:
    """What a try records in ``task_state_store`` about its submit (plain JSON).

    :param cycle: the first try of the cycle that submitted.
    :param try_number: the try that submitted.
    :param tag: the submit tag it used.
    :param resource: the resource it submitted to.
    :param started: when the submit began (ISO 8601, UTC).
    :param job_id: the job's id, once the facility answered.
    :param seen_end: whether a try saw the job end (and settled the task on it).
    """

    cycle: int
    try_number: int
    tag: str
    resource: str
    started: str
    job_id: str | None = None
    seen_end: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def with_job(self, job_id: str) -> SubmitRecord:
        return replace(self, job_id=job_id)

    def ended(self) -> SubmitRecord:
        return replace(self, seen_end=True)


def read_record(store: StateStore | None) -> SubmitRecord | None:
    """The record stored for this task instance, or None (nothing, or not a record)."""
    if store is None:
        return None
    value = store.get(RECORD_KEY)
    if not isinstance(value, Mapping):
        return None
    try:
        return SubmitRecord(**{key: value[key] for key in SubmitRecord.__dataclass_fields__ if key in value})
    except TypeError:
        logger.warning("ignoring an unreadable %s record in the task state store", RECORD_KEY)
        return None


def job_of_cleared_cycle(cycle: TryCycle, record: SubmitRecord | None) -> SubmitRecord | None:
    """The record of a job submitted in an earlier cycle that no try saw end, if any."""
    if record is None or record.cycle >= cycle.first_try or record.job_id is None or record.seen_end:
        return None
    return record


def earlier_job(
    client: FacilityClient,
    cycle: TryCycle,
    record: SubmitRecord | None,
    tag: str,
    resource: str,
    log: TaskLog,
    *,
    has_store: bool = True,
) -> Job | None:
    """The job an earlier try of this cycle submitted, to wait for, adopt or report; None to submit.

    Applies the module's rule; a returned job may be live, COMPLETED, FAILED or TIMEOUT (never
    CANCELLED).
    """
    if not cycle.is_retry:
        return None
    if record is not None and record.cycle == cycle.first_try:
        if record.seen_end:
            log.info("the job of try %d ended and was reported: submitting a new one", record.try_number)
            return None
        if record.job_id is not None:
            try:
                return _adoptable(client.get_job(record.resource, record.job_id), log)
            except NotFoundError:
                log.warning(
                    "job %s of try %d is unknown to the facility: submitting a new one",
                    record.job_id,
                    record.try_number,
                )
                return None
        log.info("try %d began a submit whose job was not recorded: looking for it", record.try_number)
        return _adoptable(_find_tagged(client, record.resource, record.tag, _when(record.started)), log)
    if has_store:
        return None
    found = _adoptable(_find_tagged(client, resource, tag), log)
    if found is not None and found.is_terminal and found.state != JobState.COMPLETED:
        return None
    return found


def _adoptable(job: Job | None, log: TaskLog) -> Job | None:
    if job is not None and job.state == JobState.CANCELLED:
        log.info("job %s of an earlier try was cancelled: submitting a new one", job.id)
        return None
    return job


def _when(started: str) -> datetime | None:
    """A recorded ISO 8601 time, or None when it cannot be read."""
    try:
        return datetime.fromisoformat(started)
    except (TypeError, ValueError):
        return None


def _find_tagged(
    client: FacilityClient, resource: str, tag: str, submitted_after: datetime | None = None
) -> Job | None:
    """The newest job carrying ``tag`` (submitted at ``submitted_after`` or later, when given);
    where the API cannot look a tag up, from its listing."""
    try:
        return client.find_job_by_tag(resource, tag, submitted_after)
    except UnsupportedOperation as exc:
        logger.warning("looking for the job of an earlier try by its listing only: %s", exc.message)
        return find_live_job(client.list_jobs(resource), tag)


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

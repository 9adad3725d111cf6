"""What every backend's submit shares to never create a job twice, and to not lose sight of a job
the API does not show yet.

* :func:`may_still_be_working` tells a failure after which the server may still be acting on the
  submit (the client timed out reading the answer, a gateway answered 504) from one after which
  it is done (the connection broke after or before the answer, 502). After the first kind the
  job is looked up over the backend's ``submit_lookup_delays`` and, when it does not show up,
  **not** sent again: :func:`outcome_unknown` is raised, naming the tag, and the tag is
  remembered (:class:`SubmitMemory`) so a later submit of the same tag (a retried task) looks for
  the job before sending anything.
* :func:`newest` picks, of the jobs carrying one tag, the one ``find_job_by_tag`` returns.
* :class:`SubmitMemory` also remembers the ids the backend returned from submit for a while, so
  ``get_job`` can answer PENDING instead of NotFoundError for a job the API lists only after a
  delay (:meth:`SubmitMemory.pending_view`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import httpx

from ..errors import FacilityError, JobSubmissionError, TransportError
from ..models import Job, JobState

__all__ = [
    "DEFAULT_SETTLE_WINDOW",
    "DEFAULT_VISIBILITY_GRACE",
    "SubmitMemory",
    "may_still_be_working",
    "newest",
    "outcome_unknown",
]

#: How long after its submit a job the API does not show is taken to be PENDING, in seconds.
DEFAULT_VISIBILITY_GRACE = 120.0
#: How long after a submit of unknown outcome a listing without its job proves nothing yet (the
#: API may list a new job late), in seconds: within it the tag is not sent again.
DEFAULT_SETTLE_WINDOW = 10.0
#: Native state reported for a job submitted but not yet visible.
NOT_YET_VISIBLE = "NOT_YET_VISIBLE"
_TIMEOUT_NAMES = ("ReadTimeout", "WriteTimeout")


def may_still_be_working(exc: FacilityError) -> bool:
    """True when the server may still be processing the request that failed with ``exc``.

    That is a timeout after the request was sent (read or write, not connect or pool, which
    mean it never left) or a ``504`` from a gateway whose upstream is still busy. A broken
    connection, a ``502`` and a refusal mean the server is done with the request.
    """
    if exc.status_code == 504:
        return True
    if not isinstance(exc, TransportError):
        return False
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, httpx.TimeoutException):
        return isinstance(cause, httpx.ReadTimeout | httpx.WriteTimeout)
    return any(name in exc.message for name in _TIMEOUT_NAMES)


def outcome_unknown(
    *, facility: str, resource: str, tag: str, variable: str, reason: str
) -> JobSubmissionError:
    """The error of a submit whose outcome cannot be known now: the job may exist."""
    return JobSubmissionError(
        f"submit to {resource}: the outcome is unknown ({reason}); the job may exist and was not "
        f"found yet, so it is not sent again. Submitting the same spec again ({variable}={tag}) "
        "looks for it first; or look for that tag among the jobs before submitting anew",
        facility=facility,
        resource=resource,
        outcome_unknown=True,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _id_key(job_id: str) -> tuple[int, int, str]:
    """Numeric ids compare as numbers (``"10"`` after ``"9"``), others as text after them."""
    return (0, int(job_id), "") if job_id.isdigit() else (1, 0, job_id)


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return _EPOCH
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def newest(jobs: Iterable[Job]) -> Job | None:
    """The most recently submitted of ``jobs`` (by submit time, then id), or None for none.

    Several jobs carry one tag when a tagged spec was submitted again on purpose (a cleared
    Airflow task); the newest is the one the latest submit created.
    """
    return max(
        jobs,
        key=lambda job: (_aware(job.submitted_at), _id_key(job.id)),
        default=None,
    )


class SubmitMemory:
    """Per-backend memory of recent submits: tags whose outcome is in doubt, ids not yet visible.

    Thread safe; bounded (the oldest entries are dropped first).
    """

    MAX_ENTRIES = 10_000

    def __init__(
        self, visibility_grace: float = DEFAULT_VISIBILITY_GRACE, settle_window: float = DEFAULT_SETTLE_WINDOW
    ) -> None:
        self.visibility_grace = visibility_grace
        self.settle_window = settle_window
        self._lock = threading.Lock()
        self._in_doubt: dict[str, float] = {}
        self._submitted: dict[str, float] = {}

    def doubt(self, tag: str, sent_at: float | None = None) -> None:
        """Remember that a submit of ``tag``, sent at ``sent_at`` (epoch seconds, default now),
        may have created a job that was not found."""
        with self._lock:
            self._in_doubt[tag] = time.time() if sent_at is None else sent_at
            _trim(self._in_doubt, self.MAX_ENTRIES)

    def in_doubt(self, tag: str) -> bool:
        """Whether a submit of ``tag`` ended with its outcome unknown."""
        return self.doubted_at(tag) is not None

    def doubted_at(self, tag: str) -> float | None:
        """When the doubtful submit of ``tag`` was sent (epoch seconds), or None."""
        with self._lock:
            return self._in_doubt.get(tag)

    def unsettled(self, tag: str) -> bool:
        """Whether the doubtful submit of ``tag`` is too recent for a listing without its job to
        prove that the job does not exist."""
        sent_at = self.doubted_at(tag)
        return sent_at is not None and time.time() - sent_at < self.settle_window

    def settle(
        self, found: Job | None, *, tag: str, facility: str, resource: str, variable: str
    ) -> Job | None:
        """Conclude a look-up for the job of a doubtful submit of ``tag``: the job when ``found``
        (the doubt is over); None when nothing was found and the doubt is old enough for that to
        mean the job does not exist (the caller sends); while it is too recent, the outcome is
        still unknown and that error is raised (nothing may be sent)."""
        if found is None and self.unsettled(tag):
            raise outcome_unknown(
                facility=facility,
                resource=resource,
                tag=tag,
                variable=variable,
                reason="the job of a submit of this tag moments ago may not be listed yet",
            )
        self.resolved(tag)
        return found

    def resolved(self, tag: str) -> None:
        with self._lock:
            self._in_doubt.pop(tag, None)

    def submitted(self, job: Job) -> Job:
        """Remember ``job`` as just submitted; returns it."""
        with self._lock:
            self._submitted[job.id] = time.monotonic()
            _trim(self._submitted, self.MAX_ENTRIES)
        return job

    def pending_view(self, resource: str, job_id: str) -> Job | None:
        """A PENDING view of ``job_id`` if it was submitted here within the grace period."""
        with self._lock:
            since = self._submitted.get(str(job_id))
        if since is None or time.monotonic() - since > self.visibility_grace:
            return None
        return Job(id=str(job_id), resource=resource, state=JobState.PENDING, native_state=NOT_YET_VISIBLE)


def _trim(entries: dict[str, float], limit: int) -> None:
    while len(entries) > limit:
        entries.pop(next(iter(entries)))

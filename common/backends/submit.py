"""The one "never submit twice" policy of every backend, and the submit tag it relies on.

A submit is the one call that must not be repeated blindly: sent twice, it runs the job twice.
Every backend therefore stamps its job with a **submit tag** (the caller's own, from
``spec.environment[SUBMIT_TAG_VARIABLE]``, or a new random one), and hands :class:`SubmitGuard`
two coroutines: ``send`` (one submit request, returning the job) and ``find`` (the job carrying
the tag, or None). The guard owns everything else:

* **Classifying a failure.** The outcome of a submit is *accepted* (``send`` returned a job),
  *refused* (the facility said no: a 4xx other than 401, 403, 408 and 429; raised as
  :class:`JobSubmissionError` with the facility's reason) or *unknown*. It is unknown after no
  answer at all (a dropped connection, a timeout), after ``408``, ``500``, ``502`` or ``504`` (a
  server or gateway failed or gave up while the application may have acted), and after a success answer whose body
  cannot be used (:class:`UnreadableAnswer`, or an ``APIError`` carrying a 2xx status). Anything
  else (401/403, 429 after the session's own retries, 501, 503 after retries) is raised as it is:
  the request provably did not create a job, or the caller must act first. A
  :class:`JobSubmissionError` raised by ``send`` itself is the backend's own reading of the
  answer (slurmctld's refusal behind a 500, a failed submit task) and is final too.
* **Resolving an unknown outcome.** The guard looks for the tagged job over ``lookup_delays``.
  Found, it is the answer. Not found, the submit is sent again, at most ``attempts`` times in
  all, unless the server may still be working on it (:func:`may_still_be_working`: a read or
  write timeout, a ``504``) and the API has no idempotency key: then sending again could make a
  second job, so :func:`outcome_unknown` is raised instead and the tag is remembered.
* **Remembering doubt.** :class:`SubmitMemory` keeps the tags whose submit ended unknown; a later
  submit of the same tag (a retried task) looks for the job before sending anything, and within
  ``settle_window`` seconds of the doubtful send a look that finds nothing still proves nothing
  (the API may list a new job late), so nothing is sent.
* **Not losing sight of a new job.** :class:`SubmitMemory` also remembers the ids just submitted,
  so ``get_job`` can answer PENDING rather than NotFoundError while the API does not list the job
  yet (``visibility_grace`` seconds).

The tag is validated here once (:func:`check_tag`): it reaches batch scripts, Slurm comments and
environments, so it may hold only letters, digits and ``._:@+=-``, never whitespace or a newline.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

import anyio
import httpx

from ..errors import (
    APIError,
    AuthenticationError,
    FacilityError,
    InvalidJobSpec,
    JobSubmissionError,
    RateLimitedError,
    TransportError,
)
from ..models import Job, JobSpec, JobState

__all__ = [
    "DEFAULT_LOOKUP_DELAYS",
    "DEFAULT_SETTLE_WINDOW",
    "DEFAULT_SUBMIT_ATTEMPTS",
    "DEFAULT_VISIBILITY_GRACE",
    "NOT_YET_VISIBLE",
    "SUBMIT_TAG_VARIABLE",
    "UNKNOWN_OUTCOME_STATUSES",
    "SubmitGuard",
    "SubmitMemory",
    "UnreadableAnswer",
    "check_tag",
    "may_still_be_working",
    "new_tag",
    "newest",
    "outcome_unknown",
    "tag_of",
    "tagged_environment",
]

logger = logging.getLogger("facility_common.submit")

SUBMIT_TAG_VARIABLE = "FACILITY_SUBMIT_TAG"
"""Environment variable carrying a job's submit tag; set it in a spec to choose the tag."""

#: HTTP statuses after which a submit's outcome is unknown: the job may or may not exist. A 408
#: is a server whose own step timed out (FirecREST: the SSH command running sbatch), which may
#: still have run.
UNKNOWN_OUTCOME_STATUSES = frozenset({408, 500, 502, 504})
#: How many times one submit call may send its request when the answers are lost.
DEFAULT_SUBMIT_ATTEMPTS = 3
#: When to look for the tagged job after an unknown outcome (seconds after the failure).
DEFAULT_LOOKUP_DELAYS: tuple[float, ...] = (0.0, 1.0)
#: How long after its submit a job the API does not show is taken to be PENDING, in seconds.
DEFAULT_VISIBILITY_GRACE = 120.0
#: How long after a submit of unknown outcome a listing without its job proves nothing yet (the
#: API may list a new job late), in seconds: within it the tag is not sent again.
DEFAULT_SETTLE_WINDOW = 10.0
#: Native state reported for a job submitted but not yet visible.
NOT_YET_VISIBLE = "NOT_YET_VISIBLE"

_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}$")
_TIMEOUT_NAMES = ("ReadTimeout", "WriteTimeout")


# -- the tag ------------------------------------------------------------------------------------


def new_tag() -> str:
    """A fresh random tag (32 hex digits)."""
    return uuid.uuid4().hex


def check_tag(tag: object, facility: str) -> str:
    """``tag`` if it is a valid submit tag; :class:`InvalidJobSpec` otherwise.

    A tag is 1 to 128 characters of letters, digits and ``._:@+=-``, starting with a letter or a
    digit: it is written into batch-script lines, Slurm comments and environments, where
    whitespace, quotes or a newline would change what the line means.
    """
    field = f"environment.{SUBMIT_TAG_VARIABLE}"
    if not isinstance(tag, str) or not _TAG.match(tag):
        shown = repr(tag) if isinstance(tag, str) and len(tag) <= 140 else type(tag).__name__
        raise InvalidJobSpec(
            f"{field}: {shown} is not a valid submit tag (1-128 letters, digits and ._:@+=-, "
            "starting with a letter or digit)",
            field=field,
            facility=facility,
        )
    return tag


def tag_of(spec: JobSpec, facility: str) -> str:
    """The tag a submit of ``spec`` carries: the spec's own (checked), else a new one."""
    given = spec.environment.get(SUBMIT_TAG_VARIABLE)
    return new_tag() if given is None else check_tag(given, facility)


def tagged_environment(tag: str, *layers: Mapping[str, str]) -> dict[str, str]:
    """``layers`` merged in order with the tag last, so no setting can overwrite it."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    merged[SUBMIT_TAG_VARIABLE] = tag
    return merged


# -- classification -----------------------------------------------------------------------------


class UnreadableAnswer(Exception):
    """Raised by a backend's ``send`` when the facility accepted the submit (a success status)
    but its answer cannot be used (no job id, an unexpected shape): the job probably exists."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def may_still_be_working(exc: FacilityError) -> bool:
    """True when the server may still be processing the request that failed with ``exc``.

    That is a timeout after the request was sent (read or write, not connect or pool, which
    mean it never left), a ``504`` from a gateway whose upstream is still busy, or a ``408`` from
    a server whose own step (an SSH command running ``sbatch``) timed out. A broken
    connection, a ``500``/``502`` and a refusal mean the server is done with the request.
    """
    if exc.status_code in (408, 504):
        return True
    if not isinstance(exc, TransportError):
        return False
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, httpx.TimeoutException):
        return isinstance(cause, httpx.ReadTimeout | httpx.WriteTimeout)
    return any(name in exc.message for name in _TIMEOUT_NAMES)


def _unknown_outcome(exc: FacilityError) -> bool:
    return isinstance(exc, TransportError) or exc.status_code in UNKNOWN_OUTCOME_STATUSES


def _accepted_but_unreadable(exc: FacilityError) -> bool:
    return isinstance(exc, APIError) and exc.status_code is not None and 200 <= exc.status_code < 300


def _refusal(exc: FacilityError) -> bool:
    if isinstance(exc, AuthenticationError | RateLimitedError) or not isinstance(exc, APIError):
        return False
    status = exc.status_code
    return status is not None and 400 <= status < 500 and status not in UNKNOWN_OUTCOME_STATUSES


def outcome_unknown(*, facility: str, resource: str, tag: str, reason: str) -> JobSubmissionError:
    """The error of a submit whose outcome cannot be known now: the job may exist."""
    return JobSubmissionError(
        f"submit to {resource}: the outcome is unknown ({reason}); the job may exist and was not "
        f"found yet, so it is not sent again. Submitting the same spec again "
        f"({SUBMIT_TAG_VARIABLE}={tag}) looks for it first; or look for that tag among the jobs "
        "before submitting anew",
        facility=facility,
        resource=resource,
        outcome_unknown=True,
    )


# -- choosing among tagged jobs -----------------------------------------------------------------

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
    return max(jobs, key=lambda job: (_aware(job.submitted_at), _id_key(job.id)), default=None)


# -- memory -------------------------------------------------------------------------------------


class SubmitMemory:
    """Per-backend memory of recent submits: tags whose outcome is in doubt, ids not yet visible.

    Thread safe; bounded (the oldest entries are dropped first).
    """

    MAX_ENTRIES = 10_000

    def __init__(
        self,
        visibility_grace: float = DEFAULT_VISIBILITY_GRACE,
        settle_window: float = DEFAULT_SETTLE_WINDOW,
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

    def resolved(self, tag: str) -> None:
        """Forget the doubt about ``tag`` (its job was found, or proven absent)."""
        with self._lock:
            self._in_doubt.pop(tag, None)

    def submitted(self, job: Job) -> Job:
        """Remember ``job`` as just submitted; returns it."""
        with self._lock:
            self._submitted[job.id] = time.monotonic()
            _trim(self._submitted, self.MAX_ENTRIES)
        return job

    def seen(self, job_ids: Iterable[str]) -> None:
        """The API has reported these jobs: from now on, not finding one means it is gone (a
        finished job purged from the listing), not that it is not visible yet."""
        with self._lock:
            for job_id in job_ids:
                self._submitted.pop(str(job_id), None)

    def pending_view(self, resource: str, job_id: str) -> Job | None:
        """A PENDING view of ``job_id`` if it was submitted here within the grace period and the
        API has not reported it yet."""
        with self._lock:
            since = self._submitted.get(str(job_id))
        if since is None or time.monotonic() - since > self.visibility_grace:
            return None
        return Job(id=str(job_id), resource=resource, state=JobState.PENDING, native_state=NOT_YET_VISIBLE)


def _trim(entries: dict[str, float], limit: int) -> None:
    while len(entries) > limit:
        entries.pop(next(iter(entries)))


# -- the policy ---------------------------------------------------------------------------------

Send = Callable[[], Awaitable[Job]]
"""One submit request; returns the job, raises FacilityError or UnreadableAnswer."""
Find = Callable[[float], Awaitable[Job | None]]
"""The job carrying the tag, given when its submit was sent (epoch seconds); None when the
facility shows none. Raises FacilityError when the jobs cannot be looked at, and the
outcome-unknown JobSubmissionError when several jobs could be it."""


class SubmitGuard:
    """Runs one backend's submits under the policy of this module (see the module docstring).

    ``label`` names the API in messages (``"IRI Facility API"``); ``memory`` is the backend's
    :class:`SubmitMemory`; ``lookup_delays`` are the pauses before each look for a tagged job
    after an unknown outcome; ``attempts`` caps the sends of one submit call.
    """

    def __init__(
        self,
        *,
        facility: str,
        label: str,
        memory: SubmitMemory,
        lookup_delays: Sequence[float] = DEFAULT_LOOKUP_DELAYS,
        attempts: int = DEFAULT_SUBMIT_ATTEMPTS,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.facility = facility
        self.label = label
        self.memory = memory
        self.lookup_delays = tuple(lookup_delays) or (0.0,)
        self.attempts = max(1, attempts)
        self._sleep = sleep

    async def _pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._sleep is not None:
            await self._sleep(seconds)
            return
        await anyio.sleep(seconds)

    async def submit(
        self,
        *,
        resource: str,
        tag: str | None,
        send: Send,
        find: Find,
        keyed: Callable[[], bool] = lambda: False,
    ) -> Job:
        """Submit once under the policy; returns the job the submit created (or had created).

        ``tag`` None means the request carries no tag (a script the user keeps on the machine):
        any unknown outcome is then reported, never resolved by sending again. ``keyed()`` says
        whether the request carries an idempotency key the server honours, which makes sending
        again after a may-still-be-working failure safe.
        """
        if tag is not None and self.memory.in_doubt(tag):
            # An earlier submit of this tag may have created the job: look before sending.
            doubted_at = self.memory.doubted_at(tag) or time.time()
            found = await self._look(find, doubted_at, resource, tag, cause="")
            if found is None and self.memory.unsettled(tag):
                raise outcome_unknown(
                    facility=self.facility,
                    resource=resource,
                    tag=tag,
                    reason="the job of a submit of this tag moments ago may not be listed yet",
                )
            self.memory.resolved(tag)
            if found is not None:
                return self.memory.submitted(found)
        last_error: FacilityError | None = None
        for attempt in range(1, self.attempts + 1):
            sent_at = time.time()
            try:
                return self.memory.submitted(await send())
            except anyio.get_cancelled_exc_class():
                # The caller gave up while the request may have been on its way: a later submit
                # of this tag looks for the job before sending.
                if tag is not None:
                    self.memory.doubt(tag, sent_at)
                raise
            except UnreadableAnswer as exc:
                reason = f"the answer to the submit could not be read: {exc.reason}"
                return await self._after_unreadable(find, sent_at, resource, tag, reason)
            except JobSubmissionError:
                # The backend read a verdict itself (slurmctld's own refusal behind a 500, a
                # failed submit task): it is final.
                raise
            except FacilityError as exc:
                if _accepted_but_unreadable(exc):
                    reason = f"the answer to the submit could not be read: {exc.message}"
                    return await self._after_unreadable(find, sent_at, resource, tag, reason)
                if _refusal(exc):
                    raise self.refused(resource, exc) from None
                if not _unknown_outcome(exc):
                    raise
                if tag is None:
                    raise JobSubmissionError(
                        f"submit to {resource} may or may not have created a job ({exc.message}); "
                        "the request carries no tag to look for, so it is not sent again",
                        facility=self.facility,
                        resource=resource,
                        status_code=exc.status_code,
                        outcome_unknown=True,
                    ) from None
                logger.warning(
                    "submit to %s: %s (attempt %d of %d); looking for job tag %s",
                    resource,
                    exc.message,
                    attempt,
                    self.attempts,
                    tag,
                )
                found = await self._look(find, sent_at, resource, tag, cause=exc.message)
                if found is not None:
                    return self.memory.submitted(found)
                if may_still_be_working(exc) and not keyed():
                    self.memory.doubt(tag, sent_at)
                    raise outcome_unknown(
                        facility=self.facility, resource=resource, tag=tag, reason=exc.message
                    ) from None
                last_error = exc
        reason = last_error.message if last_error is not None else "no answer"
        raise JobSubmissionError(
            f"submit to {resource} got no usable answer after {self.attempts} attempts and no job "
            f"tagged {SUBMIT_TAG_VARIABLE}={tag} was found: {reason}",
            facility=self.facility,
            resource=resource,
            status_code=last_error.status_code if last_error is not None else None,
        )

    def refused(self, resource: str, exc: FacilityError) -> JobSubmissionError:
        """The error of a submit the facility refused, with the facility's own reason."""
        return JobSubmissionError(
            f"the {self.label} refused the job on {resource}: {exc.body or exc.message}",
            facility=self.facility,
            resource=resource,
            status_code=exc.status_code,
            body=exc.body,
        )

    async def _after_unreadable(
        self, find: Find, sent_at: float, resource: str, tag: str | None, reason: str
    ) -> Job:
        """After a success answer that cannot be used: the job probably exists, so it is looked
        for by its tag and, when not found, never sent again."""
        if tag is None:
            raise JobSubmissionError(
                f"submit to {resource}: {reason}; the job may exist, and the request carries no tag "
                "to look for, so it is not sent again",
                facility=self.facility,
                resource=resource,
                outcome_unknown=True,
            )
        found = await self._look(find, sent_at, resource, tag, cause=reason)
        if found is not None:
            return self.memory.submitted(found)
        self.memory.doubt(tag, sent_at)
        raise outcome_unknown(facility=self.facility, resource=resource, tag=tag, reason=reason)

    async def _look(self, find: Find, sent_at: float, resource: str, tag: str, *, cause: str) -> Job | None:
        """The tagged job, looked for after each of ``lookup_delays``; None when a look could
        be made and none found it. When no look could be made at all, the tag stays in doubt
        and the outcome-unknown error is raised."""
        failure: FacilityError | None = None
        looked = False
        for delay in self.lookup_delays:
            await self._pause(delay)
            try:
                found = await find(sent_at)
            except JobSubmissionError as exc:
                if exc.outcome_unknown:
                    self.memory.doubt(tag, sent_at)
                    raise
                failure = exc
                continue
            except FacilityError as exc:
                logger.warning("looking for job tag %s on %s failed: %s", tag, resource, exc.message)
                failure = exc
                continue
            looked = True
            if found is not None:
                logger.info("submit to %s: found job %s by its tag %s", resource, found.id, tag)
                return found
        if not looked and failure is not None:
            self.memory.doubt(tag, sent_at)
            because = f"{cause}; " if cause else ""
            raise outcome_unknown(
                facility=self.facility,
                resource=resource,
                tag=tag,
                reason=f"{because}looking for the job failed: {failure.message}",
            ) from None
        return None

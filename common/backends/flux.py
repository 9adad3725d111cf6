"""Backend for the Flux RESTful API (flux-framework/flux-restful-api 1.1.0) in front of one Flux
instance (a Flux Operator MiniCluster, an LLNL allocation).

``base_url`` is the server root (``FLUX_RESTFUL_HOST``, e.g. ``https://flux.example.org``); a
trailing ``/v1`` is accepted too. Requests and answers are built and parsed by the pure functions
of :mod:`facility_common.backends.flux_jobs`; authentication (none, HTTP Basic, the shared-secret
handshake, password login, bearer tokens) by :mod:`facility_common.backends.flux_auth`.

The instance is the one resource: :meth:`FluxBackend.resources` reports it under the name given
by the ``resource_name`` option (default ``"flux"``), UP while ``/v1/nodes`` lists free nodes,
DEGRADED while every node is busy and DOWN while the server answers 503 (Flux is stopped).

How the API's gaps are filled (the API is silent on these):

* **Output.** Flux keeps a job's output in its event log and the API returns it as one merged
  stream, so ``job_output`` gives the same text for ``stdout`` and ``stderr``. A tail of a finished
  job is read from ``/output/stream`` keeping only the last lines in memory; a tail of a job still
  running comes from ``/output`` (the stream would only end with the job).
* **Submit without duplicates.** The submit tag goes into the job's environment
  (``FACILITY_SUBMIT_TAG``), but Flux's job listing does not show environments, and the API lets
  the client set nothing else a listing shows (the job name is the command's base name; shell
  options are not listed). After an ambiguous failure (no answer, 502, 504) the backend lists the
  jobs and adopts the one job that could be this submit: not returned to this backend before, not
  listed to it before the attempt was sent, submitted since the attempt began (by the server's
  clock, whose difference to ours each successful submit measures), under the command's name,
  with the same task and node counts and runtime. None found:
  the job is sent again (at most ``SUBMIT_ATTEMPTS`` times in all), unless the server may still
  be at work on it (a read timeout, 504); several found, or the server may still be at work:
  :class:`JobSubmissionError` with ``outcome_unknown`` set, the tag is remembered and the next
  submit of the same tag looks for the job first instead of sending it. A job just submitted that
  the API does not show yet is PENDING.

  The residual risk: a job of another client of the same instance that is identical in every
  listed field and was submitted within the clock margin of our send (half a second once a
  submit of this backend has measured the clock difference, five seconds before) is
  indistinguishable from ours. After a
  lost answer (or a 504 whose request never reached the server) it may be adopted, and then this
  submit's own job is not run. Submitting distinct commands (or runtimes) from concurrent
  clients rules it out.
* **Names, queues, banks.** The API cannot set a job name (Flux names jobs after their command),
  so ``JobSpec.name`` is not sent. It cannot choose a queue or bank either: a spec naming one is
  accepted only when it is the instance's own (backend options ``queue`` and ``account``).
* **Files.** The API has no file operations.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import posixpath
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import anyio
import httpx

from ..errors import (
    APIError,
    FacilityError,
    JobSubmissionError,
    NotFoundError,
    ServerError,
    TransportError,
    UnsupportedOperation,
)
from ..models import Job, JobSpec, JobState, Outage, ResourceStatus
from ..options import BackendOptions, about
from .base import Capability, FacilityBackend
from .flux_auth import flux_auth
from .flux_jobs import (
    SUBMIT_TAG_VARIABLE,
    FluxRequest,
    build_cancel,
    build_get_job,
    build_list_jobs,
    build_nodes,
    build_output,
    build_submit,
    command_of,
    down_resource,
    job_items,
    last_lines,
    parse_job,
    parse_output,
    parse_resource,
    parse_submit,
)
from .submit_guard import SubmitMemory, may_still_be_working, outcome_unknown

__all__ = ["SUBMIT_TAG_VARIABLE", "FluxBackend", "FluxOptions"]

logger = logging.getLogger("facility_common.backends.flux")

FACILITY = "flux"
SUBMIT_ATTEMPTS = 3
#: Seconds a job's ``t_submit`` may precede our send (clock difference to the server) while the
#: difference has not been measured yet.
CLOCK_SKEW = 5.0
#: Seconds of clock drift allowed since the difference was last measured on a submit of ours.
CLOCK_MARGIN = 0.5
_AMBIGUOUS_STATUSES = frozenset({502, 504})


@dataclasses.dataclass(frozen=True, kw_only=True)
class FluxOptions(BackendOptions):
    """Options of the Flux RESTful API backend."""

    resource_name: str = dataclasses.field(
        default="flux", metadata=about("The name this Flux instance goes by as a resource.")
    )
    queue: str | None = dataclasses.field(default=None, metadata=about("Queue of jobs that name none."))
    account: str | None = dataclasses.field(
        default=None, metadata=about("Bank (account) of jobs that name none.")
    )
    user: str | None = dataclasses.field(
        default=None, repr=False, metadata=about("Flux user (instead of an auth mapping).", form=False)
    )
    token: str | None = dataclasses.field(
        default=None,
        repr=False,
        metadata=about("The user's Flux token (instead of an auth mapping).", form=False),
    )
    secret_key: str | None = dataclasses.field(
        default=None,
        repr=False,
        metadata=about("The server's shared secret (instead of an auth mapping).", form=False),
    )
    auth_method: str = dataclasses.field(
        default="auto",
        metadata=about("With user/token options: auto, basic, shared-secret, password or token.", form=False),
    )


class FluxBackend(FacilityBackend):
    """One Flux instance behind the Flux RESTful API.

    Credentials come either as ``auth`` (any ``httpx.Auth``, e.g. from ``resolve_auth``) or as the
    options ``user``, ``token`` and ``secret_key`` that the Flux project's client reads from
    ``FLUX_USER``, ``FLUX_TOKEN`` and ``FLUX_SECRET_KEY`` (see
    :func:`~facility_common.backends.flux_auth.flux_auth` for ``auth_method``). No network call
    happens before the first operation.
    """

    name: ClassVar[str] = "flux"
    facility_label: ClassVar[str] = "Flux RESTful API"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {Capability.STATUS, Capability.JOBS, Capability.JOB_OUTPUT}
    )
    unsupported_hint: ClassVar[str] = (
        "It offers job submit, status, cancel and output on one Flux instance; move files with "
        "scp/rsync, Globus or a file API of the facility (FirecREST, IRI), and read job output "
        "with job_output."
    )

    Options: ClassVar[type[BackendOptions]] = FluxOptions
    options: FluxOptions

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        options: FluxOptions | None = None,
        **values: Any,
    ) -> None:
        super().__init__(base_url=base_url, auth=auth, options=options, **values)
        self.facility = FACILITY
        opts = self.options
        root = base_url.rstrip("/") if isinstance(base_url, str) else base_url
        if isinstance(root, str) and root.endswith("/v1"):
            root = root[: -len("/v1")]
        resolved = flux_auth(
            root,
            auth=auth,
            user=opts.user,
            token=opts.token,
            secret_key=opts.secret_key,
            auth_method=opts.auth_method,
            verify=opts.tls(FACILITY),
            transport=opts.transport,
            allow_insecure_http=opts.allow_insecure_http,
        )
        self._session = opts.session(FACILITY, root, resolved)
        self.base_url = self._session.base_url
        self.resource_name = opts.resource_name
        self.queue = opts.queue
        self.account = opts.account
        self.submit_lookup_delays = opts.submit_lookup_delays
        self._seen_ids: set[str] = set()
        # When each job id was first listed to this backend (epoch seconds): a job listed before
        # an attempt was sent cannot be that attempt's job.
        self._listed_at: dict[str, float] = {}
        # Tags of the submits this backend made, with their job ids or, while in doubt, the spec.
        self._tag_ids: dict[str, str] = {}
        self._doubted_specs: dict[str, JobSpec] = {}
        # A lower bound of (server clock - our clock), from the last job this backend submitted.
        self._clock_offset: float | None = None
        self._memory = SubmitMemory(visibility_grace=opts.visibility_grace, settle_window=opts.settle_window)

    def __repr__(self) -> str:
        return f"FluxBackend(base_url={self.base_url!r}, resource_name={self.resource_name!r})"

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._session.aclose()

    def describe(self) -> dict[str, Any]:
        """Connection facts safe to show (no credentials)."""
        return {
            **super().describe(),
            "base_url": self.base_url,
            "resource": self.resource_name,
            "queue": self.queue,
            "account": self.account,
        }

    # -- plumbing -------------------------------------------------------------------------------

    async def _call(self, request: FluxRequest, *, resource: str | None = None) -> Any:
        response = await self._session.request(
            request.method,
            request.path,
            resource=resource,
            params=request.params,
            json=request.json,
            idempotent=request.idempotent,
            ok=(200,),
        )
        return self._session.json(response, resource=resource)

    def _bad_answer(self, request: FluxRequest, exc: Exception, resource: str | None) -> APIError:
        return APIError(
            f"{request.method} /{request.path}: unusable answer ({exc})", facility=FACILITY, resource=resource
        )

    def _check_resource(self, resource: str) -> str:
        if resource != self.resource_name:
            raise NotFoundError(
                f"resource {resource!r} is not this Flux instance ({self.resource_name!r})",
                facility=FACILITY,
                resource=resource,
            )
        return resource

    # -- discovery and status -------------------------------------------------------------------

    async def auth_info(self) -> dict[str, Any]:
        """How the server authenticates (public): ``{backend, password_login,
        shared_secret_handshake, oidc?}``.

        :calls: GET /v1/auth
        """
        request = FluxRequest("GET", "v1/auth")
        data = await self._call(request)
        if not isinstance(data, dict):
            raise self._bad_answer(request, ValueError("not an object"), None)
        return data

    async def nodes(self) -> list[str]:
        """The instance's free nodes.

        :calls: GET /v1/nodes
        """
        status = await self.resource(self.resource_name)
        return list(status.raw.get("nodes", []))

    async def resources(self) -> list[ResourceStatus]:
        """The Flux instance as the one resource.

        :calls: GET /v1/nodes
        """
        request = build_nodes()
        try:
            data = await self._call(request, resource=self.resource_name)
        except ServerError as exc:
            if exc.status_code != 503:
                raise
            return [down_resource(self.resource_name, exc.body or "Flux is unavailable")]
        try:
            return [parse_resource(data, self.resource_name)]
        except ValueError as exc:
            raise self._bad_answer(request, exc, self.resource_name) from None

    async def resource(self, name_or_id: str) -> ResourceStatus:
        """The instance, by its ``resource_name``.

        :calls: GET /v1/nodes
        """
        self._check_resource(name_or_id)
        return (await self.resources())[0]

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Flux announces no outages: always empty (a stopped instance shows as DOWN instead)."""
        if resource is not None:
            self._check_resource(resource)
        return []

    # -- jobs -----------------------------------------------------------------------------------

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        """Submit ``spec``; never creates the job twice (see the module docstring).

        :calls: POST /v1/jobs/submit, then GET /v1/jobs/{id}; after a lost answer
            GET /v1/jobs?details=true&listing=true
        """
        tag = spec.environment.get(SUBMIT_TAG_VARIABLE) or uuid.uuid4().hex
        request = build_submit(spec, tag=tag, queue=self.queue, account=self.account)
        name = self._check_resource(resource)
        doubted_at = self._memory.doubted_at(tag)
        if doubted_at is not None:
            # An earlier submit of this tag may have created the job: look before sending.
            found = self._memory.settle(
                await self._find_submitted(spec, doubted_at, name, tag),
                tag=tag,
                facility=FACILITY,
                resource=name,
                variable=SUBMIT_TAG_VARIABLE,
            )
            self._doubted_specs.pop(tag, None)
            if found is not None:
                return self._adopted(tag, found)
        last_error: FacilityError | None = None
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            sent_at = time.time()
            try:
                data = await self._call(request, resource=name)
            except (TransportError, APIError) as exc:
                status = exc.status_code
                if isinstance(exc, APIError) and status is not None and 200 <= status < 300:
                    # The server took the job, but its answer cannot be read.
                    return await self._unreadable_answer(spec, sent_at, name, tag, exc.message)
                if isinstance(exc, TransportError) or status in _AMBIGUOUS_STATUSES:
                    logger.warning(
                        "submit to %s: %s (attempt %d of %d); looking for the job",
                        name,
                        exc.message,
                        attempt,
                        SUBMIT_ATTEMPTS,
                    )
                    found = await self._find_submitted(spec, sent_at, name, tag)
                    if found is not None:
                        return self._adopted(tag, found)
                    if may_still_be_working(exc):
                        self._doubt(tag, spec, sent_at)
                        raise outcome_unknown(
                            facility=FACILITY,
                            resource=name,
                            tag=tag,
                            variable=SUBMIT_TAG_VARIABLE,
                            reason=exc.message,
                        ) from None
                    last_error = exc
                    continue
                if status is not None and 400 <= status < 500 and status not in (401, 403):
                    raise JobSubmissionError(
                        f"the Flux RESTful API refused the job: {exc.body or exc.message}",
                        facility=FACILITY,
                        resource=name,
                        status_code=status,
                        body=exc.body,
                    ) from None
                raise
            try:
                job_id = parse_submit(data)
            except ValueError as exc:
                return await self._unreadable_answer(spec, sent_at, name, tag, str(exc))
            answered_at = time.time()
            self._seen_ids.add(job_id)
            job = await self._first_view(job_id, name)
            if job.submitted_at is not None:
                # Its t_submit came before our answer arrived, by the server's clock.
                self._clock_offset = job.submitted_at.timestamp() - answered_at
            return self._adopted(tag, job)
        reason = last_error.message if last_error is not None else "no answer"
        raise JobSubmissionError(
            f"submit to {name} got no usable answer after {SUBMIT_ATTEMPTS} attempts and no new "
            f"matching job was found: {reason}",
            facility=FACILITY,
            resource=name,
            status_code=last_error.status_code if last_error is not None else None,
        )

    async def _unreadable_answer(
        self, spec: JobSpec, sent_at: float, name: str, tag: str, reason: str
    ) -> Job:
        """After a success answer whose job id cannot be read: the job exists; find it, or say
        the outcome is unknown (never send it again)."""
        found = await self._find_submitted(spec, sent_at, name, tag)
        if found is not None:
            return self._adopted(tag, found)
        self._doubt(tag, spec, sent_at)
        raise outcome_unknown(
            facility=FACILITY,
            resource=name,
            tag=tag,
            variable=SUBMIT_TAG_VARIABLE,
            reason=f"the server accepted the submit but its answer could not be read ({reason}) "
            "and the job does not show yet",
        )

    def _adopted(self, tag: str, job: Job) -> Job:
        """Record ``job`` as the job of ``tag``; returns it."""
        self._tag_ids[tag] = job.id
        _trim(self._tag_ids)
        return self._memory.submitted(job)

    def _doubt(self, tag: str, spec: JobSpec, sent_at: float) -> None:
        self._memory.doubt(tag, sent_at)
        self._doubted_specs[tag] = spec
        _trim(self._doubted_specs)

    def _resolved(self, tag: str) -> None:
        self._memory.resolved(tag)
        self._doubted_specs.pop(tag, None)

    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The job a submit of ``tag`` made, for the tags this backend object submitted.

        Flux's listing shows no environment and the API lets the client choose nothing else a
        listing shows, so a job cannot be found by its tag alone. What this backend knows is
        answered: the job of a tag it submitted (or adopted after a lost answer), and for a tag
        whose submit ended with its outcome unknown a new look for the one matching job (None
        when none shows; ``JobSubmissionError`` with ``outcome_unknown`` while several could be
        it). Any other tag raises :class:`UnsupportedOperation`: a fresh client cannot tell, and
        answering None would invite a duplicate.

        :calls: GET /v1/jobs/{jobid} for a known tag; GET /v1/jobs?details=true&listing=true
            for a tag in doubt
        """
        name = self._check_resource(resource)
        job_id = self._tag_ids.get(tag)
        if job_id is not None:
            return await self.get_job(name, job_id)
        doubted_at = self._memory.doubted_at(tag)
        spec = self._doubted_specs.get(tag)
        if doubted_at is not None and spec is not None:
            found = await self._find_submitted(spec, doubted_at, name, tag)
            if found is not None:
                self._resolved(tag)
                return self._adopted(tag, found)
            return None
        raise UnsupportedOperation(
            f"find_job_by_tag is not offered by the {self.facility_label} for jobs submitted by "
            "another client: Flux's job listing shows no environment and the API sets no job "
            f"name, so {SUBMIT_TAG_VARIABLE}={tag} cannot be seen. Submitting the same spec "
            "through the same client looks for its job; otherwise compare the listed jobs "
            "(list_jobs) by command name and submit time",
            facility=FACILITY,
            resource=name,
        )

    async def _first_view(self, job_id: str, name: str) -> Job:
        """The job right after submit; PENDING if the instance does not show it yet."""
        try:
            return await self.get_job(name, job_id)
        except NotFoundError:
            return Job(id=job_id, resource=name, state=JobState.PENDING, native_state="NEW")

    async def _find_submitted(self, spec: JobSpec, sent_at: float, name: str, tag: str) -> Job | None:
        """The one listed job that a submit of ``spec`` sent at ``sent_at`` could have made.

        Raises the outcome-unknown :class:`JobSubmissionError` (and keeps ``tag`` in doubt, so
        a submit of it again looks again) when the jobs cannot be listed or several could be it.
        """
        for delay in self.submit_lookup_delays:
            if delay:
                await anyio.sleep(delay)
            try:
                jobs = await self._list_all(name)
            except FacilityError as exc:
                self._doubt(tag, spec, sent_at)
                raise outcome_unknown(
                    facility=FACILITY,
                    resource=name,
                    tag=tag,
                    variable=SUBMIT_TAG_VARIABLE,
                    reason=f"the answer was lost and the job list could not be read: {exc.message}",
                ) from None
            candidates = [job for job in jobs if self._could_be(job, spec, sent_at)]
            if len(candidates) == 1:
                self._seen_ids.add(candidates[0].id)
                return candidates[0]
            if len(candidates) > 1:
                ids = ", ".join(job.id for job in candidates)
                self._doubt(tag, spec, sent_at)
                raise outcome_unknown(
                    facility=FACILITY,
                    resource=name,
                    tag=tag,
                    variable=SUBMIT_TAG_VARIABLE,
                    reason=f"the answer was lost and several new jobs ({ids}) could be this one",
                )
        return None

    def _could_be(self, job: Job, spec: JobSpec, sent_at: float) -> bool:
        """Whether listed ``job`` may be what a submit of ``spec`` sent at ``sent_at`` made.

        Its ``t_submit`` must not precede the send by the server's clock: once a submit of ours
        has shown the clock difference, within ``CLOCK_MARGIN``, before that within ``CLOCK_SKEW``.
        """
        listed_at = self._listed_at.get(job.id)
        if self._clock_offset is None:
            earliest = sent_at - CLOCK_SKEW
        else:
            earliest = sent_at + self._clock_offset - CLOCK_MARGIN
        return (
            job.id not in self._seen_ids
            and (listed_at is None or listed_at >= sent_at)
            and job.name == posixpath.basename(command_of(spec)[0])
            and job.submitted_at is not None
            and job.submitted_at.timestamp() >= earliest
            and _matches_request(job, spec)
        )

    async def _list_all(self, name: str) -> list[Job]:
        request = build_list_jobs()
        data = await self._call(request, resource=name)
        try:
            jobs = [parse_job(item, name) for item in job_items(data)]
        except (ValueError, TypeError, KeyError) as exc:
            raise self._bad_answer(request, exc, name) from None
        now = time.time()
        for job in jobs:
            self._listed_at.setdefault(job.id, now)
        _trim(self._listed_at)
        return jobs

    async def get_job(self, resource: str, job_id: str) -> Job:
        """One job; PENDING for a job submitted here that the API does not show yet.

        :calls: GET /v1/jobs/{jobid}
        """
        name = self._check_resource(resource)
        request = build_get_job(job_id)
        try:
            data = await self._call(request, resource=name)
        except NotFoundError:
            pending = self._memory.pending_view(name, job_id)
            if pending is None:
                raise
            return pending
        try:
            return parse_job(data, name)
        except (ValueError, TypeError, KeyError) as exc:
            raise self._bad_answer(request, exc, name) from None

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """Every job of the instance, or those of ``job_ids``, in one call.

        :calls: GET /v1/jobs?details=true&listing=true
        """
        name = self._check_resource(resource)
        jobs = await self._list_all(name)
        if job_ids is None:
            return jobs
        wanted = {str(job_id) for job_id in job_ids}
        return [job for job in jobs if job.id in wanted]

    async def cancel(self, resource: str, job_id: str) -> None:
        """Ask Flux to cancel a job.

        :calls: POST /v1/jobs/{jobid}/cancel
        """
        name = self._check_resource(resource)
        await self._call(build_cancel(job_id), resource=name)

    async def job_output(
        self, resource: str, job_id: str, stream: str = "stdout", tail: int | None = None
    ) -> str:
        """The job's output (stdout and stderr merged, as Flux records them), or its last ``tail``
        lines. Empty while the job has produced nothing yet.

        :calls: GET /v1/jobs/{jobid}/output; for a tail, GET /v1/jobs/{jobid} and, once the job
            has ended, GET /v1/jobs/{jobid}/output/stream
        """
        name = self._check_resource(resource)
        if tail is not None:
            job = await self.get_job(name, job_id)
            if str(job.raw.get("state", "")).upper() == "INACTIVE":
                return await self._stream_tail(job_id, name, tail)
        request = build_output(job_id)
        data = await self._call(request, resource=name)
        try:
            text = parse_output(data)
        except ValueError as exc:
            raise self._bad_answer(request, exc, name) from None
        if text is None:
            return ""
        return last_lines(text, tail) if tail is not None else text

    async def _stream_tail(self, job_id: str, name: str, tail: int) -> str:
        request = build_output(job_id, stream=True)
        kept: collections.deque[str] = collections.deque(maxlen=tail)
        async with self._session.stream(request.method, request.path, resource=name, ok=(200,)) as response:
            partial = ""
            async for chunk in response.aiter_text():
                lines = (partial + chunk).splitlines(keepends=True)
                partial = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
                kept.extend(lines)
            if partial:
                kept.append(partial)
        return "".join(kept)


def _matches_request(job: Job, spec: JobSpec) -> bool:
    """Whether the listed job has what ``spec`` asked for, as far as a listing shows it: task and
    node counts and runtime (each compared only when asked for and listed). The working directory
    is not compared: the server may list it resolved (symlinks, a relative path made absolute),
    and missing our own job would send it twice."""
    raw = job.raw
    node_count = spec.resources.node_count
    if node_count is not None and raw.get("nnodes") not in (None, "", node_count):
        return False
    process_count = spec.resources.process_count
    if process_count is not None and raw.get("ntasks") not in (None, "", process_count):
        return False
    duration = spec.attributes.duration
    listed_duration = raw.get("duration")
    return not (
        duration is not None
        and isinstance(listed_duration, int | float)
        and not isinstance(listed_duration, bool)
        and listed_duration > 0
        and listed_duration != math.ceil(duration.total_seconds())
    )


def _trim(entries: dict[str, Any], limit: int = 10_000) -> None:
    """Drop the oldest entries beyond ``limit``."""
    while len(entries) > limit:
        entries.pop(next(iter(entries)))

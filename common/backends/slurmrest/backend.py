"""Backend for Slurm's REST daemon, slurmrestd (data-parser versions v0.0.38 to v0.0.44).

``base_url`` is the daemon's root (``http://127.0.0.1:6820``); calls go to
``slurm/{version}/{call}``. One deployment is one Slurm cluster and its **resources are its
partitions**: submitting to a resource sets the job's partition (``attributes.queue_name`` wins
when given). Requests are built by :mod:`.requests`, job answers read by :mod:`.parsers` and
cluster answers by :mod:`.status` (pure functions, tested on recorded payloads); the job
description is written by :mod:`.jobs` over the shared Slurm renderer.

Choices where slurmrestd is silent or awkward:

* **Version.** ``api_version`` picks the data parser; ``"auto"`` (the default) reads the daemon's
  OpenAPI document (``GET openapi/v3``) on first use and takes the newest version it serves, or,
  when there is no document, probes ``GET slurm/{version}/ping`` from the newest version down.
  The answer is kept per daemon for the process and shared by its clients (:mod:`.discovery`).
  Parsers read every version's shapes (see :mod:`.versions`).
* **Auth.** A token (any auth setting ``resolve_auth`` accepts) is sent as ``X-SLURM-USER-TOKEN``
  with ``user_name`` as ``X-SLURM-USER-NAME`` (:mod:`.auth`). With ``socket`` the calls go over
  slurmrestd's UNIX socket (httpx's UDS transport); there a token works for anyone, and no token at
  all works when the caller runs as slurmrestd's own user (``rest_auth/local`` knows it from the
  socket).
* **Jobs.** An ``executable`` is wrapped in a small ``/bin/sh`` batch script. The job's
  environment is only what is sent (slurmrestd does not inherit one), so the backend's
  ``environment`` option (default ``PATH=/usr/local/bin:/usr/bin:/bin``) is sent under the spec's.
  Standard output and error default to ``slurm-%j.out``/``slurm-%j.err`` in the working directory,
  which defaults to the ``directory`` option (``/tmp``). Durations are rounded *up* to whole
  minutes, Slurm's unit.
* **Submit without duplicates.** Submits run under the shared policy of
  :class:`~facility_common.backends.submit.SubmitGuard` (which failures leave the outcome unknown,
  when to look for the job, when to send again). Every job carries its tag in its ``comment``
  (``facility-submit-tag:<tag>``) and in ``FACILITY_SUBMIT_TAG``; the look for it lists the jobs.
  slurmrestd answers a submit that slurmctld refused (an unknown partition, a bad account) with
  HTTP 500 and slurmctld's error number, and a job description it cannot read with HTTP 400 and
  its own: both are refusals, reported as ``errors[]``' words (``Invalid partition name specified
  (error 2000)``), not an unknown outcome. A success answer that cannot be read (not JSON, no job
  id, a job id that is neither text nor a number) counts as a lost one, never as a refusal.
  The look-up after a lost answer asks ``GET jobs?update_time=`` from shortly before the submit:
  slurmctld answers nothing when no job changed since. ``find_job_by_tag`` offers the look-up to
  a caller with a new client. A job just submitted that slurmctld does not show yet is PENDING.
* **Status rounds** ask ``GET job/{id}`` for each job wanted (a few at a time), never the whole
  ``GET jobs``: that one answers every user's jobs, live and recently finished (about 4 KB
  each), whatever is asked, and none of v0.0.38 to v0.0.44 takes several ids in ``job/{id}``.
  So a round costs what the caller's own jobs cost, however busy the cluster.
* **Finished jobs** are known to slurmctld for ``MinJobAge`` seconds only. A job slurmctld no
  longer knows is asked of the accounting database (``GET slurmdb/{version}/job/{id}``) when the
  daemon serves it; only a job neither knows is ``NotFoundError``.
* **Output.** slurmrestd has no call to read a job's output. With ``local_output=True`` (the
  backend runs on a host that sees the cluster's file systems) ``job_output`` reads the job's
  stdout/stderr file, a ``tail`` from the end without reading the rest (:mod:`.output`);
  otherwise it raises :class:`UnsupportedOperation`.
* **Outages** are reservations flagged ``MAINT``: planned, for their partition or the whole
  cluster.
* **Identity and allocations** come from the accounting routes: the user's associations, the
  accounts' ``GrpTRESMins`` and their jobs' recorded usage (:mod:`.account`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import anyio
import anyio.to_thread
import httpx

from ...auth import FacilityAuth
from ...drive import SharedLock
from ...errors import (
    APIError,
    ConfigurationError,
    FacilityError,
    InvalidJobSpec,
    JobSubmissionError,
    NotFoundError,
    ServerError,
    UnsupportedOperation,
    body_excerpt,
)
from ...http import ApiRequest
from ...models import Job, JobSpec, JobState
from ...options import BackendOptions
from ..slurm_script import SbatchOption
from ..submit import UnreadableAnswer, newest, tag_of, tagged_environment
from .account import AccountCalls
from .auth import SlurmTokenAuth
from .cluster import ClusterCalls
from .discovery import ServedApi, remember_served, served_api, served_in_document
from .jobs import comment_tag, job_description, job_options, script_for
from .options import DEFAULT_ENVIRONMENT, SlurmRestOptions
from .output import read_output
from .parsers import (
    GONE_ERRORS,
    Refused,
    error_numbers,
    error_text,
    parse_job,
    parse_jobs,
    parse_submit,
    refusal_text,
    refused_by_slurmctld,
)
from .requests import (
    SUBMIT_REFUSALS,
    build_accounted_job,
    build_cancel,
    build_get_job,
    build_list_jobs,
    build_openapi,
    build_ping,
    build_submit,
)
from .versions import SUPPORTED_VERSIONS, normalise_version

__all__ = ["SlurmRestBackend"]

logger = logging.getLogger("facility_common.backends.slurmrest")

_ALREADY_DONE = re.compile(r"already\s+(completing|completed|finished)|job.*complet", re.IGNORECASE)

LOOKUP_CONCURRENCY = 8
"""How many ``GET job/{id}`` of one status round are in flight at once."""

CLOCK_SKEW_SECONDS = 120
"""How far before a submit the look-up for its job asks ``update_time`` from: slurmctld compares
it with its own clock, which may lag this host's."""


class SlurmRestBackend(AccountCalls, ClusterCalls):
    """slurmrestd, one cluster: partitions as resources, MAINT reservations as outages, jobs."""

    name: ClassVar[str] = "slurmrest"
    Options: ClassVar[type[BackendOptions]] = SlurmRestOptions
    options: SlurmRestOptions

    def __init__(
        self,
        *,
        base_url: str = "http://localhost",
        auth: httpx.Auth | None = None,
        options: SlurmRestOptions | None = None,
        **values: Any,
    ) -> None:
        super().__init__(base_url=base_url, auth=auth, options=options, **values)
        self.facility = self.name
        opts = self.options
        self.user_name = opts.user_name
        self.socket = opts.socket
        self.api_version = (
            None
            if opts.api_version in (None, "auto")
            else normalise_version(str(opts.api_version), facility=self.name)
        )
        self.directory = opts.directory
        self.environment = dict(DEFAULT_ENVIRONMENT if opts.environment is None else opts.environment)
        self.partition = opts.partition
        self.local_output = opts.local_output
        self.all_reservations = opts.all_reservations
        self._guard = self.submit_guard()
        if opts.socket is not None and opts.transport is None:
            opts = opts.with_values(
                transport=httpx.AsyncHTTPTransport(uds=opts.socket), allow_insecure_http=True
            )
        elif opts.socket is not None:
            opts = opts.with_values(allow_insecure_http=True)
        self._session = opts.session(
            self.name, base_url, self._wrap_auth(auth), headers={"Accept": "application/json"}
        )
        self.base_url = self._session.base_url
        self._version_lock: SharedLock | None = None
        self._accounting: bool | None = None
        """Whether the daemon serves ``slurmdb/{version}/job/{id}`` (None: not known yet)."""

    def _wrap_auth(self, auth: httpx.Auth | None) -> httpx.Auth | None:
        """A token from ``resolve_auth`` goes in slurmrestd's own headers, not ``Authorization``."""
        if isinstance(auth, FacilityAuth):
            if not self.user_name:
                raise ConfigurationError(
                    "user_name: slurmrestd needs the user the token belongs to (X-SLURM-USER-NAME)",
                    facility=self.name,
                )
            return SlurmTokenAuth(auth.source, self.user_name, facility=self.name)
        return auth

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_version={self.api_version!r})"

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._session.aclose()

    def describe(self) -> dict[str, Any]:
        """Connection facts safe to show (no credentials)."""
        return {
            **super().describe(),
            "base_url": self.base_url,
            "socket": self.socket,
            "api_version": self.api_version,
            "user_name": self.user_name,
        }

    # -- plumbing -------------------------------------------------------------------------------

    def _prefix(self, version: str, resource: str | None) -> str:
        """The path prefix of the version's calls (``slurm/v0.0.38``)."""
        return f"slurm/{version}"

    def _accounting_prefix(self, version: str, resource: str | None) -> str | None:
        """The path prefix of the version's accounting calls (``slurmdb/v0.0.38``), None where the
        API has none."""
        return f"slurmdb/{version}"

    def _daemon(self) -> str:
        """Which daemon this is, for what the process learns of it (:mod:`.discovery`)."""
        return self.base_url if self.socket is None else f"{self.base_url} via {self.socket}"

    async def _version(self) -> str:
        if self.api_version is not None:
            return self.api_version
        if self._version_lock is None:
            self._version_lock = SharedLock()
        async with self._version_lock:
            if self.api_version is None:
                served = served_api(self._daemon()) or await self._discover()
                self.api_version, self._accounting = served.version, served.accounting
        return self.api_version

    async def _discover(self) -> ServedApi:
        """What the daemon serves, from its OpenAPI document, else by probing ``ping``; kept for
        every client of this process.

        :calls: GET openapi/v3; without a usable document GET slurm/{version}/ping, newest first
        """
        try:
            served = served_in_document(await self._session.call(build_openapi()))
        except APIError as exc:
            logger.debug("%s offers no OpenAPI document (%s); probing ping", self.base_url, exc)
            served = None
        if served is None:
            served = ServedApi(await self._detect_version())
        logger.debug("%s serves data parser %s", self.base_url, served.version)
        remember_served(self._daemon(), served)
        return served

    async def _detect_version(self) -> str:
        """The newest data-parser version whose ping answers 200.

        :calls: GET slurm/{version}/ping, newest version first
        """
        for version in SUPPORTED_VERSIONS:
            try:
                await self._session.send(build_ping(f"slurm/{version}"))
            except APIError as exc:
                if isinstance(exc, ServerError) or exc.status_code in (401, 403):
                    raise
                continue
            return version
        raise ConfigurationError(
            f"{self.base_url} answers none of the slurmrestd versions {', '.join(SUPPORTED_VERSIONS)}; "
            "set api_version",
            facility=self.name,
        )

    # -- submit ---------------------------------------------------------------------------------

    def _options(self, resource: str, spec: JobSpec, tag: str) -> tuple[SbatchOption, ...]:
        """The checked options of the job: a bad spec is refused here, before any request."""
        partition = self._partition_for(resource)
        return job_options(spec, partition=partition, tag=tag, directory=self.directory, facility=self.name)

    def _render(
        self, version: str, options: Sequence[SbatchOption], spec: JobSpec, tag: str
    ) -> dict[str, Any]:
        environment = tagged_environment(tag, self.environment, spec.environment)
        return job_description(options, version=version, environment=environment)

    def _partition_for(self, resource: str) -> str | None:
        return resource or self.partition

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        """Submit ``spec`` under the shared submit policy: never creates the job twice.

        :calls: POST slurm/{version}/job/submit; after a lost answer GET slurm/{version}/jobs
        """
        tag = tag_of(spec, self.name)
        options = self._options(resource, spec, tag)
        version = await self._version()
        job = self._render(version, options, spec, tag)
        request = build_submit(self._prefix(version, resource), version, job, script_for(spec))
        name = job.get("name")

        async def send() -> Job:
            return await self._send_submit(request, resource, name)

        async def find(sent_at: float) -> Job | None:
            return await self._tagged_job(resource, tag, submitted_after=sent_at)

        return await self._guard.submit(resource=resource, tag=tag, send=send, find=find)

    async def _send_submit(self, request: ApiRequest, resource: str, name: str | None) -> Job:
        """One submit request and its answer: the new job, PENDING (the guard's ``send``).

        A 500 carrying slurmctld's error numbers is its refusal; any other 500 leaves the outcome
        unknown, as does a success answer that cannot be read (:class:`UnreadableAnswer`).
        """
        response = await self._session.send(request, resource=resource)
        if response.status_code in SUBMIT_REFUSALS:
            raise self._refusal(resource, refusal_text(_json_or_none(response), response.text))
        data = self._session.json(response, resource=resource)
        if response.status_code >= 500:
            if refused_by_slurmctld(data):
                raise self._refusal(resource, error_text(data))
            detail = error_text(data) or body_excerpt(response.text) or "no reason given"
            raise ServerError(
                f"{request.label} answered {response.status_code}: {detail}",
                facility=self.name,
                resource=resource,
                status_code=response.status_code,
                body=detail,
            )
        try:
            job_id = parse_submit(data)
        except Refused as exc:
            raise self._refusal(resource, str(exc)) from None
        except ValueError as exc:
            raise UnreadableAnswer(f"POST job/submit: {exc}") from None
        return Job(
            id=job_id,
            resource=resource,
            state=JobState.PENDING,
            native_state="PENDING",
            name=name,
            submitted_at=datetime.now(UTC),
            raw=dict(data),
        )

    def _refusal(self, resource: str, reason: str) -> JobSubmissionError:
        """slurmctld's refusal of a submit, in the submit policy's words. It carries no HTTP
        status: slurmrestd sends it as a 500, which the policy would read as an unknown outcome."""
        return self._guard.refused(resource, APIError(reason, facility=self.name, resource=resource))

    # -- jobs -----------------------------------------------------------------------------------

    async def _listed_jobs(
        self, resource: str, *, job_ids: Sequence[str] | None = None, submitted_after: float | None = None
    ) -> list[Job]:
        """The jobs of ``resource`` that ``list_jobs`` and the look-up by tag read: the one place
        the backend asks for several jobs.

        * ``job_ids`` (a status round): each job by its own ``GET job/{id}``, a few at a time,
          and from the accounting database when slurmctld forgot it (:meth:`_find_job`); jobs
          neither knows are left out. The cost follows the jobs asked for, not the cluster.
        * ``submitted_after`` (epoch seconds; the look-up after a lost submit answer):
          ``GET jobs?update_time=`` from :data:`CLOCK_SKEW_SECONDS` before it. slurmctld answers
          nothing when no job changed since (so no job was made), else every job it knows.
        * neither: every job slurmctld knows, in one ``GET jobs``.

        :calls: GET slurm/{version}/job/{job_id} per id (then GET slurmdb/{version}/job/{job_id}),
            or GET slurm/{version}/jobs
        """
        if job_ids is not None:
            return await self._jobs_by_id(resource, job_ids)
        version = await self._version()
        update_time = None
        if submitted_after is not None:
            update_time = max(0, int(submitted_after) - CLOCK_SKEW_SECONDS)
        request = build_list_jobs(self._prefix(version, resource), update_time=update_time)
        response = await self._session.send(request, resource=resource)
        if response.status_code == 304:  # v0.0.38: no job changed since update_time
            return []
        data = self._session.json(response, resource=resource)
        try:
            return parse_jobs(data, resource, facility=self.name)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET jobs", exc, resource) from None

    async def _jobs_by_id(self, resource: str, job_ids: Sequence[str]) -> list[Job]:
        """The known jobs among ``job_ids``, in their order; the first failed look-up is raised."""
        wanted = list(dict.fromkeys(str(job_id) for job_id in job_ids))
        found: dict[str, Job] = {}
        failures: list[FacilityError] = []
        limiter = anyio.CapacityLimiter(LOOKUP_CONCURRENCY)

        async with anyio.create_task_group() as group:

            async def look(job_id: str) -> None:
                async with limiter:
                    try:
                        job = await self._find_job(resource, job_id)
                    except FacilityError as exc:
                        failures.append(exc)
                        group.cancel_scope.cancel()
                        return
                if job is not None:
                    found[job_id] = job

            for job_id in wanted:
                group.start_soon(look, job_id)
        if failures:
            raise failures[0]
        return [found[job_id] for job_id in wanted if job_id in found]

    async def _tagged_job(
        self, resource: str, tag: str, *, submitted_after: float | None = None
    ) -> Job | None:
        """The newest listed job whose comment carries ``tag``, or None."""
        jobs = await self._listed_jobs(resource, submitted_after=submitted_after)
        return newest(job for job in jobs if comment_tag(job.raw) == tag)

    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The newest job, live or recently finished, whose comment carries ``tag``.

        :calls: GET slurm/{version}/jobs
        """
        return await self._tagged_job(resource, tag)

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """Every job slurmctld knows (one call), or those of ``job_ids`` (one call each, finished
        ones also from the accounting database).

        :calls: GET slurm/{version}/jobs, or GET slurm/{version}/job/{job_id} per id
        """
        return await self._listed_jobs(resource, job_ids=job_ids)

    async def get_job(self, resource: str, job_id: str) -> Job:
        """One job as slurmctld reports it, or, once slurmctld forgot it (``MinJobAge``), as the
        accounting database does; PENDING for a job submitted here that neither shows yet.

        :calls: GET slurm/{version}/job/{job_id}; when slurmctld does not know it,
            GET slurmdb/{version}/job/{job_id}
        """
        job = await self._find_job(resource, str(job_id))
        if job is not None:
            return job
        pending = self._guard.memory.pending_view(resource, str(job_id))
        if pending is not None:
            return pending
        if self._accounting:
            why = "neither slurmctld nor the accounting database knows it"
        else:
            why = "slurmctld does not know it (it forgets finished jobs after MinJobAge) and there "
            why += "is no accounting database to ask"
        raise NotFoundError(
            f"job {job_id} is not known to {resource}: {why}", facility=self.name, resource=resource
        )

    async def _find_job(self, resource: str, job_id: str) -> Job | None:
        """The job from slurmctld, else from the accounting database, else None."""
        job = await self._slurmctld_job(resource, job_id)
        if job is None:
            job = await self._accounted_job(resource, job_id)
        return job

    async def _slurmctld_job(self, resource: str, job_id: str) -> Job | None:
        """The job as slurmctld reports it; None when slurmctld does not know it (any more).

        :calls: GET slurm/{version}/job/{job_id}
        """
        version = await self._version()
        request = build_get_job(self._prefix(version, resource), job_id, self.name)
        response = await self._session.send(request, resource=resource)
        data = self._session.json(response, resource=resource)
        jobs = data.get("jobs") if isinstance(data, Mapping) else None
        if not jobs:
            gone = response.status_code == 404 or any(n in GONE_ERRORS for n in error_numbers(data))
            if not gone and response.status_code >= 500:
                raise ServerError(
                    f"GET job/{job_id} answered {response.status_code}: {error_text(data) or 'no jobs'}",
                    facility=self.name,
                    resource=resource,
                    status_code=response.status_code,
                )
            return None
        try:
            return parse_job(jobs[0], resource, facility=self.name)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer(f"GET job/{job_id}", exc, resource) from None

    async def _accounted_job(self, resource: str, job_id: str) -> Job | None:
        """The job as the accounting database (slurmdbd) recorded it; None when it has no record,
        or the daemon serves no accounting routes (learnt from its 404, then not asked again).

        :calls: GET slurmdb/{version}/job/{job_id}
        """
        version = await self._version()
        prefix = self._accounting_prefix(version, resource)
        if prefix is None or self._accounting is False:
            return None
        response = await self._session.send(build_accounted_job(prefix, job_id, self.name), resource=resource)
        data = _json_or_none(response)
        if not isinstance(data, Mapping):
            if response.status_code == 404:  # the route itself is not served
                self._no_accounting()
                return None
            data = self._session.json(response, resource=resource)
        self._accounting = True
        jobs = data.get("jobs")
        if not jobs:
            if response.status_code >= 500 and not any(n in GONE_ERRORS for n in error_numbers(data)):
                logger.debug("GET %s/job/%s: %s", prefix, job_id, error_text(data))
            return None
        try:
            return parse_job(jobs[-1], resource, facility=self.name)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer(f"GET {prefix}/job/{job_id}", exc, resource) from None

    def _no_accounting(self) -> None:
        """Remember, for this process, that the daemon serves no accounting routes."""
        self._accounting = False
        if self.api_version is not None:
            remember_served(self._daemon(), ServedApi(self.api_version, accounting=False))

    async def cancel(self, resource: str, job_id: str) -> None:
        """Cancel a job; a job that already finished is left as it is.

        :calls: DELETE slurm/{version}/job/{job_id}
        """
        version = await self._version()
        request = build_cancel(self._prefix(version, resource), job_id, self.name)
        response = await self._session.send(request, resource=resource)
        data = self._session.json(response, resource=resource) if response.content else {}
        numbers = error_numbers(data)
        if not numbers and response.status_code < 400:
            return
        text = error_text(data)
        if response.status_code == 404 or any(n in GONE_ERRORS for n in numbers):
            raise NotFoundError(
                f"job {job_id} is not known to {resource}: {text}",
                facility=self.name,
                resource=resource,
                status_code=response.status_code,
            )
        if _ALREADY_DONE.search(text):
            return
        raise APIError(
            f"cancel of job {job_id} on {resource} failed: {text or response.status_code}",
            facility=self.name,
            resource=resource,
            status_code=response.status_code,
        )

    async def job_output(
        self, resource: str, job_id: str, stream: str = "stdout", tail: int | None = None
    ) -> str:
        """The job's output file, read locally (only with ``local_output=True``).

        :calls: GET slurm/{version}/job/{job_id} (for the file's path)
        """
        if stream not in ("stdout", "stderr"):
            raise InvalidJobSpec(f"stream: must be 'stdout' or 'stderr', got {stream!r}", field="stream")
        if not self.local_output:
            raise UnsupportedOperation(
                f"job_output is not offered by the {self.facility_label}: it has no call to read a "
                "job's output; set local_output=True when this host sees the cluster's file systems",
                facility=self.name,
            )
        job = await self.get_job(resource, job_id)
        path = job.stdout_path if stream == "stdout" else job.stderr_path
        if not path:
            raise NotFoundError(f"job {job_id} has no {stream} path", facility=self.name, resource=resource)
        try:
            return await anyio.to_thread.run_sync(read_output, path, tail)
        except FileNotFoundError:
            raise NotFoundError(
                f"the {stream} of job {job_id} ({path}) does not exist", facility=self.name, resource=resource
            ) from None


def _json_or_none(response: httpx.Response) -> Any:
    """The response's JSON, or None when its body is empty or not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None

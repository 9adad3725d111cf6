"""Backend for Slurm's REST daemon, slurmrestd (data-parser versions v0.0.38 to v0.0.44).

``base_url`` is the daemon's root (``http://127.0.0.1:6820``); calls go to
``slurm/{version}/{call}``. One deployment is one Slurm cluster and its **resources are its
partitions**: submitting to a resource sets the job's partition (``attributes.queue_name`` wins
when given). Requests are built by :mod:`.requests`, job answers read by :mod:`.parsers` and
cluster answers by :mod:`.status` (pure functions, tested on recorded payloads); the job
description is written by :mod:`.jobs` over the shared Slurm renderer.

Choices where slurmrestd is silent or awkward:

* **Version.** ``api_version`` picks the data parser; ``"auto"`` (the default) probes
  ``GET slurm/{version}/ping`` from the newest version down on first use and keeps the first that
  answers. Parsers read every version's shapes (see :mod:`.versions`).
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
  HTTP 500 and slurmctld's error number: that answer is a refusal, not an unknown outcome. A
  success answer that cannot be read (not JSON, no job id, a job id that is neither text nor a
  number) counts as a lost one, never as a refusal. ``find_job_by_tag`` offers the same look-up
  to a caller with a new client. A job just submitted that slurmctld does not show yet is PENDING.
* **Finished jobs** are only known to slurmctld for ``MinJobAge`` seconds when there is no
  accounting database; a job that is gone is ``NotFoundError``.
* **Output.** slurmrestd has no call to read a job's output. With ``local_output=True`` (the
  backend runs on a host that sees the cluster's file systems) ``job_output`` reads the job's
  stdout/stderr file; otherwise it raises :class:`UnsupportedOperation`.
* **Outages** are reservations flagged ``MAINT``: planned, for their partition or the whole
  cluster.
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
from ...errors import (
    APIError,
    ConfigurationError,
    InvalidJobSpec,
    JobSubmissionError,
    NotFoundError,
    ServerError,
    UnsupportedOperation,
    body_excerpt,
)
from ...http import ApiRequest
from ...models import Job, JobSpec, JobState, Outage, ResourceStatus
from ...options import BackendOptions
from ..base import FacilityBackend
from ..slurm_script import SbatchOption
from ..submit import UnreadableAnswer, newest, tag_of, tagged_environment
from .auth import SlurmTokenAuth
from .jobs import comment_tag, job_description, job_options, script_for
from .options import DEFAULT_ENVIRONMENT, SlurmRestOptions
from .parsers import (
    GONE_ERRORS,
    Refused,
    error_numbers,
    error_text,
    parse_job,
    parse_jobs,
    parse_submit,
    refused_by_slurmctld,
)
from .requests import (
    build_cancel,
    build_get_job,
    build_list_jobs,
    build_nodes,
    build_partitions,
    build_ping,
    build_reservations,
    build_submit,
)
from .status import filter_outages, parse_nodes, parse_partitions, parse_pings, parse_reservations
from .versions import SUPPORTED_VERSIONS, normalise_version

__all__ = ["SlurmRestBackend"]

logger = logging.getLogger("facility_common.backends.slurmrest")

_ALREADY_DONE = re.compile(r"already\s+(completing|completed|finished)|job.*complet", re.IGNORECASE)


def _read_tail(path: str, tail: int | None) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    if tail is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-tail:]) if tail > 0 else ""


class SlurmRestBackend(FacilityBackend):
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
        self._version_lock: anyio.Lock | None = None

    def _wrap_auth(self, auth: httpx.Auth | None) -> httpx.Auth | None:
        """A token from ``resolve_auth`` goes in slurmrestd's own headers, not ``Authorization``."""
        if isinstance(auth, FacilityAuth):
            if not self.user_name:
                raise ConfigurationError(
                    "user_name: slurmrestd needs the user the token belongs to (X-SLURM-USER-NAME)",
                    facility=self.name,
                )
            return SlurmTokenAuth(auth.source, self.user_name)
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

    async def _version(self) -> str:
        if self.api_version is not None:
            return self.api_version
        if self._version_lock is None:
            self._version_lock = anyio.Lock()
        async with self._version_lock:
            if self.api_version is None:
                self.api_version = await self._detect_version()
        return self.api_version

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
            logger.debug("%s serves data parser %s", self.base_url, version)
            return version
        raise ConfigurationError(
            f"{self.base_url} answers none of the slurmrestd versions {', '.join(SUPPORTED_VERSIONS)}; "
            "set api_version",
            facility=self.name,
        )

    def _bad_answer(self, what: str, exc: Exception, resource: str | None) -> APIError:
        return APIError(f"{what}: unexpected answer: {exc}", facility=self.name, resource=resource)

    # -- status ---------------------------------------------------------------------------------

    async def ping(self, resource: str | None = None) -> list[dict[str, Any]]:
        """slurmctld's answer to ping (``hostname``, ``ping``/``responding``, ``mode``...).

        :calls: GET slurm/{version}/ping
        """
        version = await self._version()
        data = await self._session.call(build_ping(self._prefix(version, resource)), resource=resource)
        try:
            return parse_pings(data)
        except ValueError as exc:
            raise self._bad_answer("GET ping", exc, None) from None

    async def partitions(self, resource: str | None = None) -> list[ResourceStatus]:
        """The cluster's partitions.

        :calls: GET slurm/{version}/partitions
        """
        version = await self._version()
        data = await self._session.call(build_partitions(self._prefix(version, resource)), resource=resource)
        try:
            return parse_partitions(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET partitions", exc, None) from None

    async def resources(self) -> list[ResourceStatus]:
        """The cluster's partitions.

        :calls: GET slurm/{version}/partitions
        """
        return await self.partitions()

    async def resource(self, name_or_id: str) -> ResourceStatus:
        """One partition by name.

        :calls: GET slurm/{version}/partitions
        """
        for status in await self.resources():
            if name_or_id in (status.name, status.id):
                return status
        raise NotFoundError(f"no partition {name_or_id!r}", facility=self.name, resource=name_or_id)

    async def nodes(self, resource: str | None = None) -> list[dict[str, Any]]:
        """The cluster's nodes as plain dicts (``name``, ``state``, ``usable``, ``partitions``...).

        :calls: GET slurm/{version}/nodes
        """
        version = await self._version()
        data = await self._session.call(build_nodes(self._prefix(version, resource)), resource=resource)
        try:
            return parse_nodes(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET nodes", exc, None) from None

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Maintenance reservations overlapping ``start..end``, of ``resource`` or the cluster.

        :calls: GET slurm/{version}/reservations
        """
        version = await self._version()
        data = await self._session.call(
            build_reservations(self._prefix(version, resource)), resource=resource
        )
        try:
            outages = parse_reservations(data, all_reservations=self.all_reservations)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET reservations", exc, resource) from None
        return filter_outages(outages, resource, start, end)

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
        the backend asks slurmctld for its jobs.

        Today that is one ``GET jobs`` of every job slurmctld knows, whatever is wanted; the
        filter by ``job_ids`` is applied here. ``job_ids`` and ``submitted_after`` (epoch seconds,
        the earliest submit a look-up after a submit cares for) say what a cheaper call could
        ask for instead (``GET job/{id}``, or ``GET jobs?update_time=``); ``submitted_after`` is
        not used yet.

        :calls: GET slurm/{version}/jobs
        """
        version = await self._version()
        data = await self._session.call(build_list_jobs(self._prefix(version, resource)), resource=resource)
        try:
            jobs = parse_jobs(data, resource, facility=self.name)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET jobs", exc, resource) from None
        if job_ids is None:
            return jobs
        wanted = {str(job_id) for job_id in job_ids}
        return [job for job in jobs if job.id in wanted]

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
        """Every job slurmctld knows (one call), or those of ``job_ids``.

        :calls: GET slurm/{version}/jobs
        """
        return await self._listed_jobs(resource, job_ids=job_ids)

    async def get_job(self, resource: str, job_id: str) -> Job:
        """One job as slurmctld (or, behind S3M, the accounting database) reports it; PENDING for
        a job submitted here that it does not show yet.

        :calls: GET slurm/{version}/job/{job_id}
        """
        try:
            return await self._get_job(resource, job_id)
        except NotFoundError:
            pending = self._guard.memory.pending_view(resource, str(job_id))
            if pending is None:
                raise
            return pending

    async def _get_job(self, resource: str, job_id: str) -> Job:
        version = await self._version()
        request = build_get_job(self._prefix(version, resource), job_id)
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
            raise NotFoundError(
                f"job {job_id} is not known to {resource}: {error_text(data) or 'no such job'}",
                facility=self.name,
                resource=resource,
                status_code=response.status_code,
            )
        try:
            return parse_job(jobs[0], resource, facility=self.name)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer(f"GET job/{job_id}", exc, resource) from None

    async def cancel(self, resource: str, job_id: str) -> None:
        """Cancel a job; a job that already finished is left as it is.

        :calls: DELETE slurm/{version}/job/{job_id}
        """
        version = await self._version()
        request = build_cancel(self._prefix(version, resource), job_id)
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
            return await anyio.to_thread.run_sync(_read_tail, path, tail)
        except FileNotFoundError:
            raise NotFoundError(
                f"the {stream} of job {job_id} ({path}) does not exist", facility=self.name, resource=resource
            ) from None

"""Backend for CSCS FirecREST v2 (Alps: Daint, Eiger, Clariden, Santis; other FirecREST sites).

``base_url`` is the FirecREST root (``https://api.cscs.ch/hpc/firecrest/v2``). The calls, the staged
S3 transfers and the transfer-job waits are pyfirecrest's ``AsyncFirecrest`` (one client per
system, made lazily in the running event loop); request building and response parsing are the pure
functions of :mod:`.firecrest_parse`. Resources are FirecREST systems: their id is their name.

How the API's gaps are filled (the spec is silent on these):

* **Tokens.** pyfirecrest's own client-credentials fetch is a blocking ``requests.post``; the
  client gets :class:`~.firecrest_auth.AsyncTokenAuthorization` instead, whose awaited
  ``auth_headers()`` uses our cached, ahead-of-expiry refreshed token source. A 401 drops the
  token and the call is made once more with a fresh one.
* **Health and outages.** A system is UP when all its ``servicesHealth`` entries are healthy,
  DOWN when its scheduler or SSH is not, DEGRADED when only storage is. FirecREST has no outage
  calendar: a system's Slurm/PBS reservations are its planned outages, and a DOWN system adds an
  unplanned, open-ended one.
* **Submit without duplicates.** The rendered (or given) script carries the tag as a comment line
  ``# facility-submit-tag: <tag>`` and the environment as ``FACILITY_SUBMIT_TAG``. After an
  ambiguous failure (no answer, 502, 504) the backend lists the system's jobs and reads the
  metadata (the script) of those with the job's name; a match is returned, and only when none
  matches is the job sent again (at most ``SUBMIT_ATTEMPTS`` times in all). It is not sent again
  when the jobs could not be listed, nor when the server may still be at work on it (a read
  timeout, 504): :class:`JobSubmissionError` then says the outcome is unknown (``outcome_unknown``
  set), and the next submit of the same tag looks for the job first. A success answer that cannot
  be read (not JSON, no usable ``jobId``, over ``max_body_bytes``) means the job exists: it is
  looked up the same way, never sent again. :meth:`FirecrestBackend.find_job_by_tag` offers the
  look-up to callers.
* **Bounded answers.** pyfirecrest reads whole bodies; its session gets a
  :class:`~.firecrest_auth.BodyLimitTransport` that stops an API answer at ``max_body_bytes``
  (an :class:`APIError` naming the option). Staged transfers' object storage is not limited.
* **Job not found** (Slurm needs a moment after ``sbatch``): ``get_job`` reports a job submitted
  here PENDING for a grace period, any other as a clean :class:`NotFoundError`.
* **Output paths** come from ``GET .../jobs/{id}/metadata`` (asked once per job and cached);
  ``job_output`` reads them with ``ops/view`` or ``ops/tail``.
* **Transfers.** ``upload``/``download`` go direct (``ops/upload``/``ops/download``) up to the
  system's ``max_ops_file_size`` and through the staged S3 path above it, streamed in
  ``transfer_chunk_size`` pieces with at most ``max_s3_connections`` parts in flight, so memory
  stays flat whatever the file size. A download lands in a temporary file next to the target and
  is renamed into place only when complete. ``cp``/``mv`` are transfer jobs, awaited for at most
  ``transfer_timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import posixpath
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import anyio
import httpx
from firecrest import FirecrestException
from firecrest.FirecrestException import (
    JobTimeoutException,
    MultipartUploadException,
    TransferJobFailedException,
    TransferJobTimeoutException,
)
from firecrest.v2 import AsyncFirecrest

from ..errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    FacilityError,
    JobSubmissionError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    WaitTimeout,
)
from ..http import RetryPolicy, check_base_url, parse_retry_after
from ..models import FileEntry, Job, JobSpec, JobState, Outage, ResourceStatus
from ..options import BackendOptions, about
from ..tls import certificate_failure, certificate_message, ssl_verify
from .base import Capability, FacilityBackend, ProgressCallback
from .firecrest_auth import AsyncTokenAuthorization, BodyLimitTransport
from .firecrest_parse import (
    SUBMIT_TAG_VARIABLE,
    build_submit,
    default_directory,
    job_id_of,
    max_ops_file_size,
    parse_checksum,
    parse_file_entry,
    parse_jobs,
    parse_outages,
    parse_stat,
    parse_system,
    scheduler_type,
    tag_of_script,
)
from .submit_guard import SubmitMemory, may_still_be_working, outcome_unknown

__all__ = ["FirecrestBackend", "FirecrestOptions"]

logger = logging.getLogger("facility_common.backends.firecrest")

FACILITY = "firecrest"
SUBMIT_ATTEMPTS = 3
_T = TypeVar("_T")

# Failures after which a submit may or may not have reached the scheduler.
_AMBIGUOUS_STATUSES = frozenset({500, 502, 504})


class _UnreadableAnswer(APIError):
    """A success answer whose body does not parse (pyfirecrest raised a JSON decode error)."""


class _LimitedFirecrest(AsyncFirecrest):
    """pyfirecrest's client whose HTTP session reads API answers up to ``max_body_bytes``
    (:class:`BodyLimitTransport`), also after ``create_new_session``."""

    def __init__(self, firecrest_url: str, authorization: Any, *, verify: Any, max_body_bytes: int) -> None:
        super().__init__(firecrest_url, authorization, verify=verify)
        self.limit = BodyLimitTransport(
            httpx.AsyncHTTPTransport(verify=verify),
            api_root=firecrest_url,
            max_body_bytes=max_body_bytes,
            facility=FACILITY,
            direct_limit=lambda: int(self.MAX_DIRECT_UPLOAD_SIZE),
        )
        # Replaces the session pyfirecrest made (never opened, so there is nothing to close).
        self._session = self._limited_session()

    def _limited_session(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.limit)

    async def create_new_session(self) -> None:
        if not self._session.is_closed:
            await self._session.aclose()
        self.limit = BodyLimitTransport(
            httpx.AsyncHTTPTransport(verify=self._verify),
            api_root=self._firecrest_url,
            max_body_bytes=self.limit.max_body_bytes,
            facility=FACILITY,
            direct_limit=lambda: int(self.MAX_DIRECT_UPLOAD_SIZE),
        )
        self._session = self._limited_session()


@dataclasses.dataclass(frozen=True, kw_only=True)
class FirecrestOptions(BackendOptions):
    """Options of the FirecREST v2 backend."""

    account: str | None = dataclasses.field(default=None, metadata=about("Account of jobs that name none."))
    partition: str | None = dataclasses.field(
        default=None, metadata=about("Partition of jobs that name no queue.")
    )
    directory: str | None = dataclasses.field(
        default=None,
        metadata=about("Working directory of jobs that name none (default: the system's work directory)."),
    )
    transfer_timeout: float = dataclasses.field(
        default=3600.0, metadata=about("Longest wait for a staged transfer or a copy job, in seconds.")
    )
    transfer_chunk_size: int = dataclasses.field(
        default=1024 * 1024, metadata=about("Bytes per part of a staged (S3) transfer.")
    )
    max_s3_connections: int = dataclasses.field(
        default=2, metadata=about("Parallel connections of a staged (S3) transfer.")
    )
    rate_limit_retries: int = dataclasses.field(default=6, metadata=about("Retries after a 429 answer."))
    system_cache_seconds: float = dataclasses.field(
        default=30.0, metadata=about("How long the list of systems is kept, in seconds.")
    )
    api_version: str | None = dataclasses.field(
        default=None, metadata=about("The server's FirecREST version, when it cannot be asked.")
    )


class FirecrestBackend(FacilityBackend):
    """FirecREST v2 at one site.

    ``account`` and ``partition`` are used when a JobSpec names none; ``directory`` is the
    working directory of jobs that name none (default: the user's directory on the system's
    ``defaultWorkDir`` file system). No network call happens before the first operation.
    """

    name: ClassVar[str] = "firecrest"
    facility_label: ClassVar[str] = "FirecREST v2"
    capabilities: ClassVar[frozenset[str]] = Capability.ALL

    Options: ClassVar[type[BackendOptions]] = FirecrestOptions
    options: FirecrestOptions

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        options: FirecrestOptions | None = None,
        **values: Any,
    ) -> None:
        super().__init__(base_url=base_url, auth=auth, options=options, **values)
        self.facility = FACILITY
        opts = self.options
        self.base_url = check_base_url(
            base_url,
            facility=FACILITY,
            sends_credentials=auth is not None,
            allow_insecure_http=opts.allow_insecure_http,
        )
        self.account = opts.account
        self.partition = opts.partition
        self.directory = opts.directory
        self.timeout = opts.timeout
        self.verify = opts.tls(FACILITY)
        self.retry = opts.retry or RetryPolicy()
        self.max_body_bytes = opts.max_body_bytes
        self.transfer_timeout = opts.transfer_timeout
        self.transfer_chunk_size = opts.transfer_chunk_size
        self.max_s3_connections = opts.max_s3_connections
        self.rate_limit_retries = opts.rate_limit_retries
        self.submit_lookup_delays = opts.submit_lookup_delays
        self._memory = SubmitMemory(visibility_grace=opts.visibility_grace, settle_window=opts.settle_window)
        self.system_cache_seconds = opts.system_cache_seconds
        self.api_version = opts.api_version
        self._authorization = AsyncTokenAuthorization(auth, facility=FACILITY)
        self._clients: dict[str, AsyncFirecrest] = {}
        self._systems: dict[str, dict[str, Any]] = {}
        self._systems_at: float | None = None
        self._systems_lock: anyio.Lock | None = None
        self._user: str | None = None
        self._outputs: dict[tuple[str, str], dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"FirecrestBackend(base_url={self.base_url!r})"

    def describe(self) -> dict[str, Any]:
        """Connection facts safe to show (no credentials)."""
        return {
            **super().describe(),
            "base_url": self.base_url,
            "account": self.account,
            "partition": self.partition,
        }

    async def aclose(self) -> None:
        """Close every pyfirecrest session."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close_session()

    # -- plumbing -------------------------------------------------------------------------------

    @property
    def max_body_bytes(self) -> int:
        """The largest API answer read, in bytes (a direct download may be as large as the
        system's direct-transfer limit); a larger one is an :class:`APIError`."""
        return self._max_body_bytes

    @max_body_bytes.setter
    def max_body_bytes(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigurationError("max_body_bytes: must be a positive integer", facility=FACILITY)
        self._max_body_bytes = value
        for client in getattr(self, "_clients", {}).values():
            if isinstance(client, _LimitedFirecrest):
                client.limit.max_body_bytes = value

    def _client(self, system: str = "") -> AsyncFirecrest:
        """The pyfirecrest client used for ``system`` (its direct-transfer limit is the system's)."""
        client = self._clients.get(system)
        if client is None:
            client = _LimitedFirecrest(
                self.base_url,
                self._authorization,
                verify=ssl_verify(self.verify, FACILITY),
                max_body_bytes=self.max_body_bytes,
            )
            client.timeout = self.timeout
            client.num_retries_rate_limit = self.rate_limit_retries
            client.set_maximum_s3_connections(self.max_s3_connections)
            if self.api_version:
                client.set_api_version(self.api_version)
            limit = max_ops_file_size(self._systems[system]) if system in self._systems else None
            if limit is not None:
                # pyfirecrest goes direct below this size (strictly); the API takes up to the limit.
                client.MAX_DIRECT_UPLOAD_SIZE = limit + 1
            self._clients[system] = client
        return client

    def _error(self, exc: FirecrestException, resource: str | None, what: str) -> FacilityError:
        response = exc.responses[-1] if exc.responses else None
        status = response.status_code if response is not None else None
        body = response.text if response is not None else None
        message = None
        if response is not None:
            with contextlib.suppress(ValueError, AttributeError):
                message = response.json().get("message")
        text = f"{what}: {message or f'HTTP {status}'}"
        context: dict[str, Any] = {
            "facility": FACILITY,
            "resource": resource,
            "status_code": status,
            "body": body,
        }
        if status == 404:
            return NotFoundError(text, **context)
        if status == 401:
            return AuthenticationError(text, **context)
        if status == 429:
            retry_after = (
                parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
            )
            return RateLimitedError(text, retry_after=retry_after, **context)
        if status is not None and status >= 500:
            return ServerError(text, **context)
        return APIError(text, **context)

    async def _call(
        self,
        what: str,
        action: Callable[[], Awaitable[_T]],
        *,
        resource: str | None = None,
        idempotent: bool = True,
    ) -> _T:
        """Run one pyfirecrest call: retry what may be retried, map failures to our errors."""
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            try:
                return await action()
            except FirecrestException as exc:
                response = exc.responses[-1] if exc.responses else None
                status = response.status_code if response is not None else None
                if status == 401 and not refreshed and self._authorization.invalidate():
                    refreshed = True
                    attempt -= 1
                    continue
                retryable = status in self.retry.retry_statuses and (idempotent or status == 503)
                if retryable and not last:
                    after = (
                        parse_retry_after(response.headers.get("Retry-After"))
                        if response is not None
                        else None
                    )
                    await anyio.sleep(self.retry.delay(attempt, after))
                    continue
                raise self._error(exc, resource, what) from None
            except httpx.TransportError as exc:
                failure = certificate_failure(exc)
                if failure is not None:
                    raise TransportError(
                        f"{what}: {certificate_message(failure, httpx.URL(self.base_url).netloc.decode())}",
                        facility=FACILITY,
                        resource=resource,
                    ) from None
                if (idempotent or isinstance(exc, httpx.ConnectError)) and not last:
                    await anyio.sleep(self.retry.delay(attempt))
                    continue
                raise TransportError(
                    f"{what}: {type(exc).__name__}: {exc}", facility=FACILITY, resource=resource
                ) from None
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise _UnreadableAnswer(
                    f"{what}: the answer is not JSON", facility=FACILITY, resource=resource
                ) from None
            except APIError as exc:
                # An answer over max_body_bytes (BodyLimitTransport): name what was asked.
                exc.message = f"{what}: {exc.message}"
                exc.resource = exc.resource or resource
                raise
            except FileNotFoundError as exc:
                raise NotFoundError(f"{what}: {exc}", facility=FACILITY, resource=resource) from None
            except (TransferJobTimeoutException, JobTimeoutException):
                raise WaitTimeout(
                    f"{what}: the transfer job did not finish within {self.transfer_timeout:g} s",
                    facility=FACILITY,
                    resource=resource,
                ) from None
            except (TransferJobFailedException, MultipartUploadException) as exc:
                raise APIError(f"{what}: {exc}", facility=FACILITY, resource=resource) from None

    async def _load_systems(self, *, force: bool = False) -> dict[str, dict[str, Any]]:
        if self._systems_lock is None:
            self._systems_lock = anyio.Lock()
        async with self._systems_lock:
            fresh = (
                self._systems_at is not None
                and time.monotonic() - self._systems_at < self.system_cache_seconds
            )
            if force or not fresh:
                client = self._client()
                systems = await self._call("systems", client.systems)
                self._systems = {
                    str(s["name"]): dict(s) for s in systems if isinstance(s, dict) and s.get("name")
                }
                self._systems_at = time.monotonic()
            return self._systems

    async def _system(self, resource: str) -> str:
        """The canonical name of the system ``resource`` (names are case insensitive)."""
        systems = self._systems if self._systems_at is not None else await self._load_systems()
        for name in systems:
            if name.lower() == str(resource).lower():
                return name
        systems = await self._load_systems(force=True)
        for name in systems:
            if name.lower() == str(resource).lower():
                return name
        raise NotFoundError(
            f"system {resource!r} is not offered by this FirecREST", facility=FACILITY, resource=resource
        )

    async def _home(self, system: str) -> str:
        if self._user is None:
            info = await self._call(
                "userinfo", lambda: self._client(system).userinfo(system), resource=system
            )
            self._user = str((info.get("user") or {}).get("name") or "")
        directory = default_directory(self._systems.get(system, {}), self._user or None)
        if directory is None:
            raise JobSubmissionError(
                f"{system} names no default working directory; give JobSpec.directory or the "
                "backend option 'directory'",
                facility=FACILITY,
                resource=system,
            )
        return directory

    # -- status ---------------------------------------------------------------------------------

    async def resources(self) -> list[ResourceStatus]:
        """:calls: GET /status/systems"""
        systems = await self._load_systems(force=True)
        return [parse_system(system) for system in systems.values()]

    async def resource(self, name_or_id: str) -> ResourceStatus:
        """:calls: GET /status/systems"""
        await self._load_systems(force=True)
        return parse_system(self._systems[await self._system(name_or_id)])

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """:calls: GET /status/systems, GET /status/{system}/reservations"""
        systems = await self._load_systems(force=True)
        names = [await self._system(resource)] if resource else list(systems)
        found: list[Outage] = []
        for system in names:
            client = self._client(system)
            reservations = await self._call(
                "reservations", functools.partial(client.reservations, system), resource=system
            )
            found += parse_outages(system, reservations or [], parse_system(systems[system]))
        if start is not None or end is not None:
            low = start or datetime.min.replace(tzinfo=UTC)
            high = end or datetime.max.replace(tzinfo=UTC)
            found = [o for o in found if o.overlaps(low, high)]
        return found

    # -- jobs -----------------------------------------------------------------------------------

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        """:calls: POST /compute/{system}/jobs (after an ambiguous failure, GET .../jobs and
        GET .../jobs/{id}/metadata to look for the tag first)"""
        system = await self._system(resource)
        tag = spec.environment.get(SUBMIT_TAG_VARIABLE) or uuid.uuid4().hex
        directory = spec.directory or self.directory or await self._home(system)
        arguments = build_submit(
            spec, tag=tag, directory=directory, account=self.account, partition=self.partition
        )
        client = self._client(system)
        if self._memory.in_doubt(tag):
            # An earlier submit of this tag may have created the job: look before sending.
            found = self._memory.settle(
                await self._find_tagged(system, tag, spec.name),
                tag=tag,
                facility=FACILITY,
                resource=system,
                variable=SUBMIT_TAG_VARIABLE,
            )
            if found is not None:
                return self._memory.submitted(found)
        reason = ""
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                answer = await self._call(
                    "submit", lambda: client.submit(system, **arguments), resource=system, idempotent=False
                )
            except (TransportError, ServerError) as exc:
                if isinstance(exc, ServerError) and exc.status_code not in _AMBIGUOUS_STATUSES:
                    raise JobSubmissionError(
                        str(exc), facility=FACILITY, resource=system, status_code=exc.status_code
                    ) from None
                reason = exc.message
                found = await self._find_tagged(system, tag, spec.name)
                if found is not None:
                    return self._memory.submitted(found)
                if may_still_be_working(exc):
                    self._memory.doubt(tag)
                    raise outcome_unknown(
                        facility=FACILITY,
                        resource=system,
                        tag=tag,
                        variable=SUBMIT_TAG_VARIABLE,
                        reason=reason,
                    ) from None
                logger.warning(
                    "submit to %s failed ambiguously (%s); sending again (%d)", system, reason, attempt
                )
                continue
            except APIError as exc:
                status = exc.status_code
                if isinstance(exc, _UnreadableAnswer) or (status is not None and 200 <= status < 300):
                    # Accepted, but the answer cannot be read (not JSON, over max_body_bytes, a
                    # success status other than the API's 201 with a body of another shape).
                    reason = exc.message if exc.body is None else f"{exc.message} with an unexpected body"
                    return await self._unreadable_answer(system, tag, spec, reason)
                if isinstance(exc, NotFoundError | RateLimitedError):
                    raise
                raise JobSubmissionError(
                    str(exc), facility=FACILITY, resource=system, status_code=exc.status_code
                ) from None
            try:
                job_id = job_id_of(answer.get("jobId") if isinstance(answer, dict) else None)
            except APIError as exc:
                return await self._unreadable_answer(system, tag, spec, exc.message)
            return self._memory.submitted(
                Job(
                    id=job_id,
                    resource=system,
                    state=JobState.PENDING,
                    name=spec.name,
                    submitted_at=datetime.now(UTC),
                    raw=dict(answer),
                )
            )
        raise JobSubmissionError(
            f"submit failed {SUBMIT_ATTEMPTS} times and no job tagged {SUBMIT_TAG_VARIABLE}={tag} was found: "
            f"{reason}",
            facility=FACILITY,
            resource=system,
        )

    async def _unreadable_answer(self, system: str, tag: str, spec: JobSpec, reason: str) -> Job:
        """After a success answer that cannot be read: the job exists (the server accepted it)
        but its id is unknown. It is looked for by its tag; not found, the outcome is unknown
        and the job is not sent again."""
        found = await self._find_tagged(system, tag, spec.name)
        if found is not None:
            return self._memory.submitted(found)
        self._memory.doubt(tag)
        raise outcome_unknown(
            facility=FACILITY,
            resource=system,
            tag=tag,
            variable=SUBMIT_TAG_VARIABLE,
            reason=f"the server accepted the submit but its answer could not be read ({reason}), "
            "so the job may exist; it does not show yet",
        )

    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The newest job of ``resource`` whose script carries ``tag`` (the
        ``# facility-submit-tag:`` line every submit here writes), or None.

        Reads the metadata of every listed job until one matches, newest first; cached
        metadata is not asked again. Raises :class:`JobSubmissionError` with ``outcome_unknown``
        when the jobs could not be listed, or when no job matched but the metadata of some
        could not be read (the job may be one of those).

        :calls: GET /compute/{system}/jobs, GET /compute/{system}/jobs/{id}/metadata
        """
        system = await self._system(resource)
        return await self._find_tagged(system, tag, None, delays=(0.0,))

    async def _find_tagged(
        self, system: str, tag: str, name: str | None, delays: Sequence[float] | None = None
    ) -> Job | None:
        """The job of ``system`` whose script carries ``tag``, if any, looked for after each of
        ``delays`` (default ``submit_lookup_delays``). Raises the outcome-unknown
        :class:`JobSubmissionError` (and keeps the tag in doubt) when no look could rule the job
        out: the jobs could not be listed, or some unmatched job's metadata could not be read."""
        client = self._client(system)
        failure: FacilityError | None = None
        ruled_out = False
        for delay in self.submit_lookup_delays if delays is None else delays:
            await anyio.sleep(delay)
            try:
                jobs = await self._call("list jobs", lambda: client.job_info(system), resource=system)
            except FacilityError as exc:
                failure = exc
                continue
            unread: FacilityError | None = None
            for job in reversed(jobs or []):
                if not isinstance(job, dict):
                    continue
                if name and job.get("name") not in (name, None):
                    continue
                try:
                    job_id = job_id_of(job.get("jobId"))
                    entry = await self._cached_metadata(system, job_id)
                except FacilityError as exc:
                    unread = exc
                    continue
                if tag_of_script(entry.get("script")) == tag:
                    scheduler = scheduler_type(self._systems.get(system, {}))
                    return parse_jobs([job], system, scheduler=scheduler)[0]
            if unread is None:
                ruled_out = True
            else:
                failure = unread
        if not ruled_out and failure is not None:
            self._memory.doubt(tag)
            raise outcome_unknown(
                facility=FACILITY,
                resource=system,
                tag=tag,
                variable=SUBMIT_TAG_VARIABLE,
                reason=f"looking for the job failed: {failure.message}",
            )
        return None

    async def _cached_metadata(self, system: str, job_id: str) -> dict[str, Any]:
        """A job's metadata entry (its script and output paths), asked once and kept."""
        key = (system, job_id)
        if key not in self._outputs:
            client = self._client(system)
            meta = await self._call(
                "job metadata", functools.partial(client.job_metadata, system, job_id), resource=system
            )
            entry = meta[0] if isinstance(meta, list) and meta else None
            if not isinstance(entry, dict):
                raise NotFoundError(f"job {job_id} has no metadata", facility=FACILITY, resource=system)
            self._outputs[key] = dict(entry)
        return self._outputs[key]

    async def _metadata(self, system: str, job_id: str) -> dict[str, Any]:
        return await self._cached_metadata(system, job_id)

    async def get_job(self, resource: str, job_id: str) -> Job:
        """One job; PENDING for a job submitted here that the system does not show yet.

        :calls: GET /compute/{system}/jobs/{job_id} (and once GET .../metadata)
        """
        system = await self._system(resource)
        client = self._client(system)
        try:
            jobs = await self._call("job", lambda: client.job_info(system, str(job_id)), resource=system)
            if not jobs:
                raise NotFoundError(f"Job {job_id} not found", facility=FACILITY, resource=system)
        except NotFoundError:
            pending = self._memory.pending_view(system, str(job_id))
            if pending is None:
                raise
            return pending
        outputs: dict[str, Any] | None = None
        with contextlib.suppress(FacilityError):
            outputs = await self._metadata(system, str(job_id))
        scheduler = scheduler_type(self._systems.get(system, {}))
        return parse_jobs(jobs[:1], system, scheduler=scheduler, outputs={str(job_id): outputs or {}})[0]

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """:calls: GET /compute/{system}/jobs"""
        system = await self._system(resource)
        client = self._client(system)
        jobs = await self._call("list jobs", lambda: client.job_info(system), resource=system)
        wanted = {str(j) for j in job_ids} if job_ids is not None else None
        selected = [j for j in jobs or [] if wanted is None or str(j.get("jobId")) in wanted]
        outputs = {job_id: meta for (s, job_id), meta in self._outputs.items() if s == system}
        return parse_jobs(
            selected, system, scheduler=scheduler_type(self._systems.get(system, {})), outputs=outputs
        )

    async def cancel(self, resource: str, job_id: str) -> None:
        """:calls: DELETE /compute/{system}/jobs/{job_id}"""
        system = await self._system(resource)
        client = self._client(system)
        await self._call("cancel", lambda: client.cancel_job(system, str(job_id)), resource=system)

    async def job_output(
        self, resource: str, job_id: str, stream: str = "stdout", tail: int | None = None
    ) -> str:
        """:calls: GET .../jobs/{job_id}/metadata, GET /filesystem/{system}/ops/view or ops/tail"""
        if stream not in ("stdout", "stderr"):
            raise ValueError("stream must be 'stdout' or 'stderr'")
        system = await self._system(resource)
        meta = await self._metadata(system, str(job_id))
        path = meta.get("standardOutput" if stream == "stdout" else "standardError")
        if not path:
            raise NotFoundError(f"job {job_id} reports no {stream} file", facility=FACILITY, resource=system)
        if tail is not None:
            return await self.tail(system, str(path), lines=tail)
        return await self.view(system, str(path))

    # -- files ----------------------------------------------------------------------------------

    async def _fs(self, resource: str, what: str, call: Callable[[AsyncFirecrest, str], Awaitable[_T]]) -> _T:
        system = await self._system(resource)
        client = self._client(system)
        return await self._call(what, lambda: call(client, system), resource=system)

    async def ls(self, resource: str, path: str, *, show_hidden: bool = False) -> list[FileEntry]:
        """:calls: GET /filesystem/{system}/ops/ls"""
        entries = await self._fs(resource, "ls", lambda c, s: c.list_files(s, path, show_hidden=show_hidden))
        return [parse_file_entry(entry, path) for entry in entries or []]

    async def stat(self, resource: str, path: str) -> FileEntry:
        """:calls: GET /filesystem/{system}/ops/stat"""
        data = await self._fs(resource, "stat", lambda c, s: c.stat(s, path))
        return parse_stat(data, path)

    async def mkdir(self, resource: str, path: str, parents: bool = False) -> None:
        """:calls: POST /filesystem/{system}/ops/mkdir"""
        await self._fs(resource, "mkdir", lambda c, s: c.mkdir(s, path, create_parents=parents))

    async def rm(self, resource: str, path: str) -> None:
        """:calls: DELETE /filesystem/{system}/ops/rm (a transfer job if that times out)"""
        await self._fs(
            resource, "rm", lambda c, s: c.rm(s, path, account=self.account, timeout=self.transfer_timeout)
        )

    async def mv(self, resource: str, source: str, target: str) -> None:
        """:calls: POST /filesystem/{system}/transfer/mv, then waits for the transfer job"""
        await self._fs(
            resource,
            "mv",
            lambda c, s: c.mv(s, source, target, account=self.account, timeout=self.transfer_timeout),
        )

    async def cp(self, resource: str, source: str, target: str) -> None:
        """:calls: POST /filesystem/{system}/transfer/cp, then waits for the transfer job"""
        await self._fs(
            resource,
            "cp",
            lambda c, s: c.cp(s, source, target, account=self.account, timeout=self.transfer_timeout),
        )

    async def chmod(self, resource: str, path: str, mode: str) -> None:
        """:calls: PUT /filesystem/{system}/ops/chmod"""
        await self._fs(resource, "chmod", lambda c, s: c.chmod(s, path, mode))

    async def chown(
        self, resource: str, path: str, owner: str | None = None, group: str | None = None
    ) -> None:
        """:calls: PUT /filesystem/{system}/ops/chown"""
        await self._fs(resource, "chown", lambda c, s: c.chown(s, path, owner or "", group or ""))

    async def symlink(self, resource: str, target: str, link_path: str) -> None:
        """:calls: POST /filesystem/{system}/ops/symlink"""
        await self._fs(resource, "symlink", lambda c, s: c.symlink(s, target, link_path))

    async def checksum(self, resource: str, path: str) -> str:
        """:calls: GET /filesystem/{system}/ops/checksum"""
        return parse_checksum(await self._fs(resource, "checksum", lambda c, s: c.checksum(s, path)))

    async def file_type(self, resource: str, path: str) -> str:
        """:calls: GET /filesystem/{system}/ops/file"""
        return str(await self._fs(resource, "file type", lambda c, s: c.file_type(s, path)))

    async def compress(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """:calls: POST /filesystem/{system}/ops/compress (a transfer job if that times out)"""
        await self._fs(
            resource,
            "compress",
            lambda c, s: c.compress(s, source, target, compression=compression, account=self.account),
        )

    async def extract(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """:calls: POST /filesystem/{system}/ops/extract (a transfer job if that times out)"""
        await self._fs(
            resource,
            "extract",
            lambda c, s: c.extract(s, source, target, compression=compression, account=self.account),
        )

    async def view(self, resource: str, path: str, offset: int = 0, size: int | None = None) -> str:
        """:calls: GET /filesystem/{system}/ops/view"""
        if offset == 0 and size is None:
            return str(await self._fs(resource, "view", lambda c, s: c.view(s, path)))

        async def ranged(client: AsyncFirecrest, system: str) -> str:
            # pyfirecrest's view() has no offset/size; the endpoint has (FirecREST >= 2.2).
            params: dict[str, Any] = {"path": path, "offset": offset}
            if size is not None:
                params["size"] = size
            response = await client._get_request(endpoint=f"/filesystem/{system}/ops/view", params=params)
            return str(client._check_response(response, 200)["output"])

        return await self._fs(resource, "view", ranged)

    async def head(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """:calls: GET /filesystem/{system}/ops/head"""
        data = await self._fs(
            resource, "head", lambda c, s: c.head(s, path, num_bytes=nbytes, num_lines=lines)
        )
        return str(data.get("content", ""))

    async def tail(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """:calls: GET /filesystem/{system}/ops/tail"""
        data = await self._fs(
            resource, "tail", lambda c, s: c.tail(s, path, num_bytes=nbytes, num_lines=lines)
        )
        return str(data.get("content", ""))

    async def _transfer_client(self, resource: str) -> tuple[str, AsyncFirecrest]:
        system = await self._system(resource)
        return system, self._client(system)

    async def upload(
        self,
        resource: str,
        local_path: str | os.PathLike[str],
        remote_path: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """:calls: POST /filesystem/{system}/ops/upload, or above ``max_ops_file_size``
        POST .../transfer/upload, PUT each part, POST the completion, wait for the transfer job"""
        local = anyio.Path(local_path)
        if not await local.is_file():
            raise FileNotFoundError(f"{local} is not a file")
        size = (await local.stat()).st_size
        system, client = await self._transfer_client(resource)
        directory, filename = posixpath.split(remote_path)
        if progress is not None:
            progress(0, size)

        async def run() -> None:
            staged = await client.upload(
                system, str(local), directory or "/", filename, account=self.account, blocking=False
            )
            if staged is not None:
                staged.chunk_size = self.transfer_chunk_size
                await staged.upload_file_to_stage()
                await staged.wait_for_transfer_job(timeout=self.transfer_timeout)

        await self._call("upload", run, resource=system, idempotent=False)
        if progress is not None:
            progress(size, size)

    async def download(
        self,
        resource: str,
        remote_path: str,
        local_path: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """:calls: GET /filesystem/{system}/ops/stat, then GET .../ops/download, or above
        ``max_ops_file_size`` POST .../transfer/download, wait for the job, GET the staged object"""
        target = anyio.Path(local_path)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        system, client = await self._transfer_client(resource)

        async def run() -> None:
            staged = await client.download(
                system, remote_path, str(partial), account=self.account, blocking=False
            )
            if staged is not None:
                staged.chunk_size = self.transfer_chunk_size
                await staged.wait_for_transfer_job(timeout=self.transfer_timeout)
                await staged.download_file_from_stage()

        try:
            await self._call("download", run, resource=system)
            size = (await partial.stat()).st_size
            await partial.replace(target)
        finally:
            await partial.unlink(missing_ok=True)
        if progress is not None:
            progress(size, size)

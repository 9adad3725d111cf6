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
  (``FACILITY_SUBMIT_TAG``), but Flux's job listing does not show environments. After an
  ambiguous failure (no answer, 502, 504) the backend lists the jobs and adopts the one job this
  backend has not seen before that was submitted since the attempt began, under the command's
  name with the same task and node counts. None found: the job is sent again (at most
  ``SUBMIT_ATTEMPTS`` times in all), unless the server may still be at work on it (a read
  timeout, 504): then :class:`JobSubmissionError` says the outcome is unknown and the next submit
  of the same tag looks for the job first; several found: :class:`JobSubmissionError`, never a
  second job. A job just submitted that the API does not show yet is PENDING.
* **Names, queues, banks.** The API cannot set a job name (Flux names jobs after their command),
  so ``JobSpec.name`` is not sent. It cannot choose a queue or bank either: a spec naming one is
  accepted only when it is the instance's own (backend options ``queue`` and ``account``).
* **Files.** The API has no file operations.
"""

from __future__ import annotations

import collections
import logging
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
)
from ..http import ApiSession, RetryPolicy
from ..models import Job, JobSpec, JobState, Outage, ResourceStatus
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

__all__ = ["SUBMIT_TAG_VARIABLE", "FluxBackend"]

logger = logging.getLogger("facility_common.backends.flux")

FACILITY = "flux"
SUBMIT_ATTEMPTS = 3
#: Seconds a job's ``t_submit`` may precede our send (clock difference to the server).
CLOCK_SKEW = 5.0
_AMBIGUOUS_STATUSES = frozenset({502, 504})


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

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        user: str | None = None,
        token: str | None = None,
        secret_key: str | None = None,
        auth_method: str = "auto",
        resource_name: str = "flux",
        queue: str | None = None,
        account: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
        transport: httpx.AsyncBaseTransport | None = None,
        submit_lookup_delays: Sequence[float] = (0.0, 1.0),
        allow_insecure_http: bool = False,
    ) -> None:
        self.facility = FACILITY
        root = base_url.rstrip("/") if isinstance(base_url, str) else base_url
        if isinstance(root, str) and root.endswith("/v1"):
            root = root[: -len("/v1")]
        resolved = flux_auth(
            root,
            auth=auth,
            user=user,
            token=token,
            secret_key=secret_key,
            auth_method=auth_method,
            verify=verify,
            transport=transport,
            allow_insecure_http=allow_insecure_http,
        )
        self._session = ApiSession(
            facility=FACILITY,
            base_url=root,
            auth=resolved,
            retry=retry,
            timeout=timeout,
            verify=verify,
            transport=transport,
            allow_insecure_http=allow_insecure_http,
        )
        self.base_url = self._session.base_url
        self.resource_name = resource_name
        self.queue = queue
        self.account = account
        self.submit_lookup_delays = tuple(submit_lookup_delays)
        self._seen_ids: set[str] = set()
        self._memory = SubmitMemory()

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
            found = await self._find_submitted(spec, doubted_at, name)
            self._memory.resolved(tag)
            if found is not None:
                return self._memory.submitted(found)
        last_error: FacilityError | None = None
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            sent_at = time.time()
            try:
                data = await self._call(request, resource=name)
            except (TransportError, APIError) as exc:
                status = exc.status_code
                if isinstance(exc, TransportError) or status in _AMBIGUOUS_STATUSES:
                    logger.warning(
                        "submit to %s: %s (attempt %d of %d); looking for the job",
                        name,
                        exc.message,
                        attempt,
                        SUBMIT_ATTEMPTS,
                    )
                    found = await self._find_submitted(spec, sent_at, name)
                    if found is not None:
                        return self._memory.submitted(found)
                    if may_still_be_working(exc):
                        self._memory.doubt(tag, sent_at)
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
                raise self._bad_answer(request, exc, name) from None
            self._seen_ids.add(job_id)
            return self._memory.submitted(await self._first_view(job_id, name))
        reason = last_error.message if last_error is not None else "no answer"
        raise JobSubmissionError(
            f"submit to {name} got no usable answer after {SUBMIT_ATTEMPTS} attempts and no new "
            f"matching job was found: {reason}",
            facility=FACILITY,
            resource=name,
            status_code=last_error.status_code if last_error is not None else None,
        )

    async def _first_view(self, job_id: str, name: str) -> Job:
        """The job right after submit; PENDING if the instance does not show it yet."""
        try:
            return await self.get_job(name, job_id)
        except NotFoundError:
            return Job(id=job_id, resource=name, state=JobState.PENDING, native_state="NEW")

    async def _find_submitted(self, spec: JobSpec, sent_at: float, name: str) -> Job | None:
        command = command_of(spec)
        expected_name = posixpath.basename(command[0])
        for delay in self.submit_lookup_delays:
            if delay:
                await anyio.sleep(delay)
            try:
                jobs = await self._list_all(name)
            except FacilityError as exc:
                raise JobSubmissionError(
                    f"submit to {name}: the answer was lost and the job list could not be read to "
                    f"check for the job ({exc.message}); not sending it again",
                    facility=FACILITY,
                    resource=name,
                ) from None
            candidates = [
                job
                for job in jobs
                if job.id not in self._seen_ids
                and job.name == expected_name
                and job.submitted_at is not None
                and job.submitted_at.timestamp() >= sent_at - CLOCK_SKEW
                and _matches_counts(job, spec)
            ]
            if len(candidates) == 1:
                self._seen_ids.add(candidates[0].id)
                return candidates[0]
            if len(candidates) > 1:
                ids = ", ".join(job.id for job in candidates)
                raise JobSubmissionError(
                    f"submit to {name}: the answer was lost and several new jobs ({ids}) could be "
                    "this one; not sending it again",
                    facility=FACILITY,
                    resource=name,
                )
        return None

    async def _list_all(self, name: str) -> list[Job]:
        request = build_list_jobs()
        data = await self._call(request, resource=name)
        try:
            return [parse_job(item, name) for item in job_items(data)]
        except (ValueError, TypeError, KeyError) as exc:
            raise self._bad_answer(request, exc, name) from None

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


def _matches_counts(job: Job, spec: JobSpec) -> bool:
    """Whether the listed job has the task and node counts ``spec`` asked for (when it asked)."""
    raw = job.raw
    node_count = spec.resources.node_count
    if node_count is not None and raw.get("nnodes") not in (None, "", node_count):
        return False
    process_count = spec.resources.process_count
    return process_count is None or raw.get("ntasks") in (None, "", process_count)

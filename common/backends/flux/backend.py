"""Backend for the Flux RESTful API (flux-framework/flux-restful-api 1.1.0) in front of one Flux
instance (a Flux Operator MiniCluster, an LLNL allocation).

``base_url`` is the server root (``FLUX_RESTFUL_HOST``, e.g. ``https://flux.example.org``); a
trailing ``/v1`` is accepted too. Requests are built by :mod:`.requests` and answers read by
:mod:`.parsers` (pure functions); authentication (none, HTTP Basic, the shared-secret handshake,
password login, bearer tokens) comes from :mod:`.auth`.

The instance is the one resource: :meth:`FluxBackend.resources` reports it under the name given
by the ``resource_name`` option (default ``"flux"``), UP while ``/v1/nodes`` lists nodes that are
up (their names are the resource's details, ``raw["nodes"]``), DOWN while it lists none or the
server answers 503 (Flux is stopped).

Beyond the contract: :meth:`FluxBackend.follow_output` follows ``/output/stream``,
:meth:`FluxBackend.search_jobs` reads one page of ``/v1/jobs/search`` (which ``list_jobs`` of a
few ids uses, so the poller's answer holds the watched jobs rather than the instance's whole
history), and :meth:`FluxBackend.stop_service` stops the instance (an explicit admin call, never
made by anything else).

How the API's gaps are filled (the API is silent on these):

* **Output.** Flux keeps a job's output in its event log and the API returns it as one merged
  stream, so ``job_output`` gives the same text for ``stdout`` and ``stderr``. A tail of a finished
  job is read from ``/output/stream``, a tail of a job still running from ``/output`` (the stream
  would only end with the job); both are read as they arrive, keeping only the last lines in
  memory (:mod:`.output`).
* **Submit without duplicates.** Submits run under the shared policy of
  :class:`~facility_common.backends.submit.SubmitGuard` (which failures leave the outcome unknown,
  when to look, when to send again). The job carries its tag in its environment, but Flux's
  listing does not show it: the look for the job of a submit whose answer was lost adopts the one
  listed job that could be it (:mod:`.matching`, which also states the residual risk). Several
  such jobs make the outcome unknown (``JobSubmissionError`` with ``outcome_unknown``); the tag is
  then remembered and a submit of it again looks again before sending. A job just submitted that
  the API does not show yet is PENDING.
* **Names, queues, banks.** The API cannot set a job name (Flux names jobs after their command),
  so ``JobSpec.name`` is not sent. It cannot choose a queue or bank either: a spec naming one is
  accepted only when it is the instance's own (backend options ``queue`` and ``account``).
* **Files.** The API has no file operations.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from ...errors import APIError, FacilityError, NotFoundError, ServerError, UnsupportedOperation
from ...http import ApiRequest
from ...models import Job, JobSpec, JobState, Outage, ResourceStatus
from ...options import BackendOptions
from ...output_tail import LineTail
from ..base import FacilityBackend
from ..submit import SUBMIT_TAG_VARIABLE, UnreadableAnswer, outcome_unknown, tag_of
from .auth import flux_auth
from .follow import follow_stream
from .matching import SubmitMatcher, trim
from .options import FluxOptions
from .output import OutputTail
from .parsers import (
    down_resource,
    job_items,
    parse_job,
    parse_output,
    parse_resource,
    parse_search,
    parse_submit,
)
from .requests import (
    build_auth_info,
    build_cancel,
    build_get_job,
    build_list_jobs,
    build_nodes,
    build_output,
    build_search,
    build_stop_service,
    build_submit,
)

__all__ = ["FluxBackend"]

logger = logging.getLogger("facility_common.backends.flux")

FACILITY = "flux"
#: The longest job search query ``list_jobs`` sends (longer id lists list every job instead: the
#: query travels in the URL).
MAX_SEARCH_QUERY = 2000
_DECIMAL_ID = re.compile(r"^[0-9]+$")


class FluxBackend(FacilityBackend):
    """One Flux instance behind the Flux RESTful API.

    Credentials come either as ``auth`` (any ``httpx.Auth``, e.g. from ``resolve_auth``) or as the
    options ``user``, ``token`` and ``secret_key`` that the Flux project's client reads from
    ``FLUX_USER``, ``FLUX_TOKEN`` and ``FLUX_SECRET_KEY`` (see
    :func:`~facility_common.backends.flux.auth.flux_auth` for ``auth_method``). No network call
    happens before the first operation.
    """

    name: ClassVar[str] = "flux"
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
        self._guard = self.submit_guard()
        self._matcher = SubmitMatcher()
        # Tags of the submits this backend made, with their job ids or, while in doubt, the spec
        # (the listing cannot show a tag: a doubted tag is looked for by its spec).
        self._tag_ids: dict[str, str] = {}
        self._doubted_specs: dict[str, JobSpec] = {}
        self._search_missing = False

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

    def _bad_answer(self, request: ApiRequest, exc: Exception, resource: str | None) -> APIError:
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
        request = build_auth_info()
        data = await self._session.call(request)
        if not isinstance(data, dict):
            raise self._bad_answer(request, ValueError("not an object"), None)
        return data

    async def nodes(self) -> list[str]:
        """The names of the instance's nodes that are up (busy or not), sorted.

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
            data = await self._session.call(request, resource=self.resource_name)
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

    # -- submit ---------------------------------------------------------------------------------

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        """Submit ``spec`` under the shared submit policy; never creates the job twice (see the
        module docstring).

        :calls: POST /v1/jobs/submit, then GET /v1/jobs/{id}; after a lost answer
            GET /v1/jobs?details=true&listing=true
        """
        tag = tag_of(spec, FACILITY)
        request = build_submit(spec, tag=tag, queue=self.queue, account=self.account)
        name = self._check_resource(resource)

        async def send() -> Job:
            return await self._send_submit(request, name)

        async def find(sent_at: float) -> Job | None:
            return await self._find_submitted(spec, sent_at, name, tag)

        try:
            job = await self._guard.submit(resource=name, tag=tag, send=send, find=find)
        finally:
            self._remember_doubt(tag, spec)
        self._tag_ids[tag] = job.id
        trim(self._tag_ids)
        return job

    async def _send_submit(self, request: ApiRequest, name: str) -> Job:
        """One submit request and the first view of its job (which measures the server's clock).

        :calls: POST /v1/jobs/submit, then GET /v1/jobs/{id}
        """
        data = await self._session.call(request, resource=name)
        try:
            job_id = parse_submit(data)
        except ValueError as exc:
            raise UnreadableAnswer(str(exc)) from None
        answered_at = time.time()
        self._matcher.returned(job_id)
        job = await self._first_view(job_id, name)
        self._matcher.measured(job, answered_at)
        return job

    async def _first_view(self, job_id: str, name: str) -> Job:
        """The job right after submit; PENDING while the instance does not show it, or when it
        cannot be read (the job exists: a failure here must not look like a failed submit)."""
        try:
            return await self.get_job(name, job_id)
        except NotFoundError:
            pass
        except FacilityError as exc:
            logger.warning("job %s was submitted to %s but could not be read yet: %s", job_id, name, exc)
        return Job(id=job_id, resource=name, state=JobState.PENDING, native_state="NEW")

    async def _find_submitted(self, spec: JobSpec, sent_at: float, name: str, tag: str) -> Job | None:
        """The one listed job that a submit of ``spec`` sent at ``sent_at`` could have made, or
        None (the ``find`` of the submit policy).

        Raises the outcome-unknown :class:`JobSubmissionError` when several jobs could be it (the
        policy keeps ``tag`` in doubt), and :class:`FacilityError` when the jobs cannot be listed.

        :calls: GET /v1/jobs?details=true&listing=true
        """
        candidates = self._matcher.candidates(await self._list_all(name), spec, sent_at)
        if len(candidates) > 1:
            ids = ", ".join(job.id for job in candidates)
            raise outcome_unknown(
                facility=FACILITY,
                resource=name,
                tag=tag,
                reason=f"the answer was lost and several new jobs ({ids}) could be this one",
            )
        if not candidates:
            return None
        self._matcher.returned(candidates[0].id)
        return candidates[0]

    def _remember_doubt(self, tag: str, spec: JobSpec) -> None:
        """Keep ``spec`` while the submit policy doubts ``tag``: it is what a look for the job of
        that tag compares the listed jobs with."""
        if self._guard.memory.in_doubt(tag):
            self._doubted_specs[tag] = spec
            trim(self._doubted_specs)
        else:
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
        memory = self._guard.memory
        doubted_at = memory.doubted_at(tag)
        spec = self._doubted_specs.get(tag)
        if doubted_at is not None and spec is not None:
            found = await self._find_submitted(spec, doubted_at, name, tag)
            if found is None:
                return None
            memory.resolved(tag)
            self._doubted_specs.pop(tag, None)
            self._tag_ids[tag] = found.id
            trim(self._tag_ids)
            return memory.submitted(found)
        raise UnsupportedOperation(
            f"find_job_by_tag is not offered by the {self.facility_label} for jobs submitted by "
            "another client: Flux's job listing shows no environment and the API sets no job "
            f"name, so {SUBMIT_TAG_VARIABLE}={tag} cannot be seen. Submitting the same spec "
            "through the same client looks for its job; otherwise compare the listed jobs "
            "(list_jobs) by command name and submit time",
            facility=FACILITY,
            resource=name,
        )

    # -- jobs -----------------------------------------------------------------------------------

    async def _list_all(self, name: str) -> list[Job]:
        request = build_list_jobs()
        data = await self._session.call(request, resource=name)
        try:
            jobs = [parse_job(item, name) for item in job_items(data)]
        except (ValueError, TypeError, KeyError) as exc:
            raise self._bad_answer(request, exc, name) from None
        self._matcher.listed(jobs, time.time())
        return jobs

    async def get_job(self, resource: str, job_id: str) -> Job:
        """One job; PENDING for a job submitted here that the API does not show yet.

        :calls: GET /v1/jobs/{jobid}
        """
        name = self._check_resource(resource)
        request = build_get_job(job_id)
        try:
            data = await self._session.call(request, resource=name)
        except NotFoundError:
            pending = self._guard.memory.pending_view(name, job_id)
            if pending is None:
                raise
            return pending
        try:
            return parse_job(data, name)
        except (ValueError, TypeError, KeyError) as exc:
            raise self._bad_answer(request, exc, name) from None

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """Every job of the instance, or those of ``job_ids``, in one call.

        For ids the job search can name (decimal ids, :data:`MAX_SEARCH_QUERY` characters of
        them at most), the search answers only jobs whose details mention one of them, and the
        exact ids are kept; a server without the search (404) is listed in full from then on.

        :calls: GET /v1/jobs/search?search=<ids> for ids, else
            GET /v1/jobs?details=true&listing=true
        """
        name = self._check_resource(resource)
        if job_ids is None:
            return await self._list_all(name)
        wanted = {str(job_id) for job_id in job_ids}
        if not wanted:
            return []
        query = "|".join(sorted(wanted))
        if self._search_missing or len(query) > MAX_SEARCH_QUERY or not all(map(_DECIMAL_ID.match, wanted)):
            jobs = await self._list_all(name)
        else:
            try:
                jobs, _ = await self._search(name, query, start=0, length=None)
            except NotFoundError:
                self._search_missing = True
                jobs = await self._list_all(name)
        return [job for job in jobs if job.id in wanted]

    async def search_jobs(
        self, resource: str, query: str | None = None, *, start: int = 0, length: int | None = None
    ) -> tuple[list[Job], int | None]:
        """One page of the server's job search: the jobs whose details match ``query`` (a Python
        regular expression the server applies to each job's values joined into one string, so
        ``"sleep"`` finds the jobs of a ``sleep`` command), from the ``start``-th match on, at
        most ``length`` of them; with the instance's total job count (before the query filters).

        The server's paging has a quirk, reproduced by the emulator: a ``start`` at or past the
        last match is ignored and the first page comes again. Page with ``start`` below the
        number of matches seen so far, or stop at a page whose jobs were seen already.

        :calls: GET /v1/jobs/search?search=&start=&length=
        """
        name = self._check_resource(resource)
        return await self._search(name, query, start=start, length=length)

    async def _search(
        self, name: str, query: str | None, *, start: int, length: int | None
    ) -> tuple[list[Job], int | None]:
        request = build_search(query, start=start, length=length)
        data = await self._session.call(request, resource=name)
        try:
            items, total = parse_search(data)
            jobs = [parse_job(item, name) for item in items]
        except (ValueError, TypeError, KeyError) as exc:
            raise self._bad_answer(request, exc, name) from None
        return jobs, total

    async def cancel(self, resource: str, job_id: str) -> None:
        """Ask Flux to cancel a job.

        :calls: POST /v1/jobs/{jobid}/cancel
        """
        name = self._check_resource(resource)
        await self._session.call(build_cancel(job_id), resource=name)

    def follow_output(
        self, resource: str, job_id: str, stream: str = "stdout", *, poll_interval: float = 2.0
    ) -> AsyncIterator[str]:
        """The job's output line by line from ``/output/stream`` as Flux records it (stdout and
        stderr merged: ``stream`` changes nothing), ending with the job; a dropped or quiet
        stream is opened again without repeating a line (see :mod:`.follow`).

        :calls: GET /v1/jobs/{jobid}/output/stream, GET /v1/jobs/{jobid} when a stream ends
        """
        name = self._check_resource(resource)
        return follow_stream(
            self._session, job_id, name, lambda: self.get_job(name, job_id), poll_interval=poll_interval
        )

    async def stop_service(self) -> None:
        """Stop the Flux instance: the server runs ``flux shutdown`` (the Flux Operator's way to
        end a MiniCluster). An administrator's call (the server wants a superuser) that nothing
        in this package makes on its own; afterwards the server answers 503 or not at all.

        :calls: POST /v1/service/stop
        """
        await self._session.call(build_stop_service(), resource=self.resource_name)

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
            return await self._output_tail(job_id, name, tail)
        request = build_output(job_id)
        data = await self._session.call(request, resource=name)
        try:
            text = parse_output(data)
        except ValueError as exc:
            raise self._bad_answer(request, exc, name) from None
        return text or ""

    async def _stream_tail(self, job_id: str, name: str, tail: int) -> str:
        """The last ``tail`` lines of a finished job's output stream, holding no more in memory.

        :calls: GET /v1/jobs/{jobid}/output/stream
        """
        request = build_output(job_id, stream=True)
        kept: list[str] = []

        async def read(response: httpx.Response) -> None:
            lines = LineTail(tail)
            async for text in response.aiter_text():
                lines.feed(text)
            kept[:] = [lines.text()]

        await self._session.consume(request, read, resource=name)
        return kept[0]

    async def _output_tail(self, job_id: str, name: str, tail: int) -> str:
        """The last ``tail`` lines of a running job's output so far, the answer read as it arrives
        and only those lines kept (:class:`.output.OutputTail`).

        :calls: GET /v1/jobs/{jobid}/output
        """
        request = build_output(job_id)
        kept: list[str | None] = []

        async def read(response: httpx.Response) -> None:
            reader = OutputTail(tail, limit=self._session.max_body_bytes)
            try:
                async for data in response.aiter_bytes():
                    reader.feed(data)
                kept[:] = [reader.finish()]
            except ValueError as exc:
                raise self._bad_answer(request, exc, name) from None

        await self._session.consume(request, read, resource=name)
        return kept[0] or ""

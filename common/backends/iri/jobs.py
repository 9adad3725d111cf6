"""The IRI backend's compute jobs: submit, look up, list, cancel, update, read output.

How the API's gaps are filled here (the spec is silent on these):

* **Submit without duplicates.** Every submit carries a tag in
  ``environment["FACILITY_SUBMIT_TAG"]`` (the caller's own, if the spec already has one, so a
  retried Airflow task can find its job again), and runs under the backend's
  :class:`~facility_common.backends.submit.SubmitGuard`: the shared policy decides when an
  answer is lost, looks for the tagged job among the resource's jobs (listed with their specs),
  and sends again only when it is safe. What is IRI's own stays in the send: v2 also sends an
  ``Idempotency-Key``, one per submit call and the same for every re-send of that call, which
  makes a re-send after a timeout safe. The server's answers to the key: ``409`` while a send
  under it is in flight is waited out (the reference server sends no ``Retry-After``, so the
  session's retry backoff paces it) and the request sent again with the same key; ``422`` (the
  key was used with another body) is a :class:`JobSubmissionError` naming the key; ``501`` (no
  idempotency store) makes the request go again without it (from then on, this backend sends
  no key and the tag alone guards against duplicates); ``Idempotency-Key-Reply: hit`` (the
  answer replays an earlier send's: the job was created once) is logged. A job just submitted
  that the API does not show yet is PENDING. :meth:`JobsMixin.find_job_by_tag` offers the same
  look-up to a caller with a new client (a retried Airflow task).
* **Listings without job specs.** The reference server leaves ``job_spec`` out of every answer,
  so tags cannot be seen: the look-up says so (:class:`UnsupportedOperation`) instead of "no
  such job". After a lost answer, a v2 submit is then sent again under its key (safe) and a v1
  submit ends with its outcome unknown (sending again could run the job twice).
* **Listings that ignore the filter.** The reference server answers a list call with a page of
  all the resource's jobs, whatever ids it names. ``list_jobs`` for ids makes one call per 1000
  ids and asks the jobs that page left out one by one; it never walks the history.
* **Job updates.** ``update_job`` PUTs the whole new JobSpec (retried like a read, without an
  ``Idempotency-Key``); a refusal (``409`` once the job has started, or another 4xx) raises
  :class:`JobSubmissionError` with the facility's message.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import anyio
import httpx

from ...errors import APIError, InvalidJobSpec, JobSubmissionError, NotFoundError, UnsupportedOperation
from ...http import ApiRequest, parse_retry_after
from ...models import Job, JobSpec
from ...poller import FALLBACK_CONCURRENCY
from ..submit import SUBMIT_TAG_VARIABLE, UnreadableAnswer, outcome_unknown, tag_of
from .core import IRIBase
from .file_parsers import _pick_output_file
from .parsers import _find_tagged, _items, _lists_no_specs, _parse_job, _parse_jobs
from .requests import (
    FACILITY,
    IDEMPOTENCY_HEADER,
    PAGE_LIMIT,
    _build_cancel,
    _build_get_job,
    _build_list_jobs,
    _build_submit,
    _build_update_job,
    _idempotency_key,
)

logger = logging.getLogger("facility_common.backends.iri")

MAX_CONFLICT_WAITS = 10
"""How many ``409`` answers (the same Idempotency-Key in flight) one send waits out."""
KEY_REPLY_HEADER = "Idempotency-Key-Reply"
"""The answer header saying whether a keyed request was replayed (``hit``) or run (``miss``)."""
_KEY_REUSED = re.compile(r"idempotency", re.IGNORECASE)
_IS_DIRECTORY_MESSAGE = re.compile(r"is\s+a\s+directory", re.IGNORECASE)


class JobsMixin(IRIBase):
    """Compute jobs; the submit runs under the shared submit policy."""

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        """Submit ``spec``; never creates the job twice (see the module docstring).

        :calls: POST /compute/job/{resource_id}; after a lost answer
            POST /compute/status/{resource_id}?historical=true&include_spec=true
        """
        tag = tag_of(spec, FACILITY)
        _build_submit(
            "-",
            spec,
            tag=tag,
            api_version=self.api_version,
            project=self.project,
            project_header=self.options.project_header,
        )  # validates the spec before any request
        resource_id, name = await self._resolve(resource)
        key = _idempotency_key() if self.api_version == "v2" else None
        started_at = time.time()

        async def send() -> Job:
            return await self._send_submit(resource_id, name, spec, tag, key)

        def keyed() -> bool:
            return key is not None and self._idempotency_supported

        async def find(sent_at: float) -> Job | None:
            try:
                return await self._tagged(resource_id, name, tag)
            except UnsupportedOperation as exc:
                if keyed() and sent_at >= started_at:
                    return None  # sending again under this call's key cannot make a second job
                raise outcome_unknown(facility=FACILITY, resource=name, tag=tag, reason=exc.message) from None

        return await self._guard.submit(resource=name, tag=tag, send=send, find=find, keyed=keyed)

    async def _send_submit(
        self, resource_id: str, name: str, spec: JobSpec, tag: str, key: str | None
    ) -> Job:
        """One submit: the request (with ``key`` while the server takes one) and its answer.

        A ``501`` to the key means the server has no idempotency store: the request goes again at
        once without it, and this backend sends no key from then on. A ``422`` naming the key
        means it was used before with another body: a :class:`JobSubmissionError` naming it.
        """
        while True:
            sent_key = key if self._idempotency_supported else None
            request = self._linked(
                _build_submit(
                    resource_id,
                    spec,
                    tag=tag,
                    api_version=self.api_version,
                    project=self.project,
                    project_header=self.options.project_header,
                    idempotency_key=sent_key,
                ),
                resource_id,
                "submit",
            )
            try:
                response = await self._post_through_conflicts(request, name, tag)
            except APIError as exc:
                if exc.status_code == 501 and sent_key is not None:
                    logger.info(
                        "%s on %s takes no %s (501); the submit tag alone guards against duplicates",
                        self.facility_label,
                        name,
                        IDEMPOTENCY_HEADER,
                    )
                    self._idempotency_supported = False
                    continue
                if sent_key is not None and _key_reused(exc):
                    raise JobSubmissionError(
                        f"the {self.facility_label} refused {IDEMPOTENCY_HEADER} {sent_key} on {name}: "
                        f"it was used before with a different request ({exc.body or exc.message})",
                        facility=FACILITY,
                        resource=name,
                        status_code=exc.status_code,
                        body=exc.body,
                    ) from None
                raise
            data = self._session.json(response, resource=name)
            try:
                job = _parse_job(data, name, sent_spec=request.json)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise UnreadableAnswer(
                    f"POST /compute/job/{resource_id}: unexpected answer ({type(exc).__name__}: {exc})"
                ) from None
            if sent_key is not None:
                self._log_key_reply(response, sent_key, name, job.id)
            return job

    def _log_key_reply(self, response: httpx.Response, key: str, name: str, job_id: str) -> None:
        """Say what the server made of the key: ``hit`` (an earlier send under it created the job,
        this answer is its replay) or ``miss`` (this send created it)."""
        reply = (response.headers.get(KEY_REPLY_HEADER) or "").strip().lower()
        if reply == "hit":
            logger.info(
                "submit to %s: %s %s was seen before (%s: hit); job %s was created once, by an earlier send",
                name,
                IDEMPOTENCY_HEADER,
                key,
                KEY_REPLY_HEADER,
                job_id,
            )
        else:
            logger.debug("submit to %s: %s %s: %s", name, IDEMPOTENCY_HEADER, key, reply or "no reply")

    async def _post_through_conflicts(self, request: ApiRequest, name: str, tag: str) -> httpx.Response:
        """Send a submit; while a send under the same key is in flight (``409``, only answered
        to a keyed request) wait and send again with the same key.

        The reference server's ``409`` carries no ``Retry-After``, so the waits follow the
        session's retry backoff (a ``Retry-After`` is honoured when sent). When the facility keeps
        answering ``409``, the earlier send may yet create the job: the tag is remembered as in
        doubt and the outcome-unknown error raised.
        """
        for attempt in range(1, MAX_CONFLICT_WAITS + 1):
            response = await self._session.send(request, resource=name)
            if response.status_code != 409:
                return response
            wait = self._session.retry.delay(attempt, parse_retry_after(response.headers.get("Retry-After")))
            logger.info(
                "submit to %s: a send under the same %s is still in flight (409); sending again in %.1f s",
                name,
                IDEMPOTENCY_HEADER,
                wait,
            )
            await anyio.sleep(wait)
        self._guard.memory.doubt(tag)
        raise outcome_unknown(
            facility=FACILITY,
            resource=name,
            tag=tag,
            reason=f"the facility kept answering 409: a submit under the same {IDEMPOTENCY_HEADER} "
            "is still in flight",
        )

    async def _tagged(self, resource_id: str, name: str, tag: str) -> Job | None:
        """The newest job of the resource's listing whose spec carries ``tag``.

        A listing that reports no job specs (the reference server leaves ``job_spec`` out, even
        with ``include_spec=true``) cannot show tags: its first page says so, and
        :class:`UnsupportedOperation` is raised rather than "no such job".
        """
        items = await self._pages(
            lambda offset: self._linked(
                _build_list_jobs(resource_id, None, offset), resource_id, "list_jobs"
            ),
            resource=name,
            stop=_lists_no_specs,
        )
        if _lists_no_specs(items):
            raise UnsupportedOperation(
                f"the {self.facility_label} on {name} lists jobs without their job_spec, so the job "
                f"carrying {SUBMIT_TAG_VARIABLE}={tag} cannot be found by its tag",
                facility=FACILITY,
                resource=name,
            )
        try:
            return _find_tagged(items, tag, name)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer(f"POST /compute/status/{resource_id}", exc, name) from None

    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The newest job, live or finished, whose spec carries ``FACILITY_SUBMIT_TAG=tag``;
        :class:`UnsupportedOperation` where the facility lists jobs without their specs.

        :calls: POST /compute/status/{resource_id}?historical=true&include_spec=true (paged)
        """
        resource_id, name = await self._resolve(resource)
        return await self._tagged(resource_id, name, tag)

    async def get_job(self, resource: str, job_id: str) -> Job:
        """One job with its spec, current or finished; PENDING for a job submitted here that the
        API does not show yet.

        :calls: GET /compute/status/{resource_id}/{job_id}?historical=true&include_spec=true
        """
        resource_id, name = await self._resolve(resource)
        try:
            request = self._linked(_build_get_job(resource_id, job_id), resource_id, "get_job", job_id=job_id)
            data = await self._session.call(request, resource=name)
        except NotFoundError:
            pending = self._guard.memory.pending_view(name, job_id)
            if pending is None:
                raise
            return pending
        try:
            return _parse_job(data, name)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer(f"GET /compute/status/{resource_id}/{job_id}", exc, name) from None

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """The jobs of ``job_ids`` (those the facility knows), or every visible job, paged.

        Asked for ids, one listing call answers per 1000 ids, never a walk through the history:
        a server that ignores the filter (the reference server answers a page of all jobs) shows
        itself by listing jobs not asked for, and the asked jobs its page left out are then
        asked for one by one (bounded concurrency). The answer holds only asked jobs.

        :calls: POST /compute/status/{resource_id}?historical=true&include_spec=true&limit=1000
            with body ``{"job_ids": [...]}``; GET /compute/status/{resource_id}/{job_id} for the
            jobs a listing that ignores its filter left out
        """
        if job_ids is not None and not job_ids:
            return []
        resource_id, name = await self._resolve(resource)
        if job_ids is None:
            items = await self._pages(
                lambda offset: self._linked(
                    _build_list_jobs(resource_id, None, offset), resource_id, "list_jobs"
                ),
                resource=name,
            )
            return _unique(self._parsed_jobs(items, resource_id, name))
        wanted = list(dict.fromkeys(str(job_id) for job_id in job_ids))
        found: dict[str, Job] = {}
        left_out: list[str] = []
        for start in range(0, len(wanted), PAGE_LIMIT):
            chunk = wanted[start : start + PAGE_LIMIT]
            request = self._linked(_build_list_jobs(resource_id, chunk), resource_id, "list_jobs")
            data = await self._session.call(request, resource=name)
            try:
                listed = self._parsed_jobs(_items(data), resource_id, name)
            except ValueError as exc:
                raise self._bad_answer(f"POST /compute/status/{resource_id}", exc, name) from None
            asked = set(chunk)
            for job in listed:
                if job.id in asked:
                    found.setdefault(job.id, job)
            if any(job.id not in asked for job in listed):
                left_out += [job_id for job_id in chunk if job_id not in found]
        if left_out:
            logger.debug(
                "%s on %s ignores the job filter; asking %d left-out job(s) one by one",
                self.facility_label,
                name,
                len(left_out),
            )
            found.update(await self._jobs_one_by_one(resource_id, name, left_out))
        return [found[job_id] for job_id in wanted if job_id in found]

    def _parsed_jobs(self, items: list[dict[str, Any]], resource_id: str, name: str) -> list[Job]:
        try:
            return _parse_jobs(items, name)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer(f"POST /compute/status/{resource_id}", exc, name) from None

    async def _jobs_one_by_one(self, resource_id: str, name: str, job_ids: list[str]) -> dict[str, Job]:
        """``get_job`` for each of ``job_ids``, a few at a time; jobs the facility does not know
        are left out."""
        found: dict[str, Job] = {}
        limiter = anyio.CapacityLimiter(FALLBACK_CONCURRENCY)

        async def fetch(job_id: str) -> None:
            async with limiter:
                try:
                    found[job_id] = await self.get_job(resource_id, job_id)
                except NotFoundError:
                    return

        async with anyio.create_task_group() as group:
            for job_id in job_ids:
                group.start_soon(fetch, job_id)
        return found

    async def cancel(self, resource: str, job_id: str) -> None:
        """Cancel a job.

        :calls: DELETE /compute/cancel/{resource_id}/{job_id} (204)
        """
        resource_id, name = await self._resolve(resource)
        request = self._linked(_build_cancel(resource_id, job_id), resource_id, "cancel", job_id=job_id)
        await self._session.send(request, resource=name)

    async def update_job(self, resource: str, job_id: str, spec: JobSpec) -> Job:
        """Replace the description of a job that has not started (walltime, queue, ...).

        Retried like a read (a PUT replaces). A facility that refuses the change, typically
        with ``409`` because the job already started, raises :class:`JobSubmissionError`
        carrying its message; an unknown job raises :class:`NotFoundError`.

        :calls: PUT /compute/job/{resource_id}/{job_id}
        """
        version, project, header = self.api_version, self.project, self.options.project_header
        _build_update_job(
            "-", job_id, spec, api_version=version, project=project, project_header=header
        )  # validates the spec before any request
        resource_id, name = await self._resolve(resource)
        request = self._linked(
            _build_update_job(
                resource_id, job_id, spec, api_version=version, project=project, project_header=header
            ),
            resource_id,
            "update_job",
            job_id=job_id,
        )
        try:
            data = await self._session.call(request, resource=name)
        except APIError as exc:
            status = exc.status_code
            if type(exc) is APIError and status is not None and 400 <= status < 500:
                raise JobSubmissionError(
                    f"the {self.facility_label} refused to update job {job_id} on {name}: "
                    f"{exc.body or exc.message}",
                    facility=FACILITY,
                    resource=name,
                    status_code=status,
                    body=exc.body,
                ) from None
            raise
        try:
            return _parse_job(data, name, sent_spec=request.json)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer(f"PUT /compute/job/{resource_id}/{job_id}", exc, name) from None

    async def job_output(
        self, resource: str, job_id: str, stream: str = "stdout", tail: int | None = None
    ) -> str:
        """The job's stdout or stderr (its last ``tail`` lines when given), read from the path
        in the job's spec; a directory path (ALCF allows one) is searched for the job's file.

        :calls: GET /compute/status/{resource_id}/{job_id}, then the filesystem tail or view op
        """
        if stream not in ("stdout", "stderr"):
            raise InvalidJobSpec(f"stream: must be 'stdout' or 'stderr', got {stream!r}", field="stream")
        job = await self.get_job(resource, job_id)
        path = job.stdout_path if stream == "stdout" else job.stderr_path
        if not path:
            raise NotFoundError(
                f"job {job_id} on {job.resource} has no known {stream} path "
                f"(the facility reported no job_spec.{stream}_path)",
                facility=FACILITY,
                resource=job.resource,
            )
        try:
            return await self._read_text(resource, path, tail)
        except APIError as exc:
            if not _IS_DIRECTORY_MESSAGE.search(exc.message):
                raise
        entry = _pick_output_file(await self.ls(resource, path), job_id, stream)
        if entry is None:
            raise NotFoundError(
                f"job {job_id} on {job.resource}: {stream} path {path} is a directory holding no "
                "file of this job",
                facility=FACILITY,
                resource=job.resource,
            )
        return await self._read_text(resource, entry.path, tail)

    async def _read_text(self, resource: str, path: str, tail: int | None) -> str:
        if tail is not None:
            return await self.tail(resource, path, lines=tail)
        return await self.view(resource, path)


def _unique(jobs: list[Job]) -> list[Job]:
    """``jobs`` without repeats of an id (a page may overlap the one before)."""
    seen: set[str] = set()
    unique: list[Job] = []
    for job in jobs:
        if job.id not in seen:
            seen.add(job.id)
            unique.append(job)
    return unique


def _key_reused(exc: APIError) -> bool:
    """Whether a refusal says the Idempotency-Key was used with another body (``422``)."""
    return exc.status_code == 422 and bool(_KEY_REUSED.search(exc.body or exc.message))

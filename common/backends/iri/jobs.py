"""The IRI backend's compute jobs: submit, look up, list, cancel, update, read output.

How the API's gaps are filled here (the spec is silent on these):

* **Submit without duplicates.** Every submit carries a tag in
  ``environment["FACILITY_SUBMIT_TAG"]`` (the caller's own, if the spec already has one, so a
  retried Airflow task can find its job again), and runs under the backend's
  :class:`~facility_common.backends.submit.SubmitGuard`: the shared policy decides when an
  answer is lost, looks for the tagged job among the resource's jobs (listed with their specs),
  and sends again only when it is safe. What is IRI's own stays in the send: v2 also sends an
  ``Idempotency-Key``, one per submit call and the same for every re-send of that call, which
  makes a re-send after a timeout safe; a ``409`` answered while the same key is in flight is
  waited out (``Retry-After``) and the request sent again; a server without an idempotency
  store answers ``501`` to the key, and the request goes again without it (from then on,
  this backend sends no key and the tag alone guards against duplicates). A job just submitted
  that the API does not show yet is PENDING. :meth:`JobsMixin.find_job_by_tag` offers the same
  look-up to a caller with a new client (a retried Airflow task).
* **Job updates.** ``update_job`` PUTs the whole new JobSpec (retried like a read, without an
  ``Idempotency-Key``); a refusal (``409`` once the job has started, or another 4xx) raises
  :class:`JobSubmissionError` with the facility's message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import anyio
import httpx

from ...errors import APIError, InvalidJobSpec, JobSubmissionError, NotFoundError
from ...http import ApiRequest, parse_retry_after
from ...models import Job, JobSpec
from ..submit import UnreadableAnswer, outcome_unknown, tag_of
from .core import MAX_PAGES, IRIBase
from .file_parsers import _pick_output_file
from .parsers import _find_tagged, _items, _parse_job, _parse_jobs
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
DEFAULT_CONFLICT_WAIT = 2.0
"""Seconds waited after a ``409`` that names no ``Retry-After``."""
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
            "-", spec, tag=tag, api_version=self.api_version, project=self.project
        )  # validates the spec before any request
        resource_id, name = await self._resolve(resource)
        key = _idempotency_key() if self.api_version == "v2" else None

        async def send() -> Job:
            return await self._send_submit(resource_id, name, spec, tag, key)

        async def find(sent_at: float) -> Job | None:
            return await self._tagged(resource_id, name, tag)

        def keyed() -> bool:
            return key is not None and self._idempotency_supported

        return await self._guard.submit(resource=name, tag=tag, send=send, find=find, keyed=keyed)

    async def _send_submit(
        self, resource_id: str, name: str, spec: JobSpec, tag: str, key: str | None
    ) -> Job:
        """One submit: the request (with ``key`` while the server takes one) and its answer.

        A ``501`` to the key means the server has no idempotency store: the request goes again at
        once without it, and this backend sends no key from then on.
        """
        while True:
            sent_key = key if self._idempotency_supported else None
            request = _build_submit(
                resource_id,
                spec,
                tag=tag,
                api_version=self.api_version,
                project=self.project,
                idempotency_key=sent_key,
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
                raise
            data = self._session.json(response, resource=name)
            try:
                return _parse_job(data, name, sent_spec=request.json)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise UnreadableAnswer(
                    f"POST /compute/job/{resource_id}: unexpected answer ({type(exc).__name__}: {exc})"
                ) from None

    async def _post_through_conflicts(self, request: ApiRequest, name: str, tag: str) -> httpx.Response:
        """Send a submit; on v2 wait out ``409`` (the same key still in flight) and send again.

        When the facility keeps answering ``409``, the earlier send may yet create the job: the
        tag is remembered as in doubt and the outcome-unknown error raised.
        """
        for _ in range(MAX_CONFLICT_WAITS):
            response = await self._session.send(request, resource=name)
            if response.status_code != 409:
                return response
            wait = parse_retry_after(response.headers.get("Retry-After"))
            wait = DEFAULT_CONFLICT_WAIT if wait is None else wait
            await anyio.sleep(min(wait, self._session.retry.max_retry_after))
        self._guard.memory.doubt(tag)
        raise outcome_unknown(
            facility=FACILITY,
            resource=name,
            tag=tag,
            reason=f"the facility kept answering 409: a submit under the same {IDEMPOTENCY_HEADER} "
            "is still in flight",
        )

    async def _tagged(self, resource_id: str, name: str, tag: str) -> Job | None:
        """The newest job of the resource's listing whose spec carries ``tag``."""
        items = await self._pages(lambda offset: _build_list_jobs(resource_id, None, offset), resource=name)
        try:
            return _find_tagged(items, tag, name)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer(f"POST /compute/status/{resource_id}", exc, name) from None

    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The newest job, live or finished, whose spec carries ``FACILITY_SUBMIT_TAG=tag``.

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
            data = await self._session.call(_build_get_job(resource_id, job_id), resource=name)
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
        """The jobs of ``job_ids`` in one call (filtered here too, in case the server ignores the
        filter), or every visible job, paged.

        :calls: POST /compute/status/{resource_id}?historical=true&include_spec=true&limit=1000
            with body ``{"job_ids": [...]}``
        """
        if job_ids is not None and not job_ids:
            return []
        resource_id, name = await self._resolve(resource)
        wanted = [str(job_id) for job_id in job_ids] if job_ids is not None else None
        if wanted is None:
            items = await self._pages(
                lambda offset: _build_list_jobs(resource_id, None, offset), resource=name
            )
        else:
            items = []
            for start in range(0, len(wanted), PAGE_LIMIT):
                chunk = wanted[start : start + PAGE_LIMIT]
                items.extend(await self._ids_pages(resource_id, name, chunk))
        try:
            jobs = _parse_jobs(items, name)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer(f"POST /compute/status/{resource_id}", exc, name) from None
        seen: set[str] = set()
        selected = set(wanted) if wanted is not None else None
        unique: list[Job] = []
        for job in jobs:
            if job.id in seen or (selected is not None and job.id not in selected):
                continue
            seen.add(job.id)
            unique.append(job)
        return unique

    async def _ids_pages(self, resource_id: str, name: str, chunk: list[str]) -> list[dict[str, Any]]:
        """One call for ``chunk``; more pages only if a server that ignores the filter fills one."""
        items: list[dict[str, Any]] = []
        wanted = set(chunk)
        for page in range(MAX_PAGES):
            request = _build_list_jobs(resource_id, chunk, page * PAGE_LIMIT)
            data = await self._session.call(request, resource=name)
            try:
                batch = _items(data)
            except ValueError as exc:
                raise self._bad_answer(f"POST /compute/status/{resource_id}", exc, name) from None
            items.extend(batch)
            wanted -= {str(item.get("id")) for item in batch}
            if not wanted or len(batch) < PAGE_LIMIT:
                break
        return items

    async def cancel(self, resource: str, job_id: str) -> None:
        """Cancel a job.

        :calls: DELETE /compute/cancel/{resource_id}/{job_id} (204)
        """
        resource_id, name = await self._resolve(resource)
        await self._session.send(_build_cancel(resource_id, job_id), resource=name)

    async def update_job(self, resource: str, job_id: str, spec: JobSpec) -> Job:
        """Replace the description of a job that has not started (walltime, queue, ...).

        Retried like a read (a PUT replaces). A facility that refuses the change, typically
        with ``409`` because the job already started, raises :class:`JobSubmissionError`
        carrying its message; an unknown job raises :class:`NotFoundError`.

        :calls: PUT /compute/job/{resource_id}/{job_id}
        """
        _build_update_job(
            "-", job_id, spec, api_version=self.api_version, project=self.project
        )  # validates the spec before any request
        resource_id, name = await self._resolve(resource)
        request = _build_update_job(
            resource_id, job_id, spec, api_version=self.api_version, project=self.project
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

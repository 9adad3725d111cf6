"""FirecREST v2 transfer jobs and the staged (S3) transfers that use them.

A ``transfer/*`` call (copy, move, staged upload or download, and ``rm``/``compress``/``extract``
that took longer than the server waits) starts a scheduler job and answers its ``transferJob``.
:meth:`Transfers._wait_transfer` follows that job with ``GET /compute/{system}/jobs/{id}`` for at
most ``transfer_timeout`` seconds (pausing from 0.2 s up to ``transfer_poll_interval``), and cancels
it when the time is up. A job the scheduler does not show (404) is waited for up to
``visibility_grace`` seconds, then judged by its log; a status call that fails is tried again at the next pause, and only a
run of :data:`STATUS_FAILURES` failures ends the wait with an error saying the transfer may still
complete. A finished job succeeded when its output log says so (the data mover's own words): the
server's copy, move, delete, compress and extract jobs end COMPLETED with exit code 0 even when
their command failed. One that did not succeed raises with the end of its error log, as
:class:`~facility_common.errors.NotFoundError` when that says a path does not exist.

Staged upload: ``POST transfer/upload`` answers presigned part URLs; each part (``maxPartSize``
bytes of the file) is ``PUT`` streamed in ``transfer_chunk_size`` pieces, at most
``max_s3_connections`` at once, and the ``ETag`` of every part goes into the completion ``POST``;
then the transfer job moves the file into place. Staged download: ``POST transfer/download``
starts the job that stages the file; once it is done, its presigned URL is read as a stream.

Presigned URLs are credentials: no error, log line or repr here shows their query string, and an
object store's error answer is reduced to its ``Code`` and ``Message`` (S3 may echo the signature
in the rest). Errors about the object store are raised outside any ``except`` block, so no chained
exception carries the URL either.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import anyio
import httpx
from anyio import AsyncFile

from ...errors import (
    APIError,
    AuthenticationError,
    FacilityError,
    NotFoundError,
    ServerError,
    TransportError,
    WaitTimeout,
)
from ...http import ERROR_BODY_BYTES, ApiRequest
from .core import FACILITY, FirecrestCore
from .parsers import (
    S3Upload,
    TransferJob,
    jobs_of,
    output_of,
    parse_job,
    parse_s3_download,
    parse_s3_upload,
    parse_transfer_job,
    storage_error_text,
    transfer_succeeded,
    without_url_queries,
)
from .requests import (
    build_cancel,
    build_get_job,
    build_tail,
    build_transfer_download,
    build_transfer_upload,
)
from .verdicts import transfer_said_not_found

__all__ = ["STATUS_FAILURES", "Transfers", "storage_location"]

logger = logging.getLogger("facility_common.backends.firecrest")

#: Failed status calls in a row after which a transfer job's wait gives up.
STATUS_FAILURES = 5
#: The first pause between two looks at a transfer job, in seconds.
FIRST_PAUSE = 0.2
#: How much of the end of a transfer job's log is read to learn its outcome.
LOG_TAIL_BYTES = 64 * 1024

Sink = Callable[[bytes], Awaitable[None]]


def storage_location(url: str) -> str:
    """``scheme://host[:port]/path`` of a presigned URL: what may be shown of it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<staging URL>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def _excerpt(response: httpx.Response) -> str:
    """The ``Code: Message`` of an object store's error answer, read up to a limit."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= ERROR_BODY_BYTES:
            break
    text = b"".join(chunks)[:ERROR_BODY_BYTES].decode("utf-8", "replace")
    detail = storage_error_text(text, response.headers.get("Content-Type", ""))
    return f": {detail}" if detail else ""


def _completion(etags: dict[int, str]) -> bytes:
    """The ``CompleteMultipartUpload`` document naming every part and its ETag."""
    parts = "".join(
        f"<Part><PartNumber>{number}</PartNumber><ETag>{escape(etags[number])}</ETag></Part>"
        for number in sorted(etags)
    )
    return f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()


class Transfers(FirecrestCore):
    """Transfer jobs and the object store of :class:`~.backend.FirecrestBackend`."""

    # -- transfer jobs --------------------------------------------------------------------------

    async def _run_transfer(self, system: str, request: ApiRequest, what: str) -> None:
        """Start a transfer job with ``request`` and wait until it has done its work."""
        job = parse_transfer_job(await self._call(request, system), system, what)
        await self._wait_transfer(system, job, what)

    async def _wait_transfer(
        self,
        system: str,
        job: TransferJob,
        what: str,
        succeeded: Callable[[str], bool] = transfer_succeeded,
    ) -> None:
        """Wait for the transfer job (see the module docstring); raise unless it succeeded (as
        ``succeeded`` reads its output log)."""
        opts = self.options
        started = time.monotonic()
        deadline = started + opts.transfer_timeout
        pause = min(FIRST_PAUSE, opts.transfer_poll_interval)
        failures = 0
        while True:
            listed: list[Mapping[str, Any]] | None
            try:
                listed = jobs_of(await self._call(build_get_job(job.system, job.job_id), system))
            except NotFoundError:
                listed = []
            except AuthenticationError:
                raise
            except FacilityError as exc:
                failures += 1
                logger.warning("%s: reading transfer job %s failed: %s", what, job.job_id, exc.message)
                if failures >= STATUS_FAILURES:
                    raise APIError(
                        f"{what}: the state of transfer job {job.job_id} could not be read "
                        f"({exc.message}); the transfer may still complete",
                        facility=FACILITY,
                        resource=system,
                        status_code=exc.status_code,
                    ) from None
                listed = None
            if listed is not None:
                failures = 0
                if listed:
                    state = parse_job(listed[0], job.system, scheduler=self._scheduler(job.system))
                    if state.is_terminal:
                        await self._check_outcome(
                            system, job, what, state.native_state, state.exit_code, succeeded
                        )
                        return
                elif time.monotonic() - started > opts.visibility_grace:
                    # Not shown (any more): its log still tells whether it did its work.
                    log = await self._log_end(system, job, job.output_log)
                    if log is not None and succeeded(log):
                        return
                    raise NotFoundError(
                        f"{what}: transfer job {job.job_id} is not shown by {job.system}",
                        facility=FACILITY,
                        resource=system,
                    )
            if time.monotonic() + pause > deadline:
                await self._cancel_quietly(system, job)
                raise WaitTimeout(
                    f"{what}: transfer job {job.job_id} did not finish within {opts.transfer_timeout:g} s "
                    "and was cancelled",
                    facility=FACILITY,
                    resource=system,
                )
            await anyio.sleep(pause)
            pause = min(pause * 2, opts.transfer_poll_interval)

    async def _cancel_quietly(self, system: str, job: TransferJob) -> None:
        with contextlib.suppress(FacilityError):
            await self._session.send(build_cancel(job.system, job.job_id), resource=system)

    async def _log_end(self, system: str, job: TransferJob, path: str | None) -> str | None:
        """The end of one of the job's logs; None when it does not exist (a job cancelled
        before it ran writes none)."""
        if not path:
            return None
        try:
            data = await self._call(build_tail(job.system, path, lines=None, nbytes=LOG_TAIL_BYTES), system)
        except NotFoundError:
            return None
        content = output_of(data, "the transfer job's log")
        return str(content.get("content") or "") if isinstance(content, dict) else ""

    async def _check_outcome(
        self,
        system: str,
        job: TransferJob,
        what: str,
        state: str | None,
        exit_code: int | None,
        succeeded: Callable[[str], bool] = transfer_succeeded,
    ) -> None:
        """Raise unless the finished transfer job's output log says it succeeded."""
        log = await self._log_end(system, job, job.output_log)
        if log is not None and succeeded(log):
            return
        errors = ""
        with contextlib.suppress(FacilityError):
            errors = (await self._log_end(system, job, job.error_log)) or ""
        said = " ".join(errors.split()[-60:])
        code = f", exit code {exit_code}" if exit_code is not None else ""
        kind = NotFoundError if transfer_said_not_found(errors) else APIError
        raise kind(
            f"{what}: transfer job {job.job_id} ended {state or 'without a state'}{code} without "
            "reporting success" + (f": {without_url_queries(said)}" if said else ""),
            facility=FACILITY,
            resource=system,
        )

    # -- the object store -----------------------------------------------------------------------

    async def _storage_exchange(
        self,
        system: str,
        what: str,
        method: str,
        url: str,
        *,
        content: bytes | AsyncIterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
        sink: Sink | None = None,
    ) -> httpx.Headers:
        """One request to a presigned URL; the answer's body goes to ``sink``. Returns the
        answer's headers; every failure is a :class:`FacilityError` that never shows the URL's
        query (see the module docstring)."""
        where = f"{method} {storage_location(url)}"
        failure: FacilityError | None = None
        answered = httpx.Headers()
        try:
            async with self._storage_client().stream(
                method, url, content=content, headers=headers
            ) as response:
                status = response.status_code
                if status >= 400:
                    message = f"{what}: {where} answered {status}{await _excerpt(response)}"
                    kind = NotFoundError if status == 404 else ServerError if status >= 500 else APIError
                    failure = kind(message, facility=FACILITY, resource=system, status_code=status)
                else:
                    answered = response.headers
                    if sink is not None:
                        async for chunk in response.aiter_bytes(self.options.transfer_chunk_size):
                            await sink(chunk)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            failure = TransportError(
                f"{what}: {where} got no complete answer: {type(exc).__name__}",
                facility=FACILITY,
                resource=system,
            )
        if failure is not None:
            raise failure
        return answered

    # -- staged upload --------------------------------------------------------------------------

    async def _staged_upload(
        self, system: str, local: anyio.Path, remote_path: str, size: int, sent: Callable[[int], None]
    ) -> None:
        """Upload ``local`` through the staging area; ``sent`` hears of every piece sent."""
        what = "upload"
        request = build_transfer_upload(
            system, remote_path, size, account=self.account, version=self._version()
        )
        answer = await self._call(request, system)
        job = parse_transfer_job(answer, system, "the staged upload")
        try:
            stage = parse_s3_upload(answer, size)
            etags = await self._put_parts(system, stage, local, size, sent)
            await self._complete(system, stage, etags)
        except FacilityError:
            await self._cancel_quietly(system, job)
            raise
        await self._wait_transfer(system, job, what)

    async def _put_parts(
        self, system: str, stage: S3Upload, local: anyio.Path, size: int, sent: Callable[[int], None]
    ) -> dict[int, str]:
        """PUT every part, ``max_s3_connections`` at once; their ETags by part number."""
        etags: dict[int, str] = {}
        failures: list[FacilityError] = []
        gate = anyio.Semaphore(self.options.max_s3_connections)

        async def put(number: int, url: str, start: int, length: int) -> None:
            async with gate:
                if failures:
                    return
                try:
                    etags[number] = await self._put_part(system, number, url, local, start, length, sent)
                except FacilityError as exc:
                    failures.append(exc)
                    group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            for index, url in enumerate(stage.part_urls):
                start = index * stage.part_size
                if start >= size and index > 0:
                    break
                group.start_soon(put, index + 1, url, start, min(stage.part_size, size - start))
        if failures:
            raise failures[0]
        return etags

    async def _put_part(
        self,
        system: str,
        number: int,
        url: str,
        local: anyio.Path,
        start: int,
        length: int,
        sent: Callable[[int], None],
    ) -> str:
        chunk_size = self.options.transfer_chunk_size

        async def pieces() -> AsyncIterator[bytes]:
            async with await anyio.open_file(local, "rb") as handle:
                await handle.seek(start)
                left = length
                while left > 0:
                    piece = await handle.read(min(chunk_size, left))
                    if not piece:
                        return
                    left -= len(piece)
                    sent(len(piece))
                    yield piece

        what = f"upload, part {number}"
        headers = await self._storage_exchange(
            system, what, "PUT", url, content=pieces(), headers={"Content-Length": str(length)}
        )
        etag = str(headers.get("ETag") or "")
        if not etag:
            raise APIError(f"{what}: the object store answered no ETag", facility=FACILITY, resource=system)
        return etag

    async def _complete(self, system: str, stage: S3Upload, etags: dict[int, str]) -> None:
        """POST the completion; an S3 answer of 200 may still carry an ``<Error>``."""
        collected: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            if sum(map(len, collected)) < ERROR_BODY_BYTES:
                collected.append(chunk)

        what = "upload, completion"
        await self._storage_exchange(
            system,
            what,
            "POST",
            stage.complete_url,
            content=_completion(etags),
            headers={"Content-Type": "application/xml"},
            sink=keep,
        )
        body = b"".join(collected).decode("utf-8", "replace")
        if "<Error>" in body:
            detail = storage_error_text(body, "application/xml") or "an error"
            raise APIError(
                f"{what}: POST {storage_location(stage.complete_url)} answered {detail}",
                facility=FACILITY,
                resource=system,
            )

    # -- staged download ------------------------------------------------------------------------

    async def _staged_download(
        self, system: str, remote_path: str, handle: AsyncFile[bytes], received: Callable[[int], None]
    ) -> None:
        """Stage ``remote_path`` with a transfer job, then stream it into ``handle``."""
        request = build_transfer_download(system, remote_path, account=self.account, version=self._version())
        answer = await self._call(request, system)
        job = parse_transfer_job(answer, system, "the staged download")
        stage = parse_s3_download(answer)
        await self._wait_transfer(system, job, "download")

        async def write(chunk: bytes) -> None:
            await handle.write(chunk)
            received(len(chunk))

        await self._storage_exchange(system, "download", "GET", stage.url, sink=write)

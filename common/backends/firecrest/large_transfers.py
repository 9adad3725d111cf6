"""Files above a system's ``max_ops_file_size``: the transfer method its FirecREST offers.

A system's ``dataOperation.dataTransfer.serviceType`` names the one method its server accepts
(another is answered ``400 Requested transfer method is not available``):

* ``s3``: the staged transfers of :mod:`.transfers` (presigned URLs of an object store);
* ``streamer``: the transfer job itself sends or receives the file over a websocket
  (:mod:`.streamer`). An upload waits for the job to say the file arrived whole and checks the
  remote size; a download checks the sender's SHA-256. The connection is tried until the job
  listens, at most ``transfer_timeout`` seconds; a job that ends before (its target exists, its
  source does not) is reported with its log;
* ``wormhole`` needs the Magic Wormhole programme on both ends: not offered here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
from anyio import AsyncFile

from ...errors import APIError, FacilityError, NotFoundError, UnsupportedOperation
from .core import FACILITY
from .parsers import (
    TransferJob,
    jobs_of,
    parse_job,
    parse_streamer_coordinates,
    parse_transfer_job,
    streamer_received,
    transfer_service,
)
from .requests import build_get_job, build_transfer_download, build_transfer_upload
from .streamer import (
    Coordinates,
    StreamerConnection,
    decode_coordinates,
    open_streamer,
    receive_file,
    send_file,
)
from .transfers import Transfers

__all__ = ["LargeTransfers"]


class LargeTransfers(Transfers):
    """Upload and download above ``max_ops_file_size``, by the system's transfer method."""

    def _large_method(self, system: str) -> str:
        method = transfer_service(self._systems.get(system, {}))
        if method not in ("s3", "streamer"):
            raise UnsupportedOperation(
                f"{system} moves files above {self._direct_limit(system)} bytes with FirecREST's "
                f"{method!r} transfer method, which this client does not offer (s3 and streamer "
                "are supported); move the file in smaller pieces or with another tool",
                facility=FACILITY,
                resource=system,
            )
        return method

    async def _large_upload(
        self, system: str, local: anyio.Path, remote_path: str, size: int, sent: Callable[[int], None]
    ) -> None:
        """Upload ``local`` by the system's transfer method."""
        if self._large_method(system) == "s3":
            await self._staged_upload(system, local, remote_path, size, sent)
        else:
            await self._streamer_upload(system, local, remote_path, size, sent)

    async def _large_download(
        self, system: str, remote_path: str, handle: AsyncFile[bytes], received: Callable[[int], None]
    ) -> None:
        """Download ``remote_path`` into ``handle`` by the system's transfer method."""
        if self._large_method(system) == "s3":
            await self._staged_download(system, remote_path, handle, received)
        else:
            await self._streamer_download(system, remote_path, handle, received)

    # -- the streamer ---------------------------------------------------------------------------

    async def _streamer_upload(
        self, system: str, local: anyio.Path, remote_path: str, size: int, sent: Callable[[int], None]
    ) -> None:
        """:calls: POST /filesystem/{system}/transfer/upload (streamer), the websocket of its
        transfer job, GET /compute/{system}/jobs/{id} until it ends, GET .../ops/stat"""
        what = "upload"
        request = build_transfer_upload(
            system, remote_path, size, account=self.account, version=self._version(), method="streamer"
        )
        answer = await self._call(request, system)
        job = parse_transfer_job(answer, system, "the streamer upload")
        coordinates = decode_coordinates(parse_streamer_coordinates(answer, "the streamer upload"), system)
        try:
            connection = await self._reach_streamer(system, job, coordinates, what)
            try:
                await send_file(connection, local, size, system, sent)
            finally:
                await connection.close()
        except FacilityError:
            await self._cancel_quietly(system, job)
            raise
        await self._wait_transfer(system, job, what, succeeded=streamer_received)
        remote_size = (await self.stat(system, remote_path)).size
        if remote_size != size:
            raise APIError(
                f"{what}: {remote_path} holds {remote_size} bytes after the streamer transfer, "
                f"not the {size} sent",
                facility=FACILITY,
                resource=system,
            )

    async def _streamer_download(
        self, system: str, remote_path: str, handle: AsyncFile[bytes], received: Callable[[int], None]
    ) -> None:
        """:calls: POST /filesystem/{system}/transfer/download (streamer), the websocket of its
        transfer job"""
        what = "download"
        request = build_transfer_download(
            system, remote_path, account=self.account, version=self._version(), method="streamer"
        )
        answer = await self._call(request, system)
        job = parse_transfer_job(answer, system, "the streamer download")
        coordinates = decode_coordinates(parse_streamer_coordinates(answer, "the streamer download"), system)
        try:
            connection = await self._reach_streamer(system, job, coordinates, what)
            await receive_file(connection, handle, system, received)
        except FacilityError:
            await self._cancel_quietly(system, job)
            raise

    async def _reach_streamer(
        self, system: str, job: TransferJob, coordinates: Coordinates, what: str
    ) -> StreamerConnection:
        """A connection to the transfer job, tried until it listens (see the module docstring)."""
        opts = self.options
        started = time.monotonic()

        async def job_ended() -> None:
            try:
                listed = jobs_of(await self._call(build_get_job(job.system, job.job_id), system))
            except NotFoundError:
                return  # not shown yet
            if not listed:
                return
            state = parse_job(listed[0], job.system, scheduler=self._scheduler(job.system))
            if state.is_terminal:
                log = await self._log_end(system, job, job.output_log) or ""
                said = " ".join(log.split()[-40:])
                raise APIError(
                    f"{what}: the streamer job {job.job_id} ended {state.native_state or ''} before "
                    "it took a connection" + (f": {said}" if said else ""),
                    facility=FACILITY,
                    resource=system,
                )

        return await open_streamer(
            coordinates,
            system,
            deadline=started + opts.transfer_timeout,
            pause=min(0.2, opts.transfer_poll_interval),
            max_pause=opts.transfer_poll_interval,
            job_ended=job_ended,
        )

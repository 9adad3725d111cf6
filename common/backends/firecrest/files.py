"""Files on FirecREST v2: the synchronous ``ops`` calls, and the operations that run as jobs.

Most calls are one ``/filesystem/{system}/ops/*`` request. ``cp`` and ``mv`` are transfer jobs;
``rm``, ``compress`` and ``extract`` become transfer jobs when the server says the direct call
took too long (408, or for ``rm`` a 500 reporting the command's timeout). ``extract`` creates its
target directory first (``ops/mkdir`` with parents): the server runs ``tar -C <target>``, which
fails on a directory that does not exist.

The server answers 413 when the output of the command behind a call reaches the system's
``max_ops_file_size``, so the sizes sent stay under it: ``upload`` goes direct up to
``max_ops_file_size`` (the file travels as the request body) and ``download`` up to about three
quarters of it (the file comes back as ``base64`` text); above that both go by the system's
transfer method (:mod:`.large_transfers`: the S3 staging area or the streamer). A download lands
in a temporary file beside the target and is renamed into place only when complete. ``view`` asks
for at most half of ``max_ops_file_size`` per call (the server reads two blocks of ``size`` bytes
with ``dd``), and always gives ``size``: the server's default is 5 MiB whatever the system's
limit, and it refuses a larger ``size``.

A direct upload names the file in a multipart header, which cannot carry every name: the
characters :data:`UNSENDABLE_NAME_CHARACTERS` would be stored percent-encoded or escaped, so such
names are refused before any request (:func:`check_upload_name`). So is a target path holding a
single quote: the server writes the file with ``base64 -d > '<path>'`` (and a staged upload's job
template HTML-escapes the quote), so such a path fails there or lands elsewhere.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable

import anyio
import httpx
from anyio import AsyncFile

from ...downloads import DownloadTarget
from ...errors import APIError, FacilityError, InvalidJobSpec, TransportError
from ...models import FileEntry
from ..base import ProgressCallback
from .core import FACILITY
from .large_transfers import LargeTransfers
from .parsers import output_of, parse_checksum, parse_file_entry, parse_stat
from .requests import (
    build_checksum,
    build_chmod,
    build_chown,
    build_compress,
    build_direct_download,
    build_direct_upload,
    build_extract,
    build_file_type,
    build_head,
    build_ls,
    build_mkdir,
    build_rm,
    build_stat,
    build_symlink,
    build_tail,
    build_transfer,
    build_transfer_compress,
    build_transfer_extract,
    build_transfer_rm,
    build_view,
)

__all__ = ["UNSENDABLE_NAME_CHARACTERS", "FileMethods", "check_upload_name"]

UNSENDABLE_NAME_CHARACTERS = frozenset({'"', "\\"} | {chr(c) for c in range(0x20) if c != 0x1B})
"""Characters a multipart ``filename`` does not carry as they are: httpx writes ``"`` as ``%22``,
the control characters but ESC as ``%XX`` and ``\\`` doubled, and the server stores the name as
it arrives."""


def check_upload_name(remote_path: object) -> str:
    """``remote_path`` if its file name can be stored as written; :class:`InvalidJobSpec`
    naming the field and the facility otherwise."""
    field = "remote_path"
    if not isinstance(remote_path, str) or not remote_path:
        raise InvalidJobSpec(f"{field}: a non-empty path is required", field=field, facility=FACILITY)
    name = posixpath.basename(remote_path)
    if name in ("", ".", ".."):
        raise InvalidJobSpec(
            f"{field}: {remote_path!r} names no file (it ends in {name or '/'!r})",
            field=field,
            facility=FACILITY,
        )
    if "'" in remote_path:
        raise InvalidJobSpec(
            f"{field}: FirecREST cannot write to a path holding a single quote ({remote_path!r}): "
            "it puts the path between single quotes in the shell command that stores the file; "
            "upload under another name and rename it remotely with mv",
            field=field,
            facility=FACILITY,
        )
    bad = sorted({c for c in name if c in UNSENDABLE_NAME_CHARACTERS})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidJobSpec(
            f"{field}: FirecREST cannot store a file name holding {shown} as written ({name!r}); "
            "rename it, or upload under another name and rename it remotely with mv",
            field=field,
            facility=FACILITY,
        )
    return remote_path


def _took_too_long(exc: APIError, *, rm: bool = False) -> bool:
    """Whether a direct ``ops`` call failed only because the server stopped waiting for it."""
    if exc.status_code == 408:
        return True
    return rm and exc.status_code == 500 and "exit status:124" in f"{exc.body} {exc.message}"


class FileMethods(LargeTransfers):
    """The file operations of :class:`~.backend.FirecrestBackend`."""

    async def ls(self, resource: str, path: str, *, show_hidden: bool = False) -> list[FileEntry]:
        """:calls: GET /filesystem/{system}/ops/ls"""
        system = await self._system(resource)
        entries = output_of(await self._call(build_ls(system, path, show_hidden=show_hidden), system), "ls")
        if not isinstance(entries, list):
            raise APIError(f"ls of {path}: the answer holds no list", facility=FACILITY, resource=system)
        return [parse_file_entry(entry, path) for entry in entries]

    async def stat(self, resource: str, path: str) -> FileEntry:
        """:calls: GET /filesystem/{system}/ops/stat"""
        system = await self._system(resource)
        data = output_of(await self._call(build_stat(system, path), system), "stat")
        if not isinstance(data, dict):
            raise APIError(f"stat of {path}: the answer holds no stat", facility=FACILITY, resource=system)
        return parse_stat(data, path)

    async def mkdir(self, resource: str, path: str, parents: bool = False) -> None:
        """:calls: POST /filesystem/{system}/ops/mkdir"""
        system = await self._system(resource)
        await self._session.send(build_mkdir(system, path, parents=parents), resource=system)

    async def rm(self, resource: str, path: str) -> None:
        """:calls: DELETE /filesystem/{system}/ops/rm (when that takes too long,
        DELETE /filesystem/{system}/transfer/rm and a wait for its transfer job)"""
        system = await self._system(resource)
        try:
            await self._session.send(build_rm(system, path), resource=system)
            return
        except APIError as exc:
            if not _took_too_long(exc, rm=True):
                raise
        await self._run_transfer(system, build_transfer_rm(system, path, account=self.account), "rm")

    async def mv(self, resource: str, source: str, target: str) -> None:
        """:calls: POST /filesystem/{system}/transfer/mv, then waits for its transfer job"""
        system = await self._system(resource)
        await self._run_transfer(
            system, build_transfer(system, "mv", source, target, account=self.account), "mv"
        )

    async def cp(self, resource: str, source: str, target: str) -> None:
        """:calls: POST /filesystem/{system}/transfer/cp, then waits for its transfer job"""
        system = await self._system(resource)
        await self._run_transfer(
            system, build_transfer(system, "cp", source, target, account=self.account), "cp"
        )

    async def chmod(self, resource: str, path: str, mode: str) -> None:
        """:calls: PUT /filesystem/{system}/ops/chmod"""
        system = await self._system(resource)
        await self._session.send(build_chmod(system, path, mode), resource=system)

    async def chown(
        self, resource: str, path: str, owner: str | None = None, group: str | None = None
    ) -> None:
        """:calls: PUT /filesystem/{system}/ops/chown"""
        system = await self._system(resource)
        await self._session.send(build_chown(system, path, owner, group), resource=system)

    async def symlink(self, resource: str, target: str, link_path: str) -> None:
        """:calls: POST /filesystem/{system}/ops/symlink"""
        system = await self._system(resource)
        await self._session.send(build_symlink(system, target, link_path), resource=system)

    async def checksum(self, resource: str, path: str) -> str:
        """:calls: GET /filesystem/{system}/ops/checksum"""
        system = await self._system(resource)
        data = output_of(await self._call(build_checksum(system, path), system), "checksum")
        if not isinstance(data, dict):
            raise APIError(f"checksum of {path}: the answer holds none", facility=FACILITY, resource=system)
        return parse_checksum(data)

    async def file_type(self, resource: str, path: str) -> str:
        """:calls: GET /filesystem/{system}/ops/file"""
        system = await self._system(resource)
        return str(output_of(await self._call(build_file_type(system, path), system), "file type"))

    async def compress(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """:calls: POST /filesystem/{system}/ops/compress (when that takes too long,
        POST /filesystem/{system}/transfer/compress and a wait for its transfer job)"""
        system = await self._system(resource)
        try:
            await self._session.send(build_compress(system, source, target, compression), resource=system)
            return
        except APIError as exc:
            if not _took_too_long(exc):
                raise
        request = build_transfer_compress(system, source, target, compression, account=self.account)
        await self._run_transfer(system, request, "compress")

    async def extract(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """Unpack the archive ``source`` into the directory ``target``, created first when missing
        (the server's ``tar -C`` does not create it).

        :calls: POST /filesystem/{system}/ops/mkdir (with parents), then
            POST /filesystem/{system}/ops/extract (when that takes too long,
            POST /filesystem/{system}/transfer/extract and a wait for its transfer job)
        """
        system = await self._system(resource)
        await self._session.send(build_mkdir(system, target, parents=True), resource=system)
        try:
            await self._session.send(build_extract(system, source, target, compression), resource=system)
            return
        except APIError as exc:
            if not _took_too_long(exc):
                raise
        request = build_transfer_extract(system, source, target, compression, account=self.account)
        await self._run_transfer(system, request, "extract")

    async def view(self, resource: str, path: str, offset: int = 0, size: int | None = None) -> str:
        """The text from ``offset``, at most ``size`` bytes and never more than half the system's
        ``max_ops_file_size`` (the most one call can return). ``size`` 0 is the empty text, with
        no request (the server refuses it).

        :calls: GET /filesystem/{system}/ops/view
        """
        for name, value in (("offset", offset), ("size", size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InvalidJobSpec(
                    f"{name}: must be a whole number of bytes, 0 or more, got {value!r}",
                    field=name,
                    facility=FACILITY,
                )
        if size == 0:
            return ""
        system = await self._system(resource)
        limit = self._view_limit(system)
        wanted = limit if size is None else min(size, limit)
        data = await self._call(build_view(system, path, offset=offset, size=wanted), system)
        text = output_of(data, "view")
        return "" if text is None else str(text)

    async def head(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """:calls: GET /filesystem/{system}/ops/head"""
        system = await self._system(resource)
        data = output_of(
            await self._call(build_head(system, path, lines=lines, nbytes=nbytes), system), "head"
        )
        return str(data.get("content") or "") if isinstance(data, dict) else ""

    async def tail(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """:calls: GET /filesystem/{system}/ops/tail"""
        system = await self._system(resource)
        data = output_of(
            await self._call(build_tail(system, path, lines=lines, nbytes=nbytes), system), "tail"
        )
        return str(data.get("content") or "") if isinstance(data, dict) else ""

    async def upload(
        self,
        resource: str,
        local_path: str | os.PathLike[str],
        remote_path: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Up to the system's ``max_ops_file_size`` in one request, above it by the system's
        transfer method. A name the API cannot carry is refused before any request.

        :calls: POST /filesystem/{system}/ops/upload, or above ``max_ops_file_size``
            POST /filesystem/{system}/transfer/upload, then (s3) PUT each part, POST the
            completion, or (streamer) the transfer job's websocket; then a wait for the job
        """
        check_upload_name(remote_path)
        local = anyio.Path(local_path)
        if not await local.is_file():
            raise FileNotFoundError(f"{local} is not a file")
        size = (await local.stat()).st_size
        system = await self._system(resource)
        done = 0

        def sent(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done, size)

        if progress is not None:
            progress(0, size)
        if size <= self._direct_limit(system):
            content = await local.read_bytes()
            await self._session.send(build_direct_upload(system, remote_path, content), resource=system)
            if progress is not None:
                progress(size, size)
            return
        await self._large_upload(system, local, remote_path, size, sent)
        if progress is not None:
            progress(size, size)

    async def download(
        self,
        resource: str,
        remote_path: str,
        local_path: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Into a temporary file beside ``local_path``, renamed into place once complete
        (:class:`~facility_common.downloads.DownloadTarget`, checked before any request).

        :calls: GET /filesystem/{system}/ops/stat, then GET /filesystem/{system}/ops/download,
            or above about three quarters of ``max_ops_file_size`` (see the module docstring)
            POST /filesystem/{system}/transfer/download, then (s3) a wait for its transfer job and
            a GET of the staged object, or (streamer) the transfer job's websocket
        """
        target = await DownloadTarget.check(local_path, facility=FACILITY)
        size = (await self.stat(resource, remote_path)).size or 0
        system = await self._system(resource)
        done = 0

        def received(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done, size)

        async with target.writing() as handle:
            if size <= self._download_limit(system):
                await self._direct_download(system, remote_path, handle, received)
            else:
                await self._large_download(system, remote_path, handle, received)
        if progress is not None:
            progress(done, done)

    async def _direct_download(
        self, system: str, remote_path: str, handle: AsyncFile[bytes], received: Callable[[int], None]
    ) -> None:
        """Stream ``ops/download`` into ``handle`` (not held in memory, nor cut at
        ``max_body_bytes``: the body is a file of at most ``max_ops_file_size`` bytes)."""
        path, params = build_direct_download(system, remote_path)
        failure: FacilityError | None = None
        async with self._session.stream("GET", path, resource=system, params=params) as response:
            try:
                async for chunk in response.aiter_bytes(self.options.transfer_chunk_size):
                    await handle.write(chunk)
                    received(len(chunk))
            except httpx.HTTPError as exc:
                failure = TransportError(
                    f"GET {path} broke off: {type(exc).__name__}", facility=FACILITY, resource=system
                )
        if failure is not None:
            raise failure

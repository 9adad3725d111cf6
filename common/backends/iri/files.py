"""The IRI backend's file operations: each one a filesystem task, awaited to its result.

Every filesystem call answers a task id; the method waits for the task (see
:mod:`.tasks`) and parses its ``result`` (:mod:`.file_parsers`). ``view``, ``download`` and
``upload`` move at most 5 MiB per call (the spec's limit); larger files go through Globus. A
download appears locally whole or not at all, and only decoded: its result is the file in base64
(the reference server), a URL on the API's own host (fetched with the session), or
``{content, encoding}``; any other shape is an :class:`APIError` and leaves no file. Where a
resource's HAL links name an operation, the request goes where the link leads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

from ...downloads import DownloadTarget
from ...errors import (
    APIError,
    FacilityError,
    InvalidJobSpec,
    NotFoundError,
    TransportError,
    UnsupportedOperation,
)
from ...http import ApiRequest
from ...models import FileEntry
from ..base import ProgressCallback
from .file_parsers import (
    _download_url,
    _parse_checksum,
    _parse_content,
    _parse_download,
    _parse_file_type,
    _parse_ls,
    _parse_stat,
    _parse_task_submit,
)
from .links import same_origin
from .requests import FACILITY, IRI_FILE_LIMIT, _build_fs, _build_upload, _lines_or_bytes
from .tasks import TasksMixin


class FilesMixin(TasksMixin):
    """ls, stat, mkdir, rm, mv, cp, chmod, chown, symlink, checksum, file type, compress,
    extract, view, head, tail, upload and download."""

    async def _fs(self, op: str, resource: str, path: str, args: Mapping[str, Any]) -> Any:
        """Run one filesystem operation to completion and return its task ``result``."""
        resource_id, name = await self._resolve(resource)
        request = self._linked(_build_fs(self.api_version, op, resource_id, args), resource_id, op)
        data = await self._session.call(request, resource=name)
        try:
            task_id = _parse_task_submit(data)
        except ValueError as exc:
            raise self._bad_answer(f"{op} {path}", exc, name) from None
        return await self._await_task(task_id, op=op, path=path, resource=name)

    async def ls(self, resource: str, path: str, *, show_hidden: bool = False) -> list[FileEntry]:
        """List a directory.

        :calls: GET /filesystem/ls/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("ls", resource, path, {"path": path, "showHidden": show_hidden})
        entries: list[FileEntry] = self._parsed("ls", path, resource, _parse_ls, result, path)
        return entries

    async def stat(self, resource: str, path: str) -> FileEntry:
        """Facts about one path.

        :calls: GET /filesystem/stat/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("stat", resource, path, {"path": path})
        entry: FileEntry = self._parsed("stat", path, resource, _parse_stat, result, path)
        return entry

    async def mkdir(self, resource: str, path: str, parents: bool = False) -> None:
        """Create a directory (and its parents when asked).

        :calls: POST /filesystem/mkdir/{resource_id}, then GET /task/{task_id}
        """
        await self._fs("mkdir", resource, path, {"path": path, "parent": parents})

    async def rm(self, resource: str, path: str) -> None:
        """Remove a file or directory tree.

        :calls: DELETE /filesystem/rm/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        await self._fs("rm", resource, path, {"path": path})

    async def mv(self, resource: str, source: str, target: str) -> None:
        """Move or rename.

        :calls: POST /filesystem/mv/{resource_id}, then GET /task/{task_id}
        """
        await self._fs("mv", resource, source, {"path": source, "target_path": target})

    async def cp(self, resource: str, source: str, target: str) -> None:
        """Copy a file or directory.

        :calls: POST /filesystem/cp/{resource_id}, then GET /task/{task_id}
        """
        await self._fs("cp", resource, source, {"path": source, "target_path": target})

    async def chmod(self, resource: str, path: str, mode: str) -> None:
        """Change permissions; ``mode`` is octal text such as ``"755"``.

        :calls: PUT /filesystem/chmod/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        mode_text = str(mode).strip()
        if not re.fullmatch(r"0?[0-7]{3,4}", mode_text):
            raise InvalidJobSpec(f"mode: {mode!r} is not an octal mode such as '755'", field="mode")
        await self._fs("chmod", resource, path, {"path": path, "mode": mode_text})

    async def chown(
        self, resource: str, path: str, owner: str | None = None, group: str | None = None
    ) -> None:
        """Change owner and/or group.

        :calls: PUT /filesystem/chown/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        if owner is None and group is None:
            raise InvalidJobSpec("chown: give an owner, a group or both", field="owner")
        await self._fs("chown", resource, path, {"path": path, "owner": owner, "group": group})

    async def symlink(self, resource: str, target: str, link_path: str) -> None:
        """Create the symbolic link ``link_path`` pointing at ``target``.

        :calls: POST /filesystem/symlink/{resource_id} with ``{path, link_path}``,
            then GET /task/{task_id}
        """
        await self._fs("symlink", resource, link_path, {"path": target, "link_path": link_path})

    async def checksum(self, resource: str, path: str) -> str:
        """The file's SHA-256 as ``"sha256:<hex>"`` (the algorithm name as the facility gives it,
        lowercased without dashes).

        :calls: GET /filesystem/checksum/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("checksum", resource, path, {"path": path})
        digest: str = self._parsed("checksum", path, resource, _parse_checksum, result)
        return digest

    async def file_type(self, resource: str, path: str) -> str:
        """What ``file`` says of the path (``"ASCII text"``, ``"directory"``...).

        :calls: GET /filesystem/file/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("file", resource, path, {"path": path})
        text: str = self._parsed("file", path, resource, _parse_file_type, result, path)
        return text

    async def compress(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """Pack ``source`` (a file or directory) into the tar archive ``target``; ``compression``
        is none, gzip, bzip2 or xz (sent as the v1 enum name or the v2 URN).

        :calls: POST /filesystem/compress/{resource_id} with ``{path, target_path, compression}``,
            then GET /task/{task_id}
        """
        args = {"path": source, "target_path": target, "compression": compression}
        _build_fs(self.api_version, "compress", "-", args)  # validates compression before any request
        await self._fs("compress", resource, source, args)

    async def extract(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """Unpack the tar archive ``source`` into the directory ``target``.

        :calls: POST /filesystem/extract/{resource_id} with ``{path, target_path, compression}``,
            then GET /task/{task_id}
        """
        args = {"path": source, "target_path": target, "compression": compression}
        _build_fs(self.api_version, "extract", "-", args)  # validates compression before any request
        await self._fs("extract", resource, source, args)

    async def view(self, resource: str, path: str, offset: int = 0, size: int | None = None) -> str:
        """Up to ``size`` bytes (default and maximum 5 MiB) of a file from ``offset``.

        :calls: GET /filesystem/view/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        size = IRI_FILE_LIMIT if size is None else min(size, IRI_FILE_LIMIT)
        result = await self._fs("view", resource, path, {"path": path, "offset": offset, "size": size})
        text: str = self._parsed("view", path, resource, _parse_content, result)
        return text

    async def head(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """The first ``lines`` lines or ``nbytes`` bytes of a file.

        :calls: GET /filesystem/head/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("head", resource, path, _lines_or_bytes(path, lines, nbytes))
        text: str = self._parsed("head", path, resource, _parse_content, result)
        return text

    async def tail(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """The last ``lines`` lines or ``nbytes`` bytes of a file.

        :calls: GET /filesystem/tail/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("tail", resource, path, _lines_or_bytes(path, lines, nbytes))
        text: str = self._parsed("tail", path, resource, _parse_content, result)
        return text

    async def upload(
        self,
        resource: str,
        local_path: str | os.PathLike[str],
        remote_path: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Upload a local file of at most 5 MiB.

        :calls: POST /filesystem/upload/{resource_id}?path=... (multipart field ``file``),
            then GET /task/{task_id}
        """
        local = os.fspath(local_path)
        size = await anyio.to_thread.run_sync(os.path.getsize, local)
        if size > IRI_FILE_LIMIT:
            raise UnsupportedOperation(
                f"upload of {local} ({size} bytes): the {self.facility_label} uploads at most "
                f"{IRI_FILE_LIMIT} bytes (5 MiB); use Globus for larger files",
                facility=FACILITY,
                resource=resource,
            )
        content = await anyio.to_thread.run_sync(_read_local, local)
        if progress is not None:
            progress(0, len(content))
        resource_id, name = await self._resolve(resource)
        request = self._linked(
            _build_upload(self.api_version, resource_id, remote_path, os.path.basename(local), content),
            resource_id,
            "upload",
        )
        data = await self._session.call(request, resource=name)
        try:
            task_id = _parse_task_submit(data)
        except ValueError as exc:
            raise self._bad_answer(f"upload {remote_path}", exc, name) from None
        await self._await_task(task_id, op="upload", path=remote_path, resource=name)
        if progress is not None:
            progress(len(content), len(content))

    async def _fetch_download(self, url: str, remote_path: str, resource: str) -> bytes:
        """The bytes behind a download task's URL, fetched through the session (with its
        credentials), so only from the API's own scheme, host and port; any other is refused."""
        if not same_origin(url, self.base_url):
            raise APIError(
                f"download {remote_path} on {resource}: the facility answered a URL on another host "
                f"({urlsplit(url).hostname}); it is not fetched with the API's credentials",
                facility=FACILITY,
                resource=resource,
            )
        try:
            response = await self._session.send(ApiRequest("GET", url), resource=resource)
        except FacilityError as exc:
            # said again without the URL's query, which may hold a signature
            shown = urlsplit(url)._replace(query="", fragment="").geturl()
            what = f"answered {exc.status_code}" if exc.status_code is not None else "got no answer"
            kind = (
                NotFoundError
                if exc.status_code == 404
                else TransportError
                if isinstance(exc, TransportError)
                else APIError
            )
            raise kind(
                f"download {remote_path} on {resource}: GET {shown} {what}",
                facility=FACILITY,
                resource=resource,
                status_code=exc.status_code,
            ) from None
        return response.content

    async def download(
        self,
        resource: str,
        remote_path: str,
        local_path: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Download a remote file of at most 5 MiB; the local file appears whole or not at all
        (:class:`~facility_common.downloads.DownloadTarget`, checked before any request).

        The task's result is the file in base64 (the reference server), a URL on the API's own
        host that is then fetched, or ``{content, encoding}``; a result of any other shape is an
        :class:`APIError` and leaves no local file.

        :calls: GET /filesystem/download/{resource_id} (v1) | POST (v2), then GET /task/{task_id},
            and GET <url> when the result is a URL
        """
        target = await DownloadTarget.check(local_path, facility=FACILITY)
        result = await self._fs("download", resource, remote_path, {"path": remote_path})
        url = _download_url(result)
        content: bytes
        if url is not None:
            content = await self._fetch_download(url, remote_path, resource)
        else:
            content = self._parsed("download", remote_path, resource, _parse_download, result)
        await target.write_bytes(content)
        if progress is not None:
            progress(len(content), len(content))


def _read_local(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()

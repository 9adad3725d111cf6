"""The files side of the Superfacility API backend: ``ls``, small transfers and shell commands.

The API offers ``ls``, ``upload``/``download`` of small files (:data:`SFAPI_FILE_LIMIT`) and
``command`` (a shell command on a login node, run as a task). ``stat`` is an ``ls`` of the
parent. mkdir, rm, mv, cp, chmod, view, head and tail have no call of their own: they raise
:class:`UnsupportedOperation` pointing at ``command`` and Globus, unless the user opts in with
``shell_file_operations=True``; then they run as shell commands through ``command`` (arguments
quoted, paths after ``--``), or read through ``download``. ``head`` and ``tail`` run ``head`` and
``tail`` there, so only the lines asked for travel, whatever the file's size.

:class:`SFAPIFiles` holds these methods for :class:`~.backend.SFAPIBackend`, which supplies the
session and the task follower.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Sequence

import anyio
import anyio.to_thread

from ...downloads import DownloadTarget
from ...errors import InvalidJobSpec, NotFoundError
from ...http import ApiSession
from ...models import FileEntry
from ..base import FacilityBackend, ProgressCallback
from .options import SFAPIOptions
from .parsers import check_ok, parse_download, parse_ls
from .requests import build_command, build_download, build_ls, build_upload, machine_name
from .tasks import TaskFollower, parse_task_submitted

__all__ = ["SFAPI_FILE_LIMIT", "SFAPIFiles"]

FACILITY = "sfapi"
SFAPI_FILE_LIMIT = 5 * 1024 * 1024
"""Largest file moved by the small upload/download utilities; larger ones go through Globus."""


class SFAPIFiles(FacilityBackend):
    """File operations and shell commands of the Superfacility API (see the module docstring)."""

    options: SFAPIOptions
    _session: ApiSession
    _tasks: TaskFollower

    async def ls(self, resource: str, path: str, *, show_hidden: bool = False) -> list[FileEntry]:
        """A directory's entries (or the file itself).

        :calls: GET /utilities/ls/{machine}/{path}
        """
        machine = machine_name(resource)
        entries = parse_ls(await self._session.call(build_ls(machine, path), resource=machine), path, machine)
        return [e for e in entries if show_hidden or not e.name.startswith(".") or e.path == path]

    async def stat(self, resource: str, path: str) -> FileEntry:
        """One path's entry, from an ``ls`` of its parent directory.

        :calls: GET /utilities/ls/{machine}/{parent}
        """
        machine = machine_name(resource)
        parent = posixpath.dirname(path.rstrip("/")) or "/"
        name = posixpath.basename(path.rstrip("/"))
        for entry in await self.ls(machine, parent, show_hidden=True):
            if entry.name == name:
                return entry
        raise NotFoundError(f"{path}: No such file or directory", facility=FACILITY, resource=machine)

    async def _download_bytes(self, machine: str, path: str) -> bytes:
        data = await self._session.call(build_download(machine, path, binary=True), resource=machine)
        return parse_download(data, path, machine)

    async def download(
        self,
        resource: str,
        remote_path: str,
        local_path: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Copy a small (<= 5 MiB) remote file to ``local_path``, which appears whole or not at all
        (:class:`~facility_common.downloads.DownloadTarget`, checked before any request).

        :calls: GET /utilities/download/{machine}/{path}?binary=true
        """
        machine = machine_name(resource)
        target = await DownloadTarget.check(local_path, facility=FACILITY)
        content = await self._download_bytes(machine, remote_path)
        await target.write_bytes(content)
        if progress is not None:
            progress(len(content), len(content))

    async def upload(
        self,
        resource: str,
        local_path: str | os.PathLike[str],
        remote_path: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Copy a small (<= 5 MiB) local file to ``remote_path``.

        :calls: PUT /utilities/upload/{machine}/{path}
        """
        machine = machine_name(resource)

        def read() -> bytes:
            with open(local_path, "rb") as handle:
                return handle.read(SFAPI_FILE_LIMIT + 1)

        content = await anyio.to_thread.run_sync(read)
        if len(content) > SFAPI_FILE_LIMIT:
            raise self._unsupported(f"upload of files over {SFAPI_FILE_LIMIT} bytes")
        check_ok(
            await self._session.call(build_upload(machine, remote_path, content), resource=machine),
            f"upload {remote_path}",
            machine,
        )
        if progress is not None:
            progress(len(content), len(content))

    async def command(self, resource: str, command: str | Sequence[str]) -> str:
        """Run a shell command on the machine (a login node) and return its output.

        A non-zero exit raises :class:`APIError` with the command's error text. A list is joined
        with shell quoting.

        :calls: POST /utilities/command/{machine}; GET /tasks/{id}
        """
        machine = machine_name(resource)
        text = command if isinstance(command, str) else shlex.join(command)
        data = await self._session.call(build_command(machine, text), resource=machine)
        task_id = parse_task_submitted(data, f"command on {machine}", machine)
        result = await self._tasks.result(task_id, f"command on {machine}", machine)
        output = result.get("output")
        return output if isinstance(output, str) else ""

    # -- opt-in file operations through `command` and `download` -------------------------------

    def _shell(self, operation: str) -> None:
        if not self.options.shell_file_operations:
            raise self._unsupported(operation)

    async def _run(self, resource: str, words: Sequence[str]) -> None:
        await self.command(resource, list(words))

    async def mkdir(self, resource: str, path: str, parents: bool = False) -> None:
        """:calls: POST /utilities/command/{machine} (``mkdir [-p] -- path``; opt-in)"""
        self._shell("mkdir")
        await self._run(resource, ["mkdir", *(["-p"] if parents else []), "--", path])

    async def rm(self, resource: str, path: str) -> None:
        """:calls: POST /utilities/command/{machine} (``rm -r -- path``; opt-in)"""
        self._shell("rm")
        await self._run(resource, ["rm", "-r", "--", path])

    async def mv(self, resource: str, source: str, target: str) -> None:
        """:calls: POST /utilities/command/{machine} (``mv -- source target``; opt-in)"""
        self._shell("mv")
        await self._run(resource, ["mv", "--", source, target])

    async def cp(self, resource: str, source: str, target: str) -> None:
        """:calls: POST /utilities/command/{machine} (``cp -r -- source target``; opt-in)"""
        self._shell("cp")
        await self._run(resource, ["cp", "-r", "--", source, target])

    async def chmod(self, resource: str, path: str, mode: str) -> None:
        """:calls: POST /utilities/command/{machine} (``chmod mode -- path``; opt-in)"""
        self._shell("chmod")
        if not re.fullmatch(r"[0-7]{3,4}|[ugoa]*[-+=][rwxXst]*(,[ugoa]*[-+=][rwxXst]*)*", mode):
            raise InvalidJobSpec(f"mode: {mode!r} is not a chmod mode", field="mode", facility=FACILITY)
        await self._run(resource, ["chmod", mode, "--", path])

    async def _text(self, resource: str, path: str) -> bytes:
        return await self._download_bytes(machine_name(resource), path)

    async def view(self, resource: str, path: str, offset: int = 0, size: int | None = None) -> str:
        """:calls: GET /utilities/download/{machine}/{path} (sliced here; opt-in)"""
        self._shell("view")
        data = await self._text(resource, path)
        end = None if size is None else offset + size
        return data[offset:end].decode("utf-8", "replace")

    async def head(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """:calls: POST /utilities/command/{machine} (``head -n|-c N -- path``; opt-in)"""
        self._shell("head")
        return await self.command(resource, ["head", *_count(lines, nbytes), "--", path])

    async def tail(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """:calls: POST /utilities/command/{machine} (``tail -n|-c N -- path``; opt-in)"""
        self._shell("tail")
        return await self._tail_of(machine_name(resource), path, _count(lines, nbytes))

    async def _tail_of(self, machine: str, path: str, count: Sequence[str]) -> str:
        """The end of a remote file from ``tail`` run as a command: only the tail travels.

        :calls: POST /utilities/command/{machine} (``tail <count> -- path``); GET /tasks/{id}
        """
        return await self.command(machine, ["tail", *count, "--", path])


def _count(lines: int | None, nbytes: int | None) -> list[str]:
    """``head``/``tail`` options for ``lines`` lines or ``nbytes`` bytes (10 lines by default)."""
    if lines is not None and nbytes is not None:
        raise InvalidJobSpec("give lines or nbytes, not both", field="lines", facility=FACILITY)
    field, option, count = ("nbytes", "-c", nbytes) if nbytes is not None else ("lines", "-n", lines)
    if count is None:
        return ["-n", "10"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidJobSpec(f"{field}: must be a whole number >= 0", field=field, facility=FACILITY)
    return [option, str(count)]

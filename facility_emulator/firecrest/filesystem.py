"""FirecREST ``/filesystem/{system}/ops/*`` routes: the synchronous file operations.

They act on the emulator's sandbox through :mod:`facility_emulator.fsops` and answer FirecREST's
shapes: ``{"output": ...}`` with camelCase models, 201 for creations, 204 for upload, rm,
compress and extract.

Decisions where the spec is silent:

* Direct ``upload``/``download`` refuse files larger than the system's ``max_ops_file_size`` with
  413 and a message pointing at ``transfer/upload``/``transfer/download``.
* A missing path answers 404 with ``"... No such file or directory"`` (pyfirecrest looks for that
  text); a path outside the sandbox answers 403.
* ``upload``'s ``path`` is the target directory; the file name comes from the multipart part.
* ``view`` reads ``size`` bytes, 5 MiB when not given (the server's default whatever the system's
  limit), and refuses a size above the system's ``max_ops_file_size`` with 400, as FirecREST does:
  a client that leaves ``size`` out fails on a system with a smaller limit.

In reference mode the routes answer as the FirecREST v2 server (``filesystem/ops/router.py`` and
its ``commands``; see :mod:`.reference` for how it reports failures):

* every call is 503 while the system's SSH service is unhealthy;
* ``view`` refuses ``offset < 0``, ``size <= 0`` and ``size`` above ``max_ops_file_size`` with 400
  in the server's words, and runs ``dd bs=size count=2``: when those two blocks reach
  ``max_ops_file_size`` bytes the answer is 413 ``Command output exceeded buffer limit.`` (so a
  ``size`` of more than half the limit fails on a larger file);
* ``head`` and ``tail`` are 413 the same way when their output reaches the limit;
* ``download`` sends the file through ``base64``: a file whose base64 text reaches the limit (more
  than about three quarters of it) is 413; ``upload`` above the limit is 413 ``File to upload is
  too large.``, and one whose path holds a single quote fails in the shell (500), since the server
  writes it with ``base64 -d > '<path>'``;
* ``extract`` runs ``tar -C target`` and creates nothing: a missing target is 404 with tar's
  ``Cannot open: No such file or directory``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from facility_emulator import fsops
from facility_emulator.firecrest.common import (
    APP_VERSION,
    PREFIX,
    FirecrestError,
    SystemConfig,
    empty_response,
    endpoint,
    field,
    is_reference,
    json_body,
    json_response,
    query_flag,
    query_number,
    required_path,
    sandbox_path,
    system_of,
)
from facility_emulator.firecrest.reference import (
    OUTPUT_LIMIT,
    base64_length,
    check_output,
    remote_failure,
    unhealthy,
)
from facility_emulator.firecrest.site import site_of
from facility_emulator.state import EmulatorState

DEFAULT_VIEW_SIZE = 5 * 1024 * 1024
"""``ops/view``'s ``size`` when none is given (the OpenAPI document's default)."""


def file_model(entry: dict[str, Any]) -> dict[str, Any]:
    """fsops' ``ls`` entry as FirecREST's ``File`` model."""
    return {
        "name": entry["name"],
        "type": entry["type"],
        "linkTarget": entry["link_target"],
        "user": entry["user"],
        "group": entry["group"],
        "permissions": entry["permissions"],
        "lastModified": entry["last_modified"],
        "size": entry["size"],
    }


def content_model(content: dict[str, Any]) -> dict[str, Any]:
    """fsops' head/tail answer as FirecREST's ``FileContent``."""
    return {
        "content": content["content"],
        "contentType": content["content_type"],
        "startPosition": content["start_position"],
        "endPosition": content["end_position"],
    }


class FilesystemRoutes:
    """The ``ops`` routes."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        wrap = endpoint(self.state)
        p = f"{PREFIX}/filesystem/{{system_name}}/ops"
        table: list[tuple[str, Any, str]] = [
            ("ls", self.ls, "GET"),
            ("head", self.head, "GET"),
            ("tail", self.tail, "GET"),
            ("view", self.view, "GET"),
            ("checksum", self.checksum, "GET"),
            ("file", self.file_type, "GET"),
            ("stat", self.stat, "GET"),
            ("download", self.download, "GET"),
            ("upload", self.upload, "POST"),
            ("mkdir", self.mkdir, "POST"),
            ("symlink", self.symlink, "POST"),
            ("chmod", self.chmod, "PUT"),
            ("chown", self.chown, "PUT"),
            ("compress", self.compress, "POST"),
            ("extract", self.extract, "POST"),
            ("rm", self.rm, "DELETE"),
        ]
        return [Route(f"{p}/{name}", wrap(handler), methods=[method]) for name, handler, method in table]

    # -- helpers -------------------------------------------------------------------------

    @property
    def sandbox(self) -> Any:
        return self.state.sandbox

    @property
    def reference(self) -> bool:
        return is_reference(self.state)

    def _system(self, request: Request) -> SystemConfig:
        """The path's system; in reference mode 503 while its SSH service is unhealthy."""
        system = system_of(request)
        if self.reference and site_of(self.state).health_problem(system.name) is not None:
            raise unhealthy(system, "ssh")
        return system

    def describe(self, path: Path) -> dict[str, Any]:
        """The ``File`` model of one path (not following a final symlink)."""
        return file_model(fsops._entry(path, path.name, numeric=False, dereference=False))

    def checked(self, raw: str, *, follow: bool = True) -> str:
        """``raw`` after the absolute-path and sandbox checks."""
        sandbox_path(self.state, raw, follow=follow)
        return raw

    # -- reads ---------------------------------------------------------------------------

    async def ls(self, request: Request) -> Response:
        self._system(request)
        entries = fsops.ls(
            self.sandbox,
            self.checked(required_path(request)),
            show_hidden=query_flag(request, "showHidden"),
            numeric_uid=query_flag(request, "numericUid"),
            recursive=query_flag(request, "recursive"),
            dereference=query_flag(request, "dereference"),
        )
        return json_response({"output": [file_model(e) for e in entries]})

    def _within_buffer(self, system: SystemConfig, content: dict[str, Any]) -> dict[str, Any]:
        """``content``, refused in reference mode when its text reaches the SSH read buffer."""
        if self.reference:
            check_output(system, len(str(content["content"]).encode()))
        return content

    async def head(self, request: Request) -> Response:
        system = self._system(request)
        content = fsops.head(
            self.sandbox,
            self.checked(required_path(request)),
            nbytes=query_number(request, "bytes"),
            lines=query_number(request, "lines"),
            skip_trailing=query_flag(request, "skipTrailing"),
        )
        return json_response({"output": content_model(self._within_buffer(system, content))})

    async def tail(self, request: Request) -> Response:
        system = self._system(request)
        content = fsops.tail(
            self.sandbox,
            self.checked(required_path(request)),
            nbytes=query_number(request, "bytes"),
            lines=query_number(request, "lines"),
            skip_heading=query_flag(request, "skipHeading"),
        )
        return json_response({"output": content_model(self._within_buffer(system, content))})

    async def view(self, request: Request) -> Response:
        system = self._system(request)
        if self.reference:
            return await self._view_as_dd(request, system)
        size = query_number(request, "size") or DEFAULT_VIEW_SIZE
        if size > system.max_ops_file_size:
            raise FirecrestError(400, f"size {size} exceeds the limit of {system.max_ops_file_size} bytes")
        offset = query_number(request, "offset") or 0
        content = fsops.view(self.sandbox, self.checked(required_path(request)), size=size, offset=offset)
        return json_response({"output": content["content"]})

    async def _view_as_dd(self, request: Request, system: SystemConfig) -> Response:
        """``view`` as the server runs it: ``dd bs=size skip=offset//size count=2``, then the
        ``size`` bytes from ``offset % size`` of what dd wrote."""
        size = query_number(request, "size")
        size = DEFAULT_VIEW_SIZE if size is None else size
        offset = query_number(request, "offset") or 0
        limit = system.max_ops_file_size
        if offset < 0:
            raise FirecrestError(400, "`offset` value must be an integer value equal or greater than 0")
        if size <= 0:
            raise FirecrestError(400, "`size` value must be an integer value greater than 0")
        if size > limit:
            raise FirecrestError(400, f"`size` value must be less than {limit} bytes")
        raw = self.checked(required_path(request))
        target = sandbox_path(self.state, raw)
        if not target.exists():
            raise remote_failure(1, f"dd: failed to open '{raw}': No such file or directory")
        if target.is_dir():
            raise remote_failure(1, f"dd: error reading '{raw}': Is a directory")
        start = (offset // size) * size
        check_output(system, min(max(0, target.stat().st_size - start), 2 * size))
        content = fsops.view(self.sandbox, raw, size=size, offset=offset)
        return json_response({"output": content["content"]})

    async def checksum(self, request: Request) -> Response:
        self._system(request)
        answer = await anyio.to_thread.run_sync(
            fsops.checksum, self.sandbox, self.checked(required_path(request))
        )
        return json_response({"output": answer})

    async def file_type(self, request: Request) -> Response:
        self._system(request)
        return json_response(
            {"output": fsops.file_type(self.sandbox, self.checked(required_path(request), follow=False))}
        )

    async def stat(self, request: Request) -> Response:
        self._system(request)
        dereference = query_flag(request, "dereference")
        path = self.checked(required_path(request), follow=dereference)
        return json_response({"output": fsops.stat(self.sandbox, path, dereference=dereference)})

    async def download(self, request: Request) -> Response:
        system = self._system(request)
        raw = required_path(request)
        path = sandbox_path(self.state, raw)
        if not path.exists():
            real = remote_failure(1, f"base64: {raw}: No such file or directory")
            raise FirecrestError(404, f"{raw}: No such file or directory", reference=real)
        if path.is_dir():
            real = remote_failure(1, f"base64: {raw}: Is a directory")
            raise FirecrestError(400, f"{raw}: Is a directory", reference=real)
        size = path.stat().st_size
        if self.reference and base64_length(size) >= system.max_ops_file_size:
            raise FirecrestError(413, OUTPUT_LIMIT)
        if size > system.max_ops_file_size:
            raise FirecrestError(
                413,
                f"File size {size} exceeds the limit of {system.max_ops_file_size} bytes; "
                "use transfer/download",
            )
        return FileResponse(
            path, media_type="application/octet-stream", headers={"F7T-AppVersion": APP_VERSION}
        )

    # -- writes --------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        system = self._system(request)
        directory = required_path(request)
        form = await request.form(max_files=1, max_part_size=system.max_ops_file_size + 1)
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise FirecrestError(422, "Field required: file", "validation")
        data = await part.read()
        if len(data) > system.max_ops_file_size:
            raise FirecrestError(
                413,
                f"File exceeds the limit of {system.max_ops_file_size} bytes; use transfer/upload",
                reference=FirecrestError(413, "File to upload is too large."),
            )
        if self.reference and "'" in f"{directory}/{part.filename}":
            # base64 -d > '<path>/<name>': a quote in it leaves the shell's quoting open.
            raise remote_failure(2, "bash: -c: line 1: unexpected EOF while looking for matching `''")
        target = fsops.upload_target(self.sandbox, self.checked(directory), part.filename)
        target.write_bytes(data)
        return empty_response(204)

    async def mkdir(self, request: Request) -> Response:
        self._system(request)
        body = await json_body(request)
        path = self.checked(str(field(body, "sourcePath", "path", required=True)))
        parent = bool(field(body, "parent"))
        target = sandbox_path(self.state, path)
        if target.exists() and not parent:
            raise FirecrestError(400, f"cannot create directory '{path}': File exists")
        if not parent and not target.parent.is_dir():
            raise FirecrestError(404, f"cannot create directory '{path}': No such file or directory")
        fsops.mkdir(self.sandbox, path, parent=parent)
        return json_response({"output": self.describe(target)}, 201)

    async def symlink(self, request: Request) -> Response:
        self._system(request)
        body = await json_body(request)
        source = self.checked(str(field(body, "sourcePath", "path", required=True)))
        link = self.checked(str(field(body, "linkPath", required=True)), follow=False)
        fsops.symlink(self.sandbox, source, link)
        return json_response({"output": self.describe(sandbox_path(self.state, link, follow=False))}, 201)

    async def chmod(self, request: Request) -> Response:
        self._system(request)
        body = await json_body(request)
        path = self.checked(str(field(body, "sourcePath", "path", required=True)))
        fsops.chmod(self.sandbox, path, str(field(body, "mode", required=True)))
        return json_response({"output": self.describe(sandbox_path(self.state, path))})

    async def chown(self, request: Request) -> Response:
        self._system(request)
        body = await json_body(request)
        path = self.checked(str(field(body, "sourcePath", "path", required=True)), follow=False)
        fsops.chown(self.sandbox, path, str(field(body, "owner") or ""), str(field(body, "group") or ""))
        return json_response({"output": self.describe(sandbox_path(self.state, path, follow=False))})

    async def compress(self, request: Request) -> Response:
        self._system(request)
        body = await json_body(request)
        await anyio.to_thread.run_sync(
            lambda: fsops.compress(
                self.sandbox,
                self.checked(str(field(body, "sourcePath", "path", required=True))),
                self.checked(str(field(body, "targetPath", required=True)), follow=False),
                match_pattern=field(body, "matchPattern"),
                dereference=bool(field(body, "dereference")),
                compression=field(body, "compression") or "gzip",
            )
        )
        return empty_response(204)

    async def extract(self, request: Request) -> Response:
        self._system(request)
        body = await json_body(request)
        if self.reference:
            raw_target = str(field(body, "targetPath", required=True))
            if not sandbox_path(self.state, raw_target).is_dir():
                # tar -C does not create its target.
                raise remote_failure(
                    2,
                    f"tar: {raw_target}: Cannot open: No such file or directory\n"
                    "tar: Error is not recoverable: exiting now",
                )
        await anyio.to_thread.run_sync(
            lambda: fsops.extract(
                self.sandbox,
                self.checked(str(field(body, "sourcePath", "path", required=True))),
                self.checked(str(field(body, "targetPath", required=True))),
                compression=field(body, "compression") or "gzip",
            )
        )
        return empty_response(204)

    async def rm(self, request: Request) -> Response:
        self._system(request)
        path = self.checked(required_path(request), follow=False)
        await anyio.to_thread.run_sync(fsops.rm, self.sandbox, path)
        return empty_response(204)

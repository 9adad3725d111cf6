"""IRI filesystem and task routes.

v1 takes arguments from the query string for GET/DELETE operations and from a JSON body for
POST/PUT ones; v2 makes every operation a POST with a JSON body (upload keeps ``?path=`` and a
multipart ``file`` field). Every operation answers ``{"task_id", "task_uri"}`` and does its work
in a task; a failing operation (missing path, path outside the sandbox) makes the task
``failed`` with ``result.error``. ``path`` may also be given as ``source_path``.

Download results carry the file's bytes base64 encoded: ``result.output == {"content": <b64>,
"encoding": "base64", "size": n, "path": ...}``; in reference mode ``result.output`` is the base64
string itself, as the reference server's demo adapter answers (its model calls the field
"Download URL or identifier").

v2 answers carry HAL ``_links``: ``monitor`` on a TaskSubmitResponse, ``self`` on a Task (none in
reference mode).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facility_emulator import fsops
from facility_emulator.iri import links
from facility_emulator.iri.common import (
    api_base,
    json_body,
    json_response,
    lookup_resource,
    prefix,
    reference_mode,
)
from facility_emulator.problems import ProblemError
from facility_emulator.sandbox import Sandbox
from facility_emulator.state import EmulatorState
from facility_emulator.tasks import TaskFailure, TaskRecord

Op = Callable[[Sandbox, dict[str, Any]], Any]

# Operations the spec answers with 201 Created (both versions); every other one answers 200.
CREATING_OPS = frozenset({"compress", "cp", "extract", "mkdir", "mv", "symlink"})

V1_METHODS = {
    "ls": "GET",
    "view": "GET",
    "head": "GET",
    "tail": "GET",
    "stat": "GET",
    "file": "GET",
    "checksum": "GET",
    "download": "GET",
    "rm": "DELETE",
    "mkdir": "POST",
    "symlink": "POST",
    "cp": "POST",
    "mv": "POST",
    "compress": "POST",
    "extract": "POST",
    "chmod": "PUT",
    "chown": "PUT",
}


def _bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ProblemError(422, f"expected a boolean, got {value!r}")


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ProblemError(422, f"expected an integer, got {value!r}") from exc


def _path(args: dict[str, Any]) -> str:
    value = args.get("path") or args.get("source_path")
    if not value:
        raise ProblemError(422, "path is required")
    return str(value)


def _target(args: dict[str, Any], name: str = "target_path") -> str:
    value = args.get(name)
    if not value:
        raise ProblemError(422, f"{name} is required")
    return str(value)


def _checked(args: dict[str, Any], op: str) -> Callable[[Sandbox], Any]:
    """Validate arguments up front (422) and return the work to run in the task."""
    path = _path(args)
    if op == "ls":
        flags = [_bool(args.get(k)) for k in ("showHidden", "numericUid", "recursive", "dereference")]
        return lambda sb: fsops.ls(sb, path, *flags)
    if op == "view":
        size, offset = _int(args.get("size")), _int(args.get("offset")) or 0
        if size is not None and size > fsops.MAX_TRANSFER:
            raise ProblemError(422, f"size must be <= {fsops.MAX_TRANSFER}")
        return lambda sb: fsops.view(sb, path, size, offset)
    if op in ("head", "tail"):
        nbytes, lines = _int(args.get("bytes")), _int(args.get("lines"))
        if nbytes is not None and lines is not None:
            raise ProblemError(422, "give bytes or lines, not both")
        if op == "head":
            skip = _bool(args.get("skipTrailing"))
            return lambda sb: fsops.head(sb, path, nbytes, lines, skip)
        skip = _bool(args.get("skipHeading"))
        return lambda sb: fsops.tail(sb, path, nbytes, lines, skip)
    if op == "stat":
        deref = _bool(args.get("dereference"))
        return lambda sb: fsops.stat(sb, path, deref)
    if op == "file":
        return lambda sb: fsops.file_type(sb, path)
    if op == "checksum":
        return lambda sb: fsops.checksum(sb, path)
    if op == "download":
        return lambda sb: fsops.download(sb, path)
    if op == "rm":
        return lambda sb: fsops.rm(sb, path)
    if op == "mkdir":
        parent = _bool(args.get("parent"))
        return lambda sb: fsops.mkdir(sb, path, parent)
    if op == "symlink":
        link = _target(args, "link_path")
        return lambda sb: fsops.symlink(sb, path, link)
    if op == "cp":
        target, deref = _target(args), _bool(args.get("dereference"))
        return lambda sb: fsops.cp(sb, path, target, deref)
    if op == "mv":
        target = _target(args)
        return lambda sb: fsops.mv(sb, path, target)
    if op == "compress":
        target, deref = _target(args), _bool(args.get("dereference"))
        pattern, compression = args.get("match_pattern"), _compression(args)
        return lambda sb: fsops.compress(sb, path, target, pattern, deref, compression)
    if op == "extract":
        target, compression = _target(args), _compression(args)
        return lambda sb: fsops.extract(sb, path, target, compression)
    if op == "chmod":
        mode = args.get("mode")
        if not isinstance(mode, str) or not mode:
            raise ProblemError(422, "mode is required")
        return lambda sb: fsops.chmod(sb, path, mode)
    if op == "chown":
        owner, group = str(args.get("owner") or ""), str(args.get("group") or "")
        return lambda sb: fsops.chown(sb, path, owner, group)
    raise ProblemError(404, f"unknown filesystem operation {op}")


def _bare_download(work: Callable[[Sandbox], Any]) -> Callable[[Sandbox], Any]:
    """The reference server's download result: the base64 text alone."""
    return lambda sandbox: work(sandbox)["content"]


def _compression(args: dict[str, Any]) -> str:
    try:
        return fsops.normalize_compression(args.get("compression"))
    except TaskFailure as exc:
        raise ProblemError(422, str(exc)) from exc


class FilesystemRoutes:
    """filesystem/<op>/{resource_id} and task routes for one API version."""

    def __init__(self, state: EmulatorState, version: str) -> None:
        self.state = state
        self.version = version

    def routes(self) -> list[Route]:
        p = prefix(self.version)
        routes = []
        for op, method in V1_METHODS.items():
            verb = "POST" if self.version == "v2" else method
            routes.append(Route(f"{p}/filesystem/{op}/{{resource_id}}", self._handler(op), methods=[verb]))
        routes += [
            Route(f"{p}/filesystem/upload/{{resource_id}}", self.upload, methods=["POST"]),
            Route(f"{p}/task", self.list_tasks, methods=["GET"]),
            Route(f"{p}/task/{{task_id}}", self.get_task, methods=["GET"]),
            Route(f"{p}/task/{{task_id}}", self.delete_task, methods=["DELETE"]),
        ]
        return routes

    def _submitted(
        self, request: Request, op: str, args: dict[str, Any], work: Callable[[], Any]
    ) -> Response:
        task = self.state.tasks.submit("filesystem", op, args, work)
        status = 201 if op in CREATING_OPS else 200
        uri = f"{api_base(request, self.version)}/task/{task.id}"
        answer: dict[str, Any] = {"task_id": task.id, "task_uri": uri}
        if self._links:
            answer["_links"] = links.submit_links(uri)
        return json_response(answer, status)

    @property
    def _links(self) -> bool:
        """Whether answers carry HAL links (v2, spec mode)."""
        return self.version == "v2" and not reference_mode(self.state)

    def _task_view(self, request: Request, task: TaskRecord) -> dict[str, Any]:
        view = self.state.tasks.view(task)
        if self._links:
            view["_links"] = links.task_links(f"{api_base(request, self.version)}/task/{task.id}")
        return view

    def _handler(self, op: str) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            self.state.require_auth(request)
            lookup_resource(self.state, request.path_params["resource_id"])
            args: dict[str, Any]
            if self.version == "v1" and V1_METHODS[op] in ("GET", "DELETE"):
                args = dict(request.query_params)
            else:
                body = await json_body(request)
                if not isinstance(body, dict):
                    raise ProblemError(422, "request body must be a JSON object")
                args = body
            work = _checked(args, op)
            if op == "download" and reference_mode(self.state):
                work = _bare_download(work)
            sandbox = self.state.sandbox
            return self._submitted(request, op, args, lambda: work(sandbox))

        handle.__name__ = f"fs_{op}"
        return handle

    async def upload(self, request: Request) -> Response:
        self.state.require_auth(request)
        lookup_resource(self.state, request.path_params["resource_id"])
        path = request.query_params.get("path")
        if not path:
            raise ProblemError(422, "query parameter 'path' is required")
        form = await request.form(max_part_size=fsops.MAX_TRANSFER + 1)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ProblemError(422, "multipart field 'file' is required")
        data = await upload.read(fsops.MAX_TRANSFER + 1)
        if len(data) > fsops.MAX_TRANSFER:
            raise ProblemError(413, f"uploads are limited to {fsops.MAX_TRANSFER} bytes")
        filename = upload.filename
        sandbox = self.state.sandbox

        def work() -> Any:
            return fsops.upload(sandbox, fsops.upload_target(sandbox, path, filename), data)

        return self._submitted(request, "upload", {"path": path, "filename": filename}, work)

    async def list_tasks(self, request: Request) -> Response:
        self.state.require_auth(request)
        return json_response([self._task_view(request, t) for t in self.state.tasks.list()])

    async def get_task(self, request: Request) -> Response:
        self.state.require_auth(request)
        task = self.state.tasks.get(request.path_params["task_id"])
        if task is None:
            raise ProblemError(404, f"task {request.path_params['task_id']} not found")
        return json_response(self._task_view(request, task))

    async def delete_task(self, request: Request) -> Response:
        self.state.require_auth(request)
        task_id = request.path_params["task_id"]
        if not self.state.tasks.delete(task_id):
            raise ProblemError(404, f"task {task_id} not found")
        if reference_mode(self.state):
            return json_response(f"Task {task_id} deleted successfully")
        return json_response(f"task {task_id} deleted")

"""Helpers shared by the FirecREST route modules: systems, errors, bodies and the route wrapper.

FirecREST answers errors as ``ApiResponseError`` (``{"errorType", "message", "data", "user"}``),
not problem+json, and stamps every answer with ``F7T-AppVersion``; :func:`endpoint` gives every
handler both, plus the bearer-token check of the shared token authority.

Request bodies are read the way FirecREST's CamelModel reads them: camelCase keys, with the
snake_case spelling (and ``path`` for ``sourcePath``) accepted too (:func:`field`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from facility_emulator.problems import ProblemError
from facility_emulator.sandbox import SandboxError
from facility_emulator.state import EmulatorState
from facility_emulator.tasks import TaskFailure

PREFIX = "/firecrest"
"""Where the FirecREST API lives on the emulator."""
STAGE_PREFIX = "/firecrest-s3"
"""Where the presigned-URL style staging area lives (not part of the FirecREST API)."""
APP_VERSION = "2.5.6"
NOT_FOUND_TEXT = "No such file or directory"

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class SystemConfig:
    """One emulated cluster: its scheduler and the limits clients must respect."""

    name: str
    scheduler: str
    max_ops_file_size: int
    max_part_size: int
    partitions: tuple[str, ...]
    transfer_service: str = "s3"
    """How files above ``max_ops_file_size`` move: ``s3`` staging or the ``streamer``."""


SYSTEMS: dict[str, SystemConfig] = {
    # Daint keeps FirecREST's default direct-transfer limit; Eiger's is smaller so tests and
    # benchmarks reach the staged path with small files.
    "daint": SystemConfig("daint", "slurm", 5 * 1024 * 1024, 2 * 1024 * 1024, ("normal", "debug", "xfer")),
    "eiger": SystemConfig("eiger", "slurm", 1024 * 1024, 1024 * 1024, ("normal", "debug", "xfer")),
    # Santis moves large files with FirecREST's streamer (a websocket per transfer job).
    "santis": SystemConfig(
        "santis", "slurm", 1024 * 1024, 1024 * 1024, ("normal", "debug", "xfer"), transfer_service="streamer"
    ),
}


class FirecrestError(Exception):
    """Raised by handlers to answer an ``ApiResponseError``."""

    def __init__(self, status: int, message: str, error_type: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


def error_response(status: int, message: str, user: str | None, error_type: str = "error") -> JSONResponse:
    """The ``ApiResponseError`` document FirecREST answers errors with."""
    body = {"errorType": error_type, "message": message, "data": None, "user": user}
    headers = {"F7T-AppVersion": APP_VERSION}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, headers=headers)


def json_response(data: Any, status: int = 200) -> JSONResponse:
    """A JSON answer with FirecREST's version header."""
    return JSONResponse(data, status_code=status, headers={"F7T-AppVersion": APP_VERSION})


def empty_response(status: int = 204) -> Response:
    """A body-less answer (204) with FirecREST's version header."""
    return Response(status_code=status, headers={"F7T-AppVersion": APP_VERSION})


def _failure_status(message: str) -> int:
    lowered = message.lower()
    if "no such file" in lowered:
        return 404
    if "outside the sandbox" in lowered or "refusing" in lowered:
        return 403
    return 400


def _failure_message(message: str) -> str:
    if message.lower().startswith("no such file or directory"):
        return f"{NOT_FOUND_TEXT}{message[len(NOT_FOUND_TEXT) :]}"
    return message


def os_error_message(exc: OSError) -> tuple[int, str]:
    """Status and ``message`` for a failed file system call, worded like the coreutils FirecREST runs."""
    reason = exc.strerror or str(exc)
    name = exc.filename
    if isinstance(exc, FileNotFoundError):
        return 404, f"{name}: {NOT_FOUND_TEXT}" if name else NOT_FOUND_TEXT
    if isinstance(exc, PermissionError):
        return 403, f"{name}: Permission denied" if name else "Permission denied"
    return 400, f"{name}: {reason}" if name else reason


def endpoint(state: EmulatorState, *, auth: bool = True) -> Callable[[Handler], Handler]:
    """Wrap a handler: check the bearer token and turn failures into ``ApiResponseError``."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request) -> Response:
            user = state.config.user
            try:
                if auth:
                    state.require_auth(request)
                return await handler(request)
            except ProblemError as exc:
                return error_response(exc.status, exc.detail, None if exc.status == 401 else user)
            except FirecrestError as exc:
                return error_response(exc.status, exc.message, user, exc.error_type)
            except (TaskFailure, SandboxError) as exc:
                text = str(exc)
                return error_response(_failure_status(text), _failure_message(text), user)
            except OSError as exc:
                status, text = os_error_message(exc)
                return error_response(status, text, user)

        return wrapper

    return decorate


def system_of(request: Request) -> SystemConfig:
    """The system named in the path, or a 404 ``ApiResponseError``."""
    name = request.path_params["system_name"]
    system = SYSTEMS.get(str(name).lower())
    if system is None:
        raise FirecrestError(404, f"System '{name}' does not exist")
    return system


async def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (422 validation error otherwise)."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError as exc:
        raise FirecrestError(422, f"request body is not valid JSON: {exc}", "validation") from exc
    if not isinstance(data, dict):
        raise FirecrestError(422, "request body must be a JSON object", "validation")
    return data


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def field(body: Mapping[str, Any], name: str, *aliases: str, required: bool = False) -> Any:
    """A body field by its camelCase name, its snake_case spelling or one of ``aliases``."""
    for key in (name, _snake(name), *aliases):
        if key in body and body[key] is not None:
            return body[key]
    if required:
        raise FirecrestError(422, f"Field required: {name}", "validation")
    return None


def query_flag(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as FastAPI reads it."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise FirecrestError(422, f"Input should be a valid boolean: {name}", "validation")


def query_number(request: Request, name: str) -> int | None:
    """An optional integer query parameter."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise FirecrestError(422, f"Input should be a valid integer: {name}", "validation") from exc


def required_path(request: Request) -> str:
    """The ``path`` query parameter (422 when missing)."""
    path = request.query_params.get("path")
    if not path:
        raise FirecrestError(422, "Field required: path", "validation")
    return path


def absolute(path: str) -> str:
    """FirecREST wants absolute paths."""
    if not os.path.isabs(path):
        raise FirecrestError(400, f"Path '{path}' must be absolute", "validation")
    return path


def sandbox_path(state: EmulatorState, raw: str, *, follow: bool = True) -> Path:
    """A client path resolved inside the sandbox (403 when it escapes)."""
    try:
        return state.sandbox.resolve(absolute(raw), follow=follow)
    except SandboxError as exc:
        raise FirecrestError(403, str(exc)) from exc

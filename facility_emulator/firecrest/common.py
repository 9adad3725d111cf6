"""Helpers shared by the FirecREST route modules: systems, errors, bodies and the route wrapper.

FirecREST answers errors as ``ApiResponseError`` (``{"errorType", "message", "causedBy", "data",
"user"}``), not problem+json, and stamps every answer with ``F7T-AppVersion``; :func:`endpoint`
gives every handler both, plus the bearer-token check of the shared token authority.

In reference mode (``fidelity firecrest=reference``) :func:`endpoint` checks tokens as the
FirecREST v2 server does (``lib/auth/authN/OIDC_token_auth.py``: a token with less than
:data:`MIN_TOKEN_TTL` seconds left by its ``exp`` is refused), answers request validation errors
with 400 as its exception handler does (``lib/models/apis/api_response_model.py``), and uses the
server's wording where a handler names it (:class:`FirecrestError`'s ``reference``).

Request bodies are read the way FirecREST's CamelModel reads them: camelCase keys, with the
snake_case spelling (and ``path`` for ``sourcePath``) accepted too (:func:`field`).
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from facility_emulator.fidelity import REFERENCE
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
#: The least lifetime (s) the FirecREST server accepts a token with (its ``min_token_ttl`` default).
MIN_TOKEN_TTL = 30
TOKEN_TOO_SOON = f"Access token expires too soon (less than {MIN_TOKEN_TTL}s remaining)."

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


def is_reference(state: EmulatorState) -> bool:
    """Whether FirecREST answers as its real server does (``fidelity firecrest=reference``)."""
    return state.fidelity("firecrest") == REFERENCE


class FirecrestError(Exception):
    """Raised by handlers to answer an ``ApiResponseError``.

    ``reference`` is the answer the real server gives instead, where it words (or numbers) the
    same failure differently; ``headers`` go onto the answer.
    """

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str = "error",
        *,
        headers: Mapping[str, str] | None = None,
        reference: FirecrestError | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.headers = dict(headers or {})
        self.reference = reference

    def in_mode(self, reference: bool) -> FirecrestError:
        """The error as the chosen mode answers it."""
        if not reference:
            return self
        chosen = self.reference or self
        if chosen.error_type == "validation" and chosen.status == 422:
            # The server's handler answers RequestValidationError with 400, not FastAPI's 422.
            return FirecrestError(400, chosen.message, "validation", headers=chosen.headers)
        return chosen


def error_response(
    status: int,
    message: str,
    user: str | None,
    error_type: str = "error",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The ``ApiResponseError`` document FirecREST answers errors with."""
    body = {"errorType": error_type, "message": message, "causedBy": None, "data": None, "user": user}
    sent = {"F7T-AppVersion": APP_VERSION, **(headers or {})}
    return JSONResponse(body, status_code=status, headers=sent)


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


def check_token_as_the_server_does(state: EmulatorState, request: Request) -> None:
    """The FirecREST server's token check: a missing bearer token, an unknown (or revoked, or
    early-expired) one, and one with less than :data:`MIN_TOKEN_TTL` seconds left by its
    advertised expiry are refused with 401. The server puts the refused token back in an
    ``auth-token`` header; so does this check, so a client that logs answers' headers shows it."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise FirecrestError(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
    issued = state.tokens.lookup(token)
    if issued is None:
        raise FirecrestError(401, "Access token is invalid.", headers={"auth-token": token})
    if issued.issued_at + issued.advertised_lifetime - time.time() < MIN_TOKEN_TTL:
        raise FirecrestError(401, TOKEN_TOO_SOON, headers={"auth-token": token})


def endpoint(state: EmulatorState, *, auth: bool = True) -> Callable[[Handler], Handler]:
    """Wrap a handler: check the bearer token and turn failures into ``ApiResponseError``."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request) -> Response:
            user = state.config.user
            try:
                if auth and is_reference(state):
                    check_token_as_the_server_does(state, request)
                elif auth:
                    state.require_auth(request)
                return await handler(request)
            except ProblemError as exc:
                headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
                return error_response(
                    exc.status, exc.detail, None if exc.status == 401 else user, headers=headers
                )
            except FirecrestError as exc:
                chosen = exc.in_mode(is_reference(state))
                who = None if chosen.status == 401 else user
                return error_response(chosen.status, chosen.message, who, chosen.error_type, chosen.headers)
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
        raise FirecrestError(
            404, f"System '{name}' does not exist", reference=FirecrestError(404, "System not found")
        )
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
        real = FirecrestError(400, f"The provided path ({path}) is not an absolute path.")
        raise FirecrestError(400, f"Path '{path}' must be absolute", "validation", reference=real)
    return path


def sandbox_path(state: EmulatorState, raw: str, *, follow: bool = True) -> Path:
    """A client path resolved inside the sandbox (403 when it escapes)."""
    try:
        return state.sandbox.resolve(absolute(raw), follow=follow)
    except SandboxError as exc:
        raise FirecrestError(403, str(exc)) from exc

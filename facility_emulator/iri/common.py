"""Helpers shared by the IRI route modules: prefixes, URIs, query parsing, resource lookup."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from facility_emulator.facility import ResourceRecord
from facility_emulator.fidelity import REFERENCE
from facility_emulator.problems import ProblemError
from facility_emulator.state import EmulatorState

VERSIONS = ("v1", "v2")


def reference_mode(state: EmulatorState) -> bool:
    """Whether IRI answers as the reference server does (``fidelity iri=reference``)."""
    return state.fidelity("iri") == REFERENCE


def prefix(version: str) -> str:
    """URL prefix of an IRI API version."""
    return f"/iri/api/{version}"


def api_base(request: Request, version: str) -> str:
    """Absolute base URL of the API version, as seen by the client."""
    return f"{request.url.scheme}://{request.url.netloc}{prefix(version)}"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON response."""
    return JSONResponse(data, status_code=status, headers=headers)


def query_bool(request: Request, name: str, default: bool) -> bool:
    """A boolean query parameter (true/false/1/0/yes/no)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ProblemError(422, f"query parameter {name!r} must be a boolean, got {raw!r}")


def query_int(
    request: Request, name: str, default: int | None, minimum: int = 0, maximum: int | None = None
) -> int | None:
    """An integer query parameter with bounds."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ProblemError(422, f"query parameter {name!r} must be an integer, got {raw!r}") from exc
    if value < minimum or (maximum is not None and value > maximum):
        raise ProblemError(422, f"query parameter {name!r} is out of range: {value}")
    return value


def paginate(items: list[Any], request: Request) -> list[Any]:
    """Apply ``offset``/``limit`` (default 100, at most 1000)."""
    offset = query_int(request, "offset", 0) or 0
    limit = query_int(request, "limit", 100, minimum=1, maximum=1000) or 100
    return items[offset : offset + limit]


def page_or_not_found(state: EmulatorState, page: list[Any], what: str) -> list[Any]:
    """A list page; in reference mode an empty one is a 404 ``No <what> found``.

    The reference server's sites, incidents and events routes answer an empty result, whether
    nothing matched or ``offset`` is past the end, with that 404 instead of ``[]``.
    """
    if not page and reference_mode(state):
        raise ProblemError(404, f"No {what} found")
    return page


async def json_body(request: Request, *, allow_null: bool = False) -> Any:
    """Parse the request body as JSON (422 problem when it is not)."""
    raw = await request.body()
    if not raw.strip():
        if allow_null:
            return None
        raise ProblemError(422, "request body is required")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ProblemError(422, f"request body is not valid JSON: {exc}") from exc


def lookup_resource(state: EmulatorState, key: str) -> ResourceRecord:
    """A resource by id or name, or a 404 problem."""
    resource = state.facility.find(key)
    if resource is None:
        raise ProblemError(404, f"resource {key!r} not found")
    return resource

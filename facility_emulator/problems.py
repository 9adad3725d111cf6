"""RFC 9457 ``application/problem+json`` error responses.

Every flavour answers errors in this shape, so the helpers live outside any one API module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemError(Exception):
    """Raised by handlers to answer a problem+json error; turned into a response by the app."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def problem_body(status: int, detail: str, instance: str) -> dict[str, object]:
    """The problem document for ``status`` with a human readable ``detail``."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {"type": "about:blank", "status": status, "title": title, "detail": detail, "instance": instance}


def problem_response(
    status: int, detail: str, instance: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A complete problem+json response."""
    body = json.dumps(problem_body(status, detail, instance)).encode()
    return Response(body, status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=dict(headers or {}))


async def problem_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for :class:`ProblemError`."""
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.detail, str(request.url), exc.headers)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Render Starlette's own HTTP errors (404 for unknown routes, 405) as problem+json."""
    status = int(getattr(exc, "status_code", 500))
    detail = str(getattr(exc, "detail", "")) or HTTPStatus(status).phrase
    headers = getattr(exc, "headers", None)
    return problem_response(status, detail, str(request.url), headers)

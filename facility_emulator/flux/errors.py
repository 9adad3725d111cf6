"""Errors answered the way the Flux RESTful server (FastAPI) answers them: plain JSON, not
problem+json (``{"detail": ...}`` for HTTP errors, ``{"Message": ..., "Errors": [...]}`` for a
refused submit)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

Handler = Callable[[Request], Awaitable[Response]]


class FluxHTTPError(Exception):
    """Raised by handlers; becomes a JSON response with ``body`` (default ``{"detail": ...}``)."""

    def __init__(
        self,
        status: int,
        detail: Any,
        headers: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(str(detail))
        self.status = status
        self.body = dict(body) if body is not None else {"detail": detail}
        self.headers = dict(headers or {})


def validation_error(location: str, name: str, message: str, value: Any) -> FluxHTTPError:
    """FastAPI's 422 for a parameter that does not parse."""
    item = {"loc": [location, name], "msg": message, "type": "value_error", "input": value}
    return FluxHTTPError(422, [item])


def answers_errors(handler: Handler) -> Handler:
    """Turn :class:`FluxHTTPError` raised by ``handler`` into its JSON response."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except FluxHTTPError as exc:
            return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    return wrapped

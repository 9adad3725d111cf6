"""Transfer API errors and access checks: bearer tokens, the Transfer scope, ``data_access`` consents.

Errors take Transfer's shape, ``{"code", "message", "request_id", "resource"}`` (codes such as
``ClientError.NotFound``, ``EndpointNotFound``, ``AuthenticationFailed``,
``ClientError.BadRequest``), with the HTTP status Transfer uses. A token without the Transfer
scope is refused with 401 ``AuthenticationFailed``. Acting on a collection (submit, ls, mkdir)
needs its ``data_access`` consent as a dependent of the Transfer scope; without it the answer is
Transfer's ``ConsentRequired`` (403) with ``required_scopes``: the Transfer scope carrying the
``data_access`` scopes that were missing, which globus-sdk reads as ``err.info.consent_required``.
"""

from __future__ import annotations

import functools
import secrets
import string
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from facility_emulator.globus.collections import Collection, CollectionCatalog
from facility_emulator.globus.scopes import consented_collections, has_transfer_scope, transfer_scope_with
from facility_emulator.state import EmulatorState
from facility_emulator.tokens import IssuedToken

PREFIX = "/transfer"
VERSION = "/v0.10"

Handler = Callable[[Request], Awaitable[Response]]


class GlobusError(Exception):
    """An error answer of the Transfer API."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def request_id() -> str:
    """A short random id, as Transfer puts in every answer."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(9))


def resource_of(request: Request) -> str:
    """The path Transfer names as ``resource``: the request path below the emulator's prefix."""
    path = request.url.path
    return path[len(PREFIX) :] if path.startswith(PREFIX) else path


def error_response(error: GlobusError, resource: str) -> JSONResponse:
    body = {
        "code": error.code,
        "message": error.message,
        "request_id": request_id(),
        "resource": resource,
        **error.extra,
    }
    return JSONResponse(body, status_code=error.status)


def globus_route(handler: Handler) -> Handler:
    """Turn a :class:`GlobusError` raised by ``handler`` into Transfer's error answer."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except GlobusError as error:
            return error_response(error, resource_of(request))

    return wrapped


def not_found_task(task_id: str) -> GlobusError:
    return GlobusError(404, "ClientError.NotFound", f"No task found with id '{task_id}'")


def authorize(state: EmulatorState, request: Request) -> IssuedToken:
    """The caller's token; it must be live and carry the Transfer scope."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise GlobusError(401, "AuthenticationFailed", "No Authorization header provided")
    if scheme.lower() != "bearer" or not token.strip():
        raise GlobusError(401, "AuthenticationFailed", "Authorization header must use the Bearer scheme")
    issued = state.tokens.lookup(token.strip())
    if issued is None:
        raise GlobusError(401, "AuthenticationFailed", "Token is not active")
    if not has_transfer_scope(issued.scope):
        raise GlobusError(
            401, "AuthenticationFailed", "Token is not valid for the transfer.api.globus.org resource server"
        )
    return issued


def require_consent(token: IssuedToken, collections: Iterable[Collection]) -> None:
    """Refuse with ``ConsentRequired`` unless the token carries each collection's data_access."""
    consented = consented_collections(token.scope)
    missing: list[Collection] = []
    for collection in collections:
        if collection.id.lower() not in consented and collection not in missing:
            missing.append(collection)
    if missing:
        names = ", ".join(f"{c.display_name} ({c.id})" for c in missing)
        raise GlobusError(
            403,
            "ConsentRequired",
            f"Missing required data_access consent for {names}",
            required_scopes=[transfer_scope_with([c.id for c in missing])],
        )


def lookup_collection(catalog: CollectionCatalog, collection_id: str) -> Collection:
    """A collection by id; Transfer's ``EndpointNotFound`` (404) when unknown."""
    collection = catalog.get(collection_id)
    if collection is None:
        raise GlobusError(404, "EndpointNotFound", f"No such endpoint '{collection_id}'")
    return collection

"""Token endpoints shared by all flavours.

* ``POST /auth/token`` -- OIDC client credentials (id/secret by HTTP Basic or form fields).
* ``POST /globus/v2/oauth2/token`` -- Globus-Auth compatible: ``client_credentials`` for the
  confidential client (HTTP Basic or form) and ``refresh_token`` for the native client. The
  Transfer scope (with dependent ``data_access`` scopes, see :mod:`facility_emulator.globus.scopes`)
  gets its own token for resource server ``transfer.api.globus.org``: the only token when it is
  all that was asked, else in ``other_tokens``; other scopes are issued as before.
* ``POST /globus/v2/oauth2/token/introspect`` -- Globus-style token introspection.

OAuth errors use the RFC 6749 ``{"error", "error_description"}`` shape, as real token servers do.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.globus.scopes import (
    TRANSFER_RESOURCE_SERVER,
    has_transfer_scope,
    split_transfer,
    top_level,
)
from facility_emulator.state import EmulatorState
from facility_emulator.tokens import IssuedToken

GLOBUS_RESOURCE_SERVER = "facility-emulator-iri"
GLOBUS_SCOPE = "https://auth.globus.org/scopes/facility-emulator-iri/iri_api"


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="token"'} if status == 401 else None
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _basic(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None, None
    try:
        decoded = base64.b64decode(value.strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


async def _form(request: Request) -> dict[str, str]:
    try:
        form = await request.form()
    except Exception:  # malformed bodies are a client error, answered below
        return {}
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _globus_token(
    issued: IssuedToken, resource_server: str, scope: str, refresh: str | None
) -> dict[str, Any]:
    """One token of a Globus token answer (the top level, or an entry of ``other_tokens``)."""
    return {
        "access_token": issued.token,
        "expires_in": int(issued.advertised_lifetime),
        "resource_server": resource_server,
        "token_type": "Bearer",
        "scope": scope,
        "refresh_token": refresh,
        "other_tokens": [],
    }


class AuthRoutes:
    """The token endpoints."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/auth/token", self.oidc_token, methods=["POST"]),
            Route("/globus/v2/oauth2/token", self.globus_token, methods=["POST"]),
            Route("/globus/v2/oauth2/token/introspect", self.globus_introspect, methods=["POST"]),
        ]

    async def _client(self, request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
        client_id, secret = _basic(request)
        if client_id is None:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        return client_id, secret

    async def oidc_token(self, request: Request) -> Response:
        form = await _form(request)
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
        client_id, secret = await self._client(request, form)
        if not self.state.tokens.check_client(client_id, secret):
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
        assert client_id is not None
        issued = self.state.tokens.issue(client_id, form.get("scope", ""))
        return JSONResponse(
            {
                "access_token": issued.token,
                "token_type": "Bearer",
                "expires_in": int(issued.advertised_lifetime),
                "scope": issued.scope,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def globus_token(self, request: Request) -> Response:
        form = await _form(request)
        grant = form.get("grant_type")
        tokens = self.state.tokens
        refresh: str | None = None
        if grant == "client_credentials":
            client_id, secret = await self._client(request, form)
            if not tokens.check_client(client_id, secret):
                return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
        elif grant == "refresh_token":
            client_id, _ = _basic(request)
            client_id = client_id or form.get("client_id")
            refresh = form.get("refresh_token")
            if not tokens.check_refresh(client_id, refresh):
                return _oauth_error(400, "invalid_grant", "refresh token is invalid for this client")
        else:
            return _oauth_error(400, "unsupported_grant_type", "use client_credentials or refresh_token")
        assert client_id is not None
        requested = form.get("scope") or GLOBUS_SCOPE
        split = split_transfer(requested)
        if split is None:
            issued = tokens.issue(client_id, requested)
            body = _globus_token(issued, GLOBUS_RESOURCE_SERVER, issued.scope, refresh)
        else:
            transfer_scopes, others = split
            transfer = tokens.issue(client_id, transfer_scopes)
            entry = _globus_token(transfer, TRANSFER_RESOURCE_SERVER, top_level(transfer_scopes), refresh)
            if others:
                issued = tokens.issue(client_id, others)
                body = _globus_token(issued, GLOBUS_RESOURCE_SERVER, issued.scope, refresh)
                body["other_tokens"] = [entry]
            else:
                body = entry
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def globus_introspect(self, request: Request) -> Response:
        form = await _form(request)
        client_id, secret = await self._client(request, form)
        if not self.state.tokens.check_client(client_id, secret):
            return _oauth_error(401, "invalid_client", "introspection needs the confidential client")
        issued = self.state.tokens.lookup(form.get("token", ""))
        if issued is None:
            return JSONResponse({"active": False})
        expires = issued.expires_at if issued.expires_at != float("inf") else time.time() + 10 * 365 * 86400
        return JSONResponse(
            {
                "active": True,
                "scope": top_level(issued.scope),
                "client_id": issued.client_id,
                "username": self.state.config.user,
                "token_type": "Bearer",
                "exp": int(expires),
                "iat": int(issued.issued_at),
                "aud": [
                    TRANSFER_RESOURCE_SERVER if has_transfer_scope(issued.scope) else GLOBUS_RESOURCE_SERVER
                ],
            }
        )

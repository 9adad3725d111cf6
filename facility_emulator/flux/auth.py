"""The auth backends of the emulated Flux RESTful server (``FLUX_AUTH_BACKEND``).

* ``none``: every request passes.
* ``basic``: HTTP Basic with the Flux user and token, as legacy ``FLUX_REQUIRE_AUTH`` servers
  ask; a refusal is 401 with ``WWW-Authenticate: Basic``.
* ``shared-secret``: bearer access tokens, obtained by the handshake at ``/v1/token`` (a JWT
  ``{user, pass, scope: "token"}`` signed with the shared ``FLUX_SECRET_KEY``) or the login form;
  a refusal is 401 with ``WWW-Authenticate: Bearer``. Bad handshake credentials are 400.
* ``database``: bearer access tokens from the login form only.

Access tokens are HS256 JWTs ``{sub, backend, epoch, iat, exp}`` signed with a key only the
server knows. ``epoch`` lets the admin switch revoke every token at once.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request

from facility_emulator.flux import jwt
from facility_emulator.flux.errors import FluxHTTPError
from facility_emulator.flux.instance import FluxInstance

TOKEN_BACKENDS = frozenset({"shared-secret", "database"})


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class FluxAuthenticator:
    """Checks requests and issues tokens for one instance."""

    def __init__(self, instance: FluxInstance, token_lifetime: float) -> None:
        self.instance = instance
        self.token_lifetime = token_lifetime

    def info(self) -> dict[str, Any]:
        """The public ``GET /v1/auth`` document."""
        backend = self.instance.auth_backend
        return {
            "backend": backend,
            "password_login": backend in TOKEN_BACKENDS,
            "shared_secret_handshake": backend == "shared-secret",
        }

    def _valid_user(self, user: Any, password: Any) -> bool:
        creds = self.instance.credentials
        return (
            isinstance(user, str)
            and isinstance(password, str)
            and _same(user, creds.user)
            and _same(password, creds.token)
        )

    def check(self, request: Request) -> str:
        """The authenticated user name, or a 401."""
        backend = self.instance.auth_backend
        if backend == "none":
            return self.instance.credentials.user
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if backend == "basic":
            if scheme.lower() == "basic":
                try:
                    user, _, password = base64.b64decode(value.strip()).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    user, password = "", ""
                if self._valid_user(user, password):
                    return user
            raise FluxHTTPError(401, "Incorrect user or token.", {"WWW-Authenticate": "Basic"})
        if scheme.lower() != "bearer" or not value.strip():
            raise FluxHTTPError(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
        creds = self.instance.credentials
        try:
            claims = jwt.verify(value.strip(), creds.signing_key)
        except jwt.TokenError:
            claims = {}
        exp = claims.get("exp")
        if (
            claims.get("backend") != backend
            or claims.get("epoch") != self.instance.token_epoch
            or not isinstance(exp, int | float)
            or exp <= time.time()
            or claims.get("sub") != creds.user
        ):
            raise FluxHTTPError(401, "Could not validate credentials", {"WWW-Authenticate": "Bearer"})
        return creds.user

    def _issue(self, user: str) -> dict[str, str]:
        now = time.time()
        claims = {
            "sub": user,
            "backend": self.instance.auth_backend,
            "epoch": self.instance.token_epoch,
            "iat": int(now),
            "exp": math.ceil(now + self.token_lifetime),
        }
        token = jwt.sign(claims, self.instance.credentials.signing_key)
        return {"access_token": token, "token_type": "Bearer"}

    def handshake(self, request: Request) -> dict[str, str]:
        """``POST /v1/token``: a shared-secret JWT in, an access token out (400 when refused)."""
        if self.instance.auth_backend != "shared-secret":
            raise FluxHTTPError(400, "The shared-secret token handshake is not enabled on this server.")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise FluxHTTPError(400, "Authentication header invalid")
        try:
            claims = jwt.verify(value.strip(), self.instance.credentials.secret_key)
        except jwt.TokenError:
            raise FluxHTTPError(400, "Incorrect user or token.") from None
        if claims.get("scope") != "token" or not self._valid_user(claims.get("user"), claims.get("pass")):
            raise FluxHTTPError(400, "Incorrect user or token.")
        return self._issue(str(claims["user"]))

    async def login(self, request: Request) -> dict[str, str]:
        """``POST /v1/login/access-token``: the OAuth2 password form."""
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        user = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        if not user or not password:
            raise FluxHTTPError(
                422,
                [{"loc": ["body", "username"], "msg": "Field required", "type": "missing", "input": None}],
            )
        if self.instance.auth_backend not in TOKEN_BACKENDS:
            raise FluxHTTPError(400, "Password login is not enabled on this server.")
        if not self._valid_user(user, password):
            raise FluxHTTPError(400, "Incorrect username or password")
        return self._issue(user)

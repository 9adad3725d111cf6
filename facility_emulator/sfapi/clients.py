"""SF API clients and their token endpoint: client credentials with a private-key JWT assertion.

NERSC's Iris creates an "SF API client": an id and a key pair whose private half the user
downloads; the public half stays registered with the OIDC server. A token request carries a JWT
signed with the private key (RFC 7523, ``client_assertion``); the server checks its signature with
the registered public key, its ``iss``/``sub`` (the client id), ``aud`` (the token URL) and ``exp``.
Red clients expire after 48 hours, so the emulator registers one expired client beside the live
one to show that refusal. Tokens come from the emulator's shared :class:`TokenAuthority`.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import threading
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from facility_emulator.state import EmulatorState

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ID_ALPHABET = string.ascii_lowercase + string.digits
#: Largest clock skew accepted on ``iat``/``exp``, in seconds.
LEEWAY = 60


def _client_id() -> str:
    """A 13-character id, the length Iris gives (``sfapi_client`` checks it)."""
    return "".join(secrets.choice(CLIENT_ID_ALPHABET) for _ in range(13))


@dataclass
class RegisteredClient:
    """One SF API client: its id, its key pair and when it expires (epoch seconds)."""

    client_id: str
    key: RSAKey
    expires_at: float

    @property
    def private_pem(self) -> str:
        return self.key.as_pem(private=True).decode("ascii")

    @property
    def public_key(self) -> RSAKey:
        return RSAKey.import_key(self.key.as_pem(private=False))


class ClientRegistry:
    """The clients one emulator accepts: a live red client and an expired one."""

    def __init__(self, lifetime: float = 48 * 3600.0) -> None:
        now = time.time()
        self._lock = threading.Lock()
        self.live = RegisteredClient(_client_id(), RSAKey.generate_key(2048), now + lifetime)
        self.expired = RegisteredClient(_client_id(), RSAKey.generate_key(2048), now - 3600.0)
        self._clients = {c.client_id: c for c in (self.live, self.expired)}
        self._seen_jti: dict[str, float] = {}

    def get(self, client_id: str) -> RegisteredClient | None:
        with self._lock:
            return self._clients.get(client_id)

    def remember_jti(self, jti: str, until: float) -> bool:
        """False when the assertion id was used before (a replayed assertion)."""
        now = time.time()
        with self._lock:
            for old in [k for k, v in self._seen_jti.items() if v < now]:
                del self._seen_jti[old]
            if jti in self._seen_jti:
                return False
            self._seen_jti[jti] = until
            return True


def _refuse(error: str, description: str, status: int = 401) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


class TokenEndpoint:
    """``POST /sfapi/oidc/token``: the client-credentials grant with ``private_key_jwt``."""

    def __init__(self, state: EmulatorState, registry: ClientRegistry) -> None:
        self.state = state
        self.registry = registry

    async def handle(self, request: Request) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if fields.get("grant_type") != "client_credentials":
            return _refuse("unsupported_grant_type", "only client_credentials is supported", 400)
        if fields.get("client_assertion_type") != ASSERTION_TYPE or not fields.get("client_assertion"):
            return _refuse("invalid_client", "a private_key_jwt client assertion is required")
        assertion = fields["client_assertion"]
        claimed = fields.get("client_id") or self._unverified_issuer(assertion)
        client = self.registry.get(claimed) if claimed else None
        if client is None:
            return _refuse("invalid_client", "unknown client")
        try:
            token = jwt.decode(assertion, client.public_key, algorithms=["RS256", "RS384", "RS512"])
        except (JoseError, ValueError):
            return _refuse("invalid_client", "the client assertion's signature does not verify")
        problem = self._check_claims(token.claims, client.client_id, str(request.url))
        if problem:
            return _refuse("invalid_client", problem)
        if client.expires_at <= time.time():
            return _refuse("invalid_client", f"client {client.client_id} has expired")
        issued = self.state.tokens.issue(client.client_id, fields.get("scope", ""))
        return JSONResponse(
            {
                "access_token": issued.token,
                "token_type": "Bearer",
                "expires_in": int(issued.advertised_lifetime),
                "scope": issued.scope,
            },
            headers={"Cache-Control": "no-store"},
        )

    @staticmethod
    def _unverified_issuer(assertion: str) -> str | None:
        """The ``iss`` claim read without verification, only to pick the key to verify with."""
        try:
            payload = assertion.split(".")[1]
            data: Any = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            return None
        issuer = data.get("iss") if isinstance(data, dict) else None
        return issuer if isinstance(issuer, str) else None

    def _check_claims(self, claims: dict[str, Any], client_id: str, url: str) -> str | None:
        now = time.time()
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return "the assertion's iss and sub must be the client id"
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if url.split("?")[0] not in audiences:
            return "the assertion's aud must be the token endpoint URL"
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp + LEEWAY < now:
            return "the assertion has expired"
        iat = claims.get("iat")
        if isinstance(iat, int | float) and iat - LEEWAY > now:
            return "the assertion was issued in the future"
        jti = claims.get("jti")
        if isinstance(jti, str) and not self.registry.remember_jti(f"{client_id}:{jti}", float(exp) + LEEWAY):
            return "the assertion was already used"
        return None

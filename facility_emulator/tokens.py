"""Token authority: issues and checks opaque bearer tokens.

Tokens are random strings with an expiry kept in memory. The authority also owns the
per-emulator client credentials (confidential client id/secret, a native-app client id with a
refresh token, and one long-lived static token) so every flavour authenticates against the same
identities. They are random unless the configuration fixes them (``EmulatorConfig
.credentials_file``), and issued tokens may carry a recognisable prefix (``token_prefix``), so a
test can search another process's output for every credential it handed out. Early token expiry (a fault) shortens the real lifetime while the advertised
``expires_in`` stays unchanged.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facility_emulator.config import EmulatorConfig


@dataclass
class IssuedToken:
    """An access token and what it was issued for."""

    token: str
    client_id: str
    scope: str
    issued_at: float
    expires_at: float
    advertised_lifetime: float


@dataclass(frozen=True)
class ClientCredentials:
    """The identities an emulator accepts."""

    client_id: str
    client_secret: str
    native_client_id: str
    refresh_token: str
    static_token: str

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, native_client_id={self.native_client_id!r})"

    @classmethod
    def generate(cls, fixed: Mapping[str, str] | None = None) -> ClientCredentials:
        """Random identities, except those ``fixed`` names (other keys are ignored)."""
        chosen = dict(fixed or {})
        random = {
            "client_id": str(uuid.uuid4()),
            "client_secret": secrets.token_urlsafe(24),
            "native_client_id": str(uuid.uuid4()),
            "refresh_token": secrets.token_urlsafe(32),
            "static_token": secrets.token_urlsafe(32),
        }
        return cls(**{f.name: chosen.get(f.name) or random[f.name] for f in fields(cls)})


class TokenAuthority:
    """Issues tokens for known clients and validates bearer tokens."""

    def __init__(
        self,
        lifetime: float,
        expiry_fraction: Callable[[], float] = lambda: 1.0,
        clock: Callable[[], float] = time.time,
        credentials: ClientCredentials | None = None,
        token_prefix: str = "",
    ) -> None:
        self.lifetime = lifetime
        self.token_prefix = token_prefix
        self._expiry_fraction = expiry_fraction
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedToken] = {}
        self.credentials = credentials or ClientCredentials.generate()
        self.issued_count = 0

    def configure(self, config: EmulatorConfig) -> None:
        """Take the fixed identities and the token prefix of ``config``.

        Call before clients connect: tokens issued earlier keep working, but the identities
        change.
        """
        fixed = config.fixed_credentials()
        self.credentials = ClientCredentials.generate(fixed)
        self.token_prefix = fixed.get("token_prefix", config.token_prefix)

    def check_client(self, client_id: str | None, client_secret: str | None) -> bool:
        """Whether a confidential client's id and secret are right."""
        creds = self.credentials
        return (
            client_id is not None
            and client_secret is not None
            and secrets.compare_digest(client_id, creds.client_id)
            and secrets.compare_digest(client_secret, creds.client_secret)
        )

    def check_refresh(self, client_id: str | None, refresh_token: str | None) -> bool:
        """Whether a native client's refresh token is right."""
        creds = self.credentials
        return (
            client_id is not None
            and refresh_token is not None
            and secrets.compare_digest(client_id, creds.native_client_id)
            and secrets.compare_digest(refresh_token, creds.refresh_token)
        )

    def issue(self, client_id: str, scope: str = "") -> IssuedToken:
        """Issue a new access token for ``client_id``."""
        now = self._clock()
        fraction = max(0.0, min(1.0, self._expiry_fraction()))
        issued = IssuedToken(
            token=self.token_prefix + secrets.token_urlsafe(32),
            client_id=client_id,
            scope=scope,
            issued_at=now,
            expires_at=now + self.lifetime * fraction,
            advertised_lifetime=self.lifetime,
        )
        with self._lock:
            self._purge(now)
            self._tokens[issued.token] = issued
            self.issued_count += 1
        return issued

    def lookup(self, token: str) -> IssuedToken | None:
        """The live token record for ``token``, or None when unknown or expired."""
        if secrets.compare_digest(token, self.credentials.static_token):
            return IssuedToken(token, "static", "", 0.0, float("inf"), float("inf"))
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None or issued.expires_at <= self._clock():
            return None
        return issued

    def validate(self, authorization: str | None) -> tuple[bool, str]:
        """Check an ``Authorization`` header value; returns (ok, reason when not ok)."""
        if not authorization:
            return False, "missing bearer token"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False, "authorization scheme must be Bearer"
        if self.lookup(token.strip()) is None:
            return False, "invalid or expired token"
        return True, ""

    def revoke_all(self) -> None:
        """Forget all issued tokens (the static token stays valid)."""
        with self._lock:
            self._tokens.clear()

    def _purge(self, now: float) -> None:
        """Drop long-expired tokens so the table does not grow without bound."""
        if len(self._tokens) < 1000:
            return
        for key in [k for k, v in self._tokens.items() if v.expires_at <= now]:
            del self._tokens[key]

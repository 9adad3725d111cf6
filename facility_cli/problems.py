"""Turn the client layer's errors into one clear sentence and an exit code.

Exit codes are part of the command's interface (scripts test them); the table is in
``docs/troubleshooting.md``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from facility_common import (
    AuthenticationError,
    ConfigurationError,
    FacilityError,
    InvalidJobSpec,
    JobSubmissionError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnsupportedOperation,
    WaitTimeout,
)

__all__ = ["EXIT", "Problem", "diagnose", "jwt_claims", "jwt_expiry", "token_expired"]


class EXIT:
    """Exit codes of the ``facility`` command."""

    OK = 0
    ERROR = 1
    CONFIG = 2
    UNREACHABLE = 3
    BAD_CREDENTIALS = 4
    EXPIRED = 5
    RESOURCE_DOWN = 6
    NOT_FOUND = 7
    JOB_FAILED = 8
    TIMEOUT = 9
    ALLOCATION_LOW = 10


class Problem(NamedTuple):
    """What went wrong, in words for a person, and the exit code that says it to a script."""

    code: int
    title: str
    detail: str
    hint: str


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT (read, not verified), or None for an opaque token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT access token (read, not verified), or None for opaque tokens."""
    exp = (jwt_claims(token) or {}).get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def token_expired(token: str | None) -> bool:
    """True when ``token`` is a JWT whose expiry has passed."""
    exp = jwt_expiry(token) if token else None
    return exp is not None and exp <= time.time()


def _says_expired(text: str) -> bool:
    lowered = text.lower()
    return "expired" in lowered and "invalid or expired" not in lowered


def diagnose(error: FacilityError, *, base_url: str | None = None, token: str | None = None) -> Problem:
    """The problem ``error`` stands for. ``token`` (a static token, if known) helps tell an
    expired token from a wrong one; it is only inspected, never shown."""
    detail = str(error)
    host = urlsplit(base_url).netloc if base_url else "the facility"
    if isinstance(error, ConfigurationError):
        return Problem(EXIT.CONFIG, "configuration error", detail, "fix the connection settings")
    if isinstance(error, TransportError):
        return Problem(
            EXIT.UNREACHABLE,
            f"host unreachable: no answer from {host}",
            detail,
            "check the URL, your network, VPN or proxy, and whether the service is up",
        )
    if isinstance(error, AuthenticationError):
        if token_expired(token) or _says_expired(detail):
            return Problem(
                EXIT.EXPIRED,
                "expired credentials: the token or API client has expired",
                detail,
                "get a new token or create a new API client at the facility",
            )
        if error.status_code == 403:
            return Problem(
                EXIT.BAD_CREDENTIALS,
                "permission denied: the credentials lack the scope, project or role needed",
                detail,
                "ask for the right scope or project, or use a client that has them",
            )
        if "token request" in detail:
            return Problem(
                EXIT.BAD_CREDENTIALS,
                "bad credentials: the token endpoint refused the client",
                detail,
                "check the client id and secret (or key) and the token URL",
            )
        return Problem(
            EXIT.BAD_CREDENTIALS,
            "bad credentials: the facility refused the token (wrong, revoked or expired)",
            detail,
            "get a fresh token and check that it is for this facility",
        )
    if isinstance(error, NotFoundError):
        return Problem(EXIT.NOT_FOUND, "not found", detail, "check the name, id or path")
    if isinstance(error, WaitTimeout):
        return Problem(EXIT.TIMEOUT, "timed out", detail, "wait longer (--timeout) or check the job")
    if isinstance(error, RateLimitedError):
        return Problem(EXIT.ERROR, "rate limited by the facility", detail, "try again later")
    if isinstance(error, ServerError):
        return Problem(EXIT.ERROR, "the facility's server failed", detail, "try again later")
    if isinstance(error, UnsupportedOperation):
        return Problem(EXIT.ERROR, "not supported by this API", detail, "see the facility's page in docs/")
    if isinstance(error, InvalidJobSpec | JobSubmissionError):
        return Problem(EXIT.ERROR, "job refused", detail, "fix the job description")
    return Problem(EXIT.ERROR, "facility error", detail, "see docs/troubleshooting.md")

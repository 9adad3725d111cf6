"""HS256 JSON Web Tokens, the only kind the Flux RESTful server signs and reads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


class TokenError(ValueError):
    """The token is malformed, not HS256 or signed with another key."""


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise TokenError("bad base64url") from exc


def sign(claims: dict[str, Any], key: str) -> str:
    """A compact HS256 JWT of ``claims``."""
    head = _encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _encode(json.dumps(claims).encode())
    mac = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_encode(mac)}"


def verify(token: str, key: str) -> dict[str, Any]:
    """The claims of ``token`` after checking its HS256 signature (not its expiry)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a compact JWT")
    head, body, mac = parts
    try:
        header = json.loads(_decode(head))
        claims = json.loads(_decode(body))
    except ValueError as exc:
        raise TokenError("bad JSON in token") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        raise TokenError("only HS256 tokens are accepted")
    expected = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _decode(mac)):
        raise TokenError("bad signature")
    return claims

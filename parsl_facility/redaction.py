"""Masks for values that may hold credentials, used by the provider's ``repr``.

HighThroughputExecutor logs ``repr(provider)`` into ``parsl.log`` and Parsl prints configs in
error reports, so a provider must never show its token or client secret there. The provider keeps
the real values under their own names (Parsl's ``RepresentationMixin`` contract) and shows masked
copies of them only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "is_secret_key", "redact"]

MASK = "***"

_SECRET_WORDS = ("secret", "password", "passphrase", "private", "assertion", "credential")
_SECRET_NAMES = frozenset({"token", "api_key", "apikey", "key", "authorization", "cookie"})


def is_secret_key(key: object) -> bool:
    """True when a mapping key names something that must not be shown (``client_secret``,
    ``token``, ``refresh_token``, ``password``...), false for ``token_url`` and the like."""
    name = str(key).lower()
    if name in _SECRET_NAMES or name.endswith(("_token", "_key", "-token", "-key")):
        return True
    return any(word in name for word in _SECRET_WORDS)


class Masked:
    """A stand-in whose ``repr`` is a fixed, harmless text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def redact(value: Any) -> Any:
    """A copy of ``value`` safe to print.

    Strings are treated as tokens and masked; mappings keep their keys and non-secret values;
    other objects (token sources, ``httpx.Auth``) are shown by type name only.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return MASK if value else value
    if isinstance(value, Mapping):
        return {
            key: MASK if is_secret_key(key) and item else _redact_item(item) for key, item in value.items()
        }
    return Masked(f"<{type(value).__name__}>")


def _redact_item(item: Any) -> Any:
    """Inside a mapping, plain strings under harmless keys (``type``, ``token_url``) stay."""
    if item is None or isinstance(item, str | bool | int | float):
        return item
    return redact(item)

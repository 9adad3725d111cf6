"""``Secret``: a string that never shows itself."""

from __future__ import annotations

import hmac

__all__ = ["Secret"]


class Secret:
    """A string that never shows itself in ``repr``, ``str``, f-strings or log arguments.

    Tokens, refresh tokens, client secrets and keys live in this wrapper from the moment they enter
    the package; only :meth:`get_secret_value` returns the text, and only where it goes on the wire.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def get_secret_value(self) -> str:
        """The wrapped text; call it only to put the secret on the wire."""
        return self._value

    def matches(self, other: str) -> bool:
        """Compare with ``other`` in constant time."""
        return hmac.compare_digest(self._value.encode(), other.encode())

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self.matches(other._value)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

"""Say on stderr when the client retries, so a busy facility does not look like a hung command.

The client layer's :class:`~facility_common.RetryPolicy` decides every pause between tries
and tells :meth:`~facility_common.RetryPolicy.pausing` why before each pause; :class:`AnnouncedRetry`
is that policy, unchanged, which also reports each pause. The command gives it to every client it builds, wrapping the
connection's own policy when it sets one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from facility_common import RetryPolicy

__all__ = ["AnnouncedRetry", "announced", "retry_notice"]

Announce = Callable[[str], None]


def retry_notice(
    retry_number: int, attempts: int, seconds: float, retry_after: float | None, reason: str = ""
) -> str:
    """The line printed before a pause: what the facility did, how long, how many tries are left."""
    why = f"the facility {reason}" if reason else "no usable answer from the facility"
    if retry_after is not None:
        why += f" and asked to wait {seconds:.0f} s (Retry-After)"
    return f"{why}; retrying in {seconds:.1f} s (try {retry_number + 1} of {attempts})"


@dataclasses.dataclass(frozen=True)
class AnnouncedRetry(RetryPolicy):
    """A :class:`RetryPolicy` that reports each pause through ``announce``."""

    announce: Announce | None = dataclasses.field(default=None, compare=False, repr=False)

    def pausing(self, retry_number: int, seconds: float, reason: str, retry_after: float | None) -> None:
        if self.announce is not None:
            self.announce(retry_notice(retry_number, self.attempts, seconds, retry_after, reason))


def announced(policy: Any, announce: Announce) -> AnnouncedRetry | Any:
    """``policy`` (a RetryPolicy, a mapping of its fields, or None for the default) made to
    announce its pauses. Anything else is returned as is, for the client to refuse by name."""
    if policy is None:
        policy = RetryPolicy()
    elif isinstance(policy, Mapping):
        try:
            policy = RetryPolicy(**policy)
        except TypeError:
            return policy
    if not isinstance(policy, RetryPolicy):
        return policy
    fields = {field.name: getattr(policy, field.name) for field in dataclasses.fields(RetryPolicy)}
    return AnnouncedRetry(**fields, announce=announce)

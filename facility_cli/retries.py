"""Say on stderr when the client retries, so a busy facility does not look like a hung command.

The client layer's :class:`~facility_common.RetryPolicy` decides every pause between tries
through :meth:`~facility_common.RetryPolicy.delay`; :class:`AnnouncedRetry` is that policy, unchanged,
which also reports each pause. The command gives it to every client it builds, wrapping the
connection's own policy when it sets one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from facility_common import RetryPolicy

__all__ = ["AnnouncedRetry", "announced", "retry_notice"]

Announce = Callable[[str], None]


def retry_notice(retry_number: int, attempts: int, seconds: float, retry_after: float | None) -> str:
    """The line printed before a pause: why, how long, and how many tries are left."""
    why = (
        f"the facility asked to wait {seconds:.0f} s (Retry-After)"
        if retry_after is not None
        else "no usable answer from the facility"
    )
    return f"{why}; retrying in {seconds:.1f} s (try {retry_number + 1} of {attempts})"


@dataclasses.dataclass(frozen=True)
class AnnouncedRetry(RetryPolicy):
    """A :class:`RetryPolicy` that reports each pause through ``announce``."""

    announce: Announce | None = dataclasses.field(default=None, compare=False, repr=False)

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        seconds = super().delay(retry_number, retry_after)
        if self.announce is not None:
            self.announce(retry_notice(retry_number, self.attempts, seconds, retry_after))
        return seconds


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

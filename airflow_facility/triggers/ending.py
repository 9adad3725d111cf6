"""What the job and transfer triggers share: a wait on something remote that ends.

Both wait through a shared poller, may start their first look later (the operator has just
looked), and end the same way: with ``finish_on_success`` a success ends the task in the triggerer
(``TaskSuccessEvent``, the thing as the return value unless ``push_return_value`` is off); any
other end resumes the task with ``{"status": "terminal", <key>: ...}``; ``deadline`` passed,
with ``{"status": "timeout", <key>: ..., "message"}``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, ClassVar, cast

from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from ..payloads import event
from .serialized import SerializedTrigger

if TYPE_CHECKING:
    from pydantic import JsonValue

__all__ = ["EndingTrigger"]


class EndingTrigger(SerializedTrigger):
    """A trigger waiting for a remote job or transfer to end (see the module)."""

    ending_fields: ClassVar[tuple[str, ...]] = (
        "poll_interval",
        "deadline",
        "cancel_on_kill",
        "first_poll_at",
        "finish_on_success",
        "push_return_value",
    )
    """The stored arguments every such trigger takes, after its own."""

    def _set_ending(
        self,
        poll_interval: float,
        deadline: float | None,
        cancel_on_kill: bool,
        first_poll_at: float | None,
        finish_on_success: bool,
        push_return_value: bool,
    ) -> None:
        """Keep the wait's settings as primitives, checked now: a bad value must fail in the
        worker that defers, not later in the triggerer where nobody reads the traceback."""
        if float(poll_interval) <= 0:
            raise ValueError("poll_interval: must be positive")
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline) if deadline is not None else None
        self.cancel_on_kill = bool(cancel_on_kill)
        self.first_poll_at = float(first_poll_at) if first_poll_at is not None else None
        self.finish_on_success = bool(finish_on_success)
        self.push_return_value = bool(push_return_value)

    async def _until_first_poll(self) -> None:
        """Sleep until ``first_poll_at``; at once when it is past (after a triggerer restart)."""
        if self.first_poll_at is not None and self.first_poll_at > time.time():
            await asyncio.sleep(self.first_poll_at - time.time())

    def _ending(
        self, key: str, payload: dict[str, Any], *, succeeded: bool, terminal: bool, still: str
    ) -> TriggerEvent | None:
        """The event that ends the wait now, or None to look again: ``succeeded`` and
        ``terminal`` say how the thing stands, ``still`` names it for the deadline's message."""
        if succeeded and self.finish_on_success:
            result = cast("JsonValue", payload)
            return TaskSuccessEvent(xcoms={"return_value": result} if self.push_return_value else None)
        if terminal:
            return event({"status": "terminal", key: payload})
        if self.deadline is not None and time.time() >= self.deadline:
            return event({"status": "timeout", key: payload, "message": f"{still} at the deadline"})
        return None

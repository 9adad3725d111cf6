"""``FacilityTransferTrigger``: wait in the triggerer until a transfer ends.

Every trigger of the same connections on the triggerer's event loop uses one
:class:`~facility_common.transfers.AsyncTransferClient`
(:func:`~airflow_facility.hooks.transfer.shared_transfer_client`) and polls through its route's
shared :class:`~facility_common.transfers.TransferPoller` with ``max_age`` equal to its interval:
a thousand deferred transfers on the Globus route cost one ``task_list`` request per interval.

With ``finish_on_success`` a SUCCEEDED transfer ends the task here (``TaskSuccessEvent`` with the
transfer as the return value), as the job trigger does; any other end resumes the task. On
``on_kill`` (a user marked the deferred task failed, or cleared it) the transfer is cancelled,
unless the task was marked success; a triggerer restart cancels nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow.triggers.base import TriggerEvent

from facility_common import FacilityError
from facility_common.transfers import TransferState, TransferTask

from ..hooks.transfer import shared_transfer_client
from ..payloads import event
from .ending import EndingTrigger
from .killed import deferred_task_state, keep_on_kill_work

__all__ = ["FacilityTransferTrigger", "transfer_payload"]


def transfer_payload(task: TransferTask) -> dict[str, Any]:
    """A transfer as plain JSON for XCom and events, without the route's raw document."""
    data = task.to_dict()
    data.pop("raw", None)
    return data


class FacilityTransferTrigger(EndingTrigger):
    """Yield one event when the transfer ends, when ``deadline`` passes, or on an error.

    Payloads: ``{"status": "terminal", "transfer": {...}}``, ``{"status": "timeout", "transfer",
    "message"}``, ``{"status": "error", "message"}``.

    :param task_id: the transfer's id.
    :param globus_conn_id: the Globus connection (the Globus route), or None with ``route``.
    :param route: None for the Globus route, else the facility connection whose own Globus
        routes started the transfer.
    :param poll_interval: seconds between status rounds (shared by all waits on the route).
    :param deadline: a UNIX time after which the wait gives up with a ``timeout`` event.
    :param cancel_on_kill: cancel the transfer when a user marks the task failed or clears it.
    :param first_poll_at: a UNIX time before which the trigger does not ask (the operator has).
    :param finish_on_success: end the task here when the transfer SUCCEEDED.
    :param push_return_value: with ``finish_on_success``, push the transfer as the return value.
    """

    serialized_fields: ClassVar[tuple[str, ...]] = (
        "task_id",
        "globus_conn_id",
        "route",
        *EndingTrigger.ending_fields,
    )

    def __init__(
        self,
        task_id: str,
        globus_conn_id: str | None = None,
        route: str | None = None,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        cancel_on_kill: bool = True,
        first_poll_at: float | None = None,
        finish_on_success: bool = False,
        push_return_value: bool = True,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("task_id: a transfer id is required")
        if not globus_conn_id and not route:
            raise ValueError("globus_conn_id or route: one is required")
        self._set_ending(
            poll_interval, deadline, cancel_on_kill, first_poll_at, finish_on_success, push_return_value
        )
        self.task_id = task_id
        self.globus_conn_id = globus_conn_id or None
        self.route = route or None

    async def _client(self) -> Any:
        return await shared_transfer_client(
            None if self.route else self.globus_conn_id, [self.route] if self.route else []
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll through the route's shared poller until the transfer ends or the deadline passes."""
        try:
            client = await self._client()
        except FacilityError as exc:
            yield event({"status": "error", "message": str(exc)})
            return
        await self._until_first_poll()
        last: tuple[object, ...] | None = None
        while True:
            try:
                [task] = await client.poll([self.task_id], self.route, max_age=self.poll_interval)
            except FacilityError as exc:
                yield event({"status": "error", "message": str(exc)})
                return
            seen = (task.state, task.bytes_transferred, task.reason)
            if seen != last:
                self.log.info(
                    "transfer %s: %s, %d bytes, %d files (%s)",
                    task.id,
                    task.state.value,
                    task.bytes_transferred,
                    task.files_transferred,
                    task.reason or "-",
                )
                last = seen
            ending = self._ending(
                "transfer",
                transfer_payload(task),
                succeeded=task.state is TransferState.SUCCEEDED,
                terminal=task.is_terminal,
                still=f"transfer {task.id} still {task.state.value}",
            )
            if ending is not None:
                yield ending
                return
            await asyncio.sleep(self.poll_interval)

    async def on_kill(self) -> None:
        """Cancel the transfer, unless the user marked the deferred task success."""
        if self.cancel_on_kill:
            await keep_on_kill_work(asyncio.ensure_future(self._settle_killed_transfer()))

    async def _settle_killed_transfer(self) -> None:
        state = await deferred_task_state(self)
        if state == "success":
            self.log.info("the task was marked success: transfer %s is left running", self.task_id)
            return
        self.log.info("cancelling transfer %s (the task is now %s)", self.task_id, state)
        try:
            client = await self._client()
            await client.cancel(self.task_id, self.route)
        except FacilityError as exc:
            self.log.warning("cancelling transfer %s failed: %s", self.task_id, exc)

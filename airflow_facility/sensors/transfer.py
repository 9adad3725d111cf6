"""``FacilityTransferSensor``: wait for a transfer started elsewhere (another task, a user, a
facility's pipeline).

Poke mode asks each ``poke_interval`` through the route's shared poller; deferrable mode hands the
wait to :class:`~airflow_facility.triggers.transfer.FacilityTransferTrigger`, where any number of
deferred sensors on the Globus route cost one ``task_list`` request per interval. A transfer that
ends in any state but SUCCEEDED fails the sensor with its reason and failed files in the log; the
sensor never cancels the transfer (it did not start it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException

from facility_common.transfers import TransferTask

from ..hooks.transfer import GlobusTransferHook
from ..operators.transfer import finish_transfer
from ..triggers.transfer import FacilityTransferTrigger

__all__ = ["FacilityTransferSensor"]


class FacilityTransferSensor(BaseSensorOperator):
    """Wait until transfer ``transfer_id`` ends; succeed only if it SUCCEEDED.

    :param transfer_id: the transfer's id (``"{{ ti.xcom_pull('move', key='transfer_id') }}"``).
    :param globus_conn_id: the Globus connection, for a transfer of the Globus route.
    :param route: the facility connection whose own Globus routes started it, instead.
    """

    template_fields: Sequence[str] = ("transfer_id",)

    def __init__(
        self,
        *,
        transfer_id: str,
        globus_conn_id: str | None = GlobusTransferHook.default_conn_name,
        route: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.transfer_id = transfer_id
        self.globus_conn_id = None if route else globus_conn_id
        self.route = route
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> GlobusTransferHook:
        return GlobusTransferHook(
            self.globus_conn_id,
            [self.route] if self.route else [],
            poll_interval=float(self.poke_interval),
        )

    def poke(self, context: Context) -> bool:
        client = self.hook.get_conn()
        [task] = client.poll([str(self.transfer_id)], self.route)
        self.log.info(
            "transfer %s: %s, %d bytes (%s)",
            task.id,
            task.state.value,
            task.bytes_transferred,
            task.reason or "-",
        )
        if not task.is_terminal:
            return False
        finish_transfer(client, task, self.log)
        return True

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        self.defer(
            trigger=FacilityTransferTrigger(
                task_id=str(self.transfer_id),
                globus_conn_id=self.globus_conn_id,
                route=self.route,
                poll_interval=float(self.poke_interval),
                deadline=time.time() + float(self.timeout) if self.timeout is not None else None,
                cancel_on_kill=False,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Resume after the trigger fired; fail unless the transfer succeeded."""
        if not isinstance(event, dict) or event.get("status") not in ("terminal", "timeout", "error"):
            raise AirflowException(f"unexpected trigger event: {event!r}")
        if event["status"] != "terminal":
            raise AirflowException(f"waiting for transfer {self.transfer_id} failed: {event.get('message')}")
        try:
            task = TransferTask.from_dict(event["transfer"])
        except (KeyError, TypeError, ValueError) as exc:
            raise AirflowException(f"unexpected trigger event: {exc}") from exc
        finish_transfer(self.hook.get_conn(), task, self.log)

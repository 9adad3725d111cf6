"""``FacilityTransferOperator``: move data between facilities and wait for it.

The shape is the job operator's: prepare and submit, push the transfer's id to XCom before
waiting, then wait inline or defer to
:class:`~airflow_facility.triggers.transfer.FacilityTransferTrigger` (default from
``[operators] default_deferrable``), and finish in ``execute_complete``. Before deferring it
asks once and finishes at once when the transfer has already ended. A transfer that does not
succeed fails the task with its reason and the files it could not move in the task log.
``on_kill`` cancels the transfer; a triggerer restart does not.

Which transfer a try waits for (a new one, or an earlier try's, found by its recorded request's
``submission_id`` or, without a state store, by the cycle's label) is decided as
:mod:`airflow_facility.transfer_record` says.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException

from facility_common import FacilityError, NotFoundError, WaitTimeout
from facility_common.transfers import (
    TransferClient,
    TransferItem,
    TransferRequest,
    TransferState,
    TransferSubmissionError,
    TransferTask,
)
from facility_common.transfers.globus_auth import GLOBUS_FACILITY as GLOBUS_ROUTE
from facility_common.transfers.models import is_collection_id

from ..attach import StateStore, try_cycle
from ..hooks.transfer import GlobusTransferHook
from ..transfer_record import TransferRecord, read_transfer_record
from ..transfer_record import transfer_label as label_of_cycle
from ..triggers.transfer import FacilityTransferTrigger, transfer_payload

__all__ = ["FacilityTransferOperator", "finish_transfer"]


def finish_transfer(client: TransferClient, task: TransferTask, log: Any, shown: int = 20) -> dict[str, Any]:
    """Settle a task on an ended transfer: its payload when it succeeded, else raise with its
    reason and the files it could not move in the log."""
    if task.state is TransferState.SUCCEEDED:
        log.info(
            "transfer %s succeeded: %d files, %d bytes",
            task.id,
            task.files_transferred,
            task.bytes_transferred,
        )
        return transfer_payload(task)
    try:
        failed = client.failed_files(task.id, task.route if task.route != "globus" else None)
    except FacilityError as exc:
        failed = []
        log.info("the failed files of transfer %s could not be read: %s", task.id, exc)
    for item in failed[:shown]:
        log.error("  %s (%s side): %s: %s", item.path, item.side, item.code, item.message)
    if len(failed) > shown:
        log.error("  ... and %d more", len(failed) - shown)
    raise AirflowException(f"transfer {task.id} ended {task.state.value}: {task.reason or 'no reason given'}")


class FacilityTransferOperator(BaseOperator):
    """Move ``source_path`` of ``source_storage`` at one facility to ``destination_path`` of
    ``destination_storage`` at another, and wait for it.

    A storage is one the facility connection knows (``globus_collections``, or its API's storage
    access endpoints), or a Globus collection id (then its connection id may be None). Paths are
    Globus paths on the collections; give ``items`` (dicts of ``source_path``,
    ``destination_path``, ``recursive``) for several.

    :param transfer_label: the transfer's label at Globus (the task's cycle tag is added).
    :param globus_conn_id: the Globus connection of the Globus route.
    :param route: None for the Globus route; a facility connection id to use that facility's own
        Globus routes (NERSC's Superfacility API) with its credentials instead.
    :param deadline: when Globus gives up: a datetime, or a timedelta from the submit.
    :param timeout: give up waiting (and cancel the transfer) after this long.
    :param reattach: on a retry, find the transfer of an earlier try instead of starting another.
    :param unknown_outcome_delays: pauses (s) before submitting the same request again when a
        submit's outcome is unknown; after them the task fails and its retry submits it again.
    """

    template_fields: Sequence[str] = (
        "source_storage",
        "source_path",
        "destination_storage",
        "destination_path",
        "items",
        "transfer_label",
    )
    template_fields_renderers = {"items": "json"}
    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        source_conn_id: str | None,
        source_storage: str,
        destination_conn_id: str | None,
        destination_storage: str,
        source_path: str | None = None,
        destination_path: str | None = None,
        recursive: bool = False,
        items: Sequence[Mapping[str, Any]] | None = None,
        transfer_label: str | None = None,
        sync_level: str | int | None = None,
        verify_checksum: bool = False,
        preserve_timestamp: bool = False,
        deadline: datetime | timedelta | None = None,
        globus_conn_id: str | None = GlobusTransferHook.default_conn_name,
        route: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        timeout: timedelta | float | None = None,
        cancel_on_kill: bool = True,
        reattach: bool = True,
        unknown_outcome_delays: Sequence[float] = (1.0, 3.0, 9.0),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if items is None and (source_path is None or destination_path is None):
            raise ValueError("source_path and destination_path (or items) are required")
        if route is None and not globus_conn_id:
            raise ValueError("globus_conn_id is required unless route names a facility connection")
        self.source_conn_id = source_conn_id
        self.source_storage = source_storage
        self.destination_conn_id = destination_conn_id
        self.destination_storage = destination_storage
        self.source_path = source_path
        self.destination_path = destination_path
        self.recursive = recursive
        self.items = [dict(item) for item in items] if items is not None else None
        self.transfer_label = transfer_label
        self.sync_level = sync_level
        self.verify_checksum = verify_checksum
        self.preserve_timestamp = preserve_timestamp
        self.deadline = deadline
        self.globus_conn_id = None if route else globus_conn_id
        self.route = route
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        self.cancel_on_kill = cancel_on_kill
        self.reattach = reattach
        self.unknown_outcome_delays = tuple(float(d) for d in unknown_outcome_delays)
        self.transfer_id: str | None = None
        self._record: TransferRecord | None = None

    @cached_property
    def hook(self) -> GlobusTransferHook:
        """The hook of the Globus connection and the facility connections named."""
        conns = [c for c in (self.source_conn_id, self.destination_conn_id, self.route) if c]
        return GlobusTransferHook(self.globus_conn_id, conns, poll_interval=self.poll_interval)

    def _endpoint(self, conn_id: str | None, storage: str, side: str) -> str:
        if is_collection_id(storage):
            return storage
        if not conn_id:
            raise AirflowException(
                f"{side}_conn_id is required for storage {storage!r} (not a collection id)"
            )
        return f"{conn_id}:{storage}"

    def _items(self) -> list[TransferItem]:
        if self.items is not None:
            return [TransferItem.from_dict(item) for item in self.items]
        assert self.source_path is not None and self.destination_path is not None
        return [TransferItem(self.source_path, self.destination_path, bool(self.recursive))]

    def _prepare(self, client: TransferClient, label: str) -> TransferRequest:
        deadline = self.deadline
        if isinstance(deadline, timedelta):
            deadline = datetime.now(UTC) + deadline
        return client.prepare(
            self._endpoint(self.source_conn_id, self.source_storage, "source"),
            self._endpoint(self.destination_conn_id, self.destination_storage, "destination"),
            self._items(),
            label=label,
            sync_level=self.sync_level,
            verify_checksum=self.verify_checksum,
            preserve_timestamp=self.preserve_timestamp,
            deadline=deadline,
            route=self.route,
        )

    def _earlier_or_new(self, context: Context, client: TransferClient) -> tuple[TransferTask, str]:
        ti = context["ti"]
        cycle = try_cycle(ti, self.retries)
        map_index = getattr(ti, "map_index", -1)
        label = label_of_cycle(
            self.transfer_label, ti.dag_id, ti.task_id, ti.run_id, map_index, cycle.first_try
        )
        store: StateStore | None = context.get("task_state_store")
        record = read_transfer_record(store)
        if record is not None and record.cycle < cycle.first_try and record.task_id and not record.seen_end:
            # A transfer of the cycle before a clear that no try saw end: a clear means "again".
            self._cancel(client, record.task_id, f"it belongs to try {record.try_number}, before a clear")
        if self.reattach and cycle.is_retry:
            if record is not None and record.cycle == cycle.first_try and not record.seen_end:
                self._record = record
                earlier = self._earlier(client, record, store)
                if earlier is not None:
                    return earlier, label
            elif store is None:
                found = client.find_transfer(label, self.route)
                if found is not None and (not found.is_terminal or found.state is TransferState.SUCCEEDED):
                    self.log.info(
                        "re-attaching to transfer %s (%s), labelled %s", found.id, found.state.value, label
                    )
                    return found, label
        request = self._prepare(client, label)
        self._record = TransferRecord(
            cycle=cycle.first_try, try_number=cycle.try_number, request=request.to_dict()
        )
        self._record.save(store)  # before the submit: a retry submits this same request again
        return self._submit(client, request, store), label

    def _earlier(
        self, client: TransferClient, record: TransferRecord, store: StateStore | None
    ) -> TransferTask | None:
        """The transfer of an earlier try of this cycle (live or ended; a cancelled one starts
        anew), or None to start a new one."""
        request = TransferRequest.from_dict(record.request)
        task: TransferTask | None = None
        if record.task_id is not None:
            try:
                task = client.get_transfer(record.task_id, self.route)
            except NotFoundError:
                self.log.warning(
                    "transfer %s of try %d is unknown to the route", record.task_id, record.try_number
                )
        elif request.route == GLOBUS_ROUTE:
            self.log.info(
                "submitting the request of try %d again: Globus returns its transfer", record.try_number
            )
            task = self._submit(client, request, store)
        else:
            self.log.warning(
                "try %d's submit on the %s route got no recorded answer, and that route cannot find "
                "transfers: starting a new one",
                record.try_number,
                request.route,
            )
        if task is not None and task.state is TransferState.CANCELED:
            self.log.info("transfer %s of an earlier try was cancelled: starting a new one", task.id)
            return None
        if task is not None:
            self.log.info(
                "re-attaching to transfer %s of try %d (%s)", task.id, record.try_number, task.state.value
            )
        return task

    def _submit(
        self, client: TransferClient, request: TransferRequest, store: StateStore | None
    ) -> TransferTask:
        pauses = list(self.unknown_outcome_delays)
        while True:
            try:
                task = client.submit(request)
            except TransferSubmissionError as exc:
                if not exc.outcome_unknown or not pauses:
                    raise
                pause = pauses.pop(0)
                self.log.warning("%s; submitting the same request again in %.0f s", exc.message, pause)
                time.sleep(pause)
                continue
            self.log.info(
                "transfer %s: %s -> %s (submission %s)",
                task.id,
                request.described_source,
                request.described_destination,
                request.submission_id,
            )
            if self._record is not None:
                self._record = self._record.with_task(task.id)
                self._record.save(store)
            return task

    def execute(self, context: Context) -> dict[str, Any] | None:
        client = self.hook.get_conn()
        task, label = self._earlier_or_new(context, client)
        self.transfer_id = task.id
        ti = context["ti"]
        ti.xcom_push(key="transfer_id", value=task.id)
        ti.xcom_push(key="transfer_route", value=task.route)
        ti.xcom_push(key="transfer_label", value=label)
        if not self.wait_for_completion:
            return transfer_payload(task)
        if not task.is_terminal and self.deferrable:
            task = self._state_before_deferral(client, task)
            if not task.is_terminal:
                self.defer(
                    trigger=FacilityTransferTrigger(
                        task_id=task.id,
                        globus_conn_id=self.globus_conn_id,
                        route=self.route,
                        poll_interval=self.poll_interval,
                        deadline=time.time() + self.timeout if self.timeout is not None else None,
                        cancel_on_kill=self.cancel_on_kill,
                        first_poll_at=time.time() + self.poll_interval,
                        finish_on_success=True,
                        push_return_value=self.do_xcom_push,
                    ),
                    method_name="execute_complete",
                )
        if not task.is_terminal:
            task = self._wait_inline(client, task)
        return self._finish(context, client, task)

    def _state_before_deferral(self, client: TransferClient, task: TransferTask) -> TransferTask:
        try:
            return client.get_transfer(task.id, self.route)
        except FacilityError as exc:
            self.log.warning("the state of transfer %s could not be read before deferring: %s", task.id, exc)
            return task

    def _wait_inline(self, client: TransferClient, task: TransferTask) -> TransferTask:
        def on_update(update: TransferTask) -> None:
            self.log.info(
                "transfer %s: %s, %d bytes, %d files",
                update.id,
                update.state.value,
                update.bytes_transferred,
                update.files_transferred,
            )

        try:
            return client.wait(
                task.id,
                self.route,
                timeout=self.timeout,
                poll_interval=self.poll_interval,
                on_update=on_update,
            )
        except WaitTimeout as exc:
            self._cancel(client, task.id, f"the wait timed out ({exc})")
            raise AirflowException(f"transfer {task.id} did not finish within {self.timeout} s") from exc

    def _finish(self, context: Context, client: TransferClient, task: TransferTask) -> dict[str, Any]:
        store: StateStore | None = context.get("task_state_store")
        record = self._record or read_transfer_record(store)
        if record is not None and record.task_id == task.id and not record.seen_end:
            self._record = record.ended()
            self._record.save(store)
        return finish_transfer(client, task, self.log)

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any] | None:
        """Resume after the trigger fired (a SUCCEEDED transfer ends the task in the triggerer,
        and comes here only under ``dag.test()``, as ``"success"``)."""
        if event == "success":
            return None
        if not isinstance(event, dict) or event.get("status") not in ("terminal", "timeout", "error"):
            raise AirflowException(f"unexpected trigger event: {event!r}")
        if event["status"] == "error":
            raise AirflowException(f"waiting for the transfer failed: {event.get('message')}")
        try:
            task = TransferTask.from_dict(event["transfer"])
        except (KeyError, TypeError, ValueError) as exc:
            raise AirflowException(f"unexpected trigger event: {exc}") from exc
        self.transfer_id = task.id
        client = self.hook.get_conn()
        if event["status"] == "timeout":
            self._cancel(client, task.id, "the wait timed out")
            raise AirflowException(f"transfer {task.id} did not finish within {self.timeout} s")
        return self._finish(context, client, task)

    def _cancel(self, client: TransferClient, task_id: str, reason: str) -> None:
        if not self.cancel_on_kill:
            return
        self.log.info("cancelling transfer %s: %s", task_id, reason)
        try:
            client.cancel(task_id, self.route)
        except FacilityError as exc:
            self.log.warning("cancelling transfer %s failed: %s", task_id, exc)

    def on_kill(self) -> None:
        """Cancel the transfer (the task was killed while waiting inline)."""
        if self.transfer_id is not None:
            self._cancel(self.hook.get_conn(), self.transfer_id, "the task was killed")

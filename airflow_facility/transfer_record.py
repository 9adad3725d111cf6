"""Which transfer a try of a transfer task waits for: the rule for first tries, retries and clears.

It follows the submit rule of :mod:`airflow_facility.attach` (cycles, ``task_state_store``), with
one strength of Globus: a prepared request carries its ``submission_id``, and Transfer answers a
used one with the task it created. So a try records the **request** before it submits, and:

* the first try of a cycle prepares a new request (after a clear, the transfer of an earlier
  cycle that no try saw end is cancelled first, when the task cancels on kill);
* a retry whose cycle recorded a request submits that same request again: the transfer an
  earlier try started (running, or ended) comes back, and none is started twice, even when the
  earlier try died between its submit and its record of the answer;
* a retry whose earlier try saw the transfer end (and failed the task on it) prepares a new one;
* without a ``task_state_store`` (a context built by hand) a retry looks for the cycle's label
  (:func:`transfer_label`) and takes a transfer that is still active or succeeded.

On a facility route without submission ids (the Superfacility API) a recorded request whose
answer was never recorded cannot be found again; its retry says so and starts anew.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from .attach import StateStore, submit_tag

__all__ = ["TRANSFER_RECORD_KEY", "TransferRecord", "read_transfer_record", "transfer_label"]

#: The ``task_state_store`` key of a transfer task instance's :class:`TransferRecord`.
TRANSFER_RECORD_KEY = "facility_transfer"
MAX_LABEL = 128
logger = logging.getLogger(__name__)


def transfer_label(
    label: str | None, dag_id: str, task_id: str, run_id: str, map_index: int | None, cycle: int
) -> str:
    """The transfer's label: the user's (``,`` and ``/`` made ``-``, so a retry can look it up)
    or the task's name, followed by the cycle's tag; at most 128 characters."""
    tag = submit_tag(dag_id, task_id, run_id, map_index, cycle)[: len("airflow-") + 16]
    base = " ".join((label or f"{dag_id}.{task_id}").replace(",", "-").replace("/", "-").split())
    room = MAX_LABEL - len(tag) - 3
    return f"{base[:room].rstrip()} ({tag})"


@dataclass(frozen=True)
class TransferRecord:
    """What a try records about its transfer (plain JSON): the cycle, the try, the prepared
    request (with its ``submission_id``), the task id once answered, and whether a try saw it
    end."""

    cycle: int
    try_number: int
    request: Mapping[str, Any]
    task_id: str | None = None
    seen_end: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "request": dict(self.request)}

    def with_task(self, task_id: str) -> TransferRecord:
        return replace(self, task_id=task_id)

    def ended(self) -> TransferRecord:
        return replace(self, seen_end=True)

    def save(self, store: StateStore | None) -> None:
        if store is not None:
            store.set(TRANSFER_RECORD_KEY, self.to_json())


def read_transfer_record(store: StateStore | None) -> TransferRecord | None:
    """The record stored for this task instance, or None."""
    if store is None:
        return None
    value = store.get(TRANSFER_RECORD_KEY)
    if not isinstance(value, Mapping) or not isinstance(value.get("request"), Mapping):
        return None
    try:
        return TransferRecord(**{k: value[k] for k in TransferRecord.__dataclass_fields__ if k in value})
    except TypeError:
        logger.warning("ignoring an unreadable %s record in the task state store", TRANSFER_RECORD_KEY)
        return None

"""Globus Transfer documents read into the transfer model: pure functions, tested on recorded
payloads.

* :func:`parse_task` -- a ``task`` document (``GET /task/{id}``, ``task_list`` entries) to a
  :class:`~facility_common.transfers.TransferTask`. Transfer reports a cancelled task as
  ``FAILED`` with ``fatal_error.code`` ``CANCELED``: that is :attr:`TransferState.CANCELED`.
  ``INACTIVE`` (a task paused until its credentials are renewed) is still ``ACTIVE``, with the
  nice status saying why.
* :func:`parse_event` -- an ``event`` document; :func:`failed_files` -- the files named by a
  task's error events (``File: <path>`` lines of the event details, or a JSON ``path``).
* :func:`transfer_document` -- a :class:`~facility_common.transfers.TransferRequest` as the
  ``transfer`` document ``POST /transfer`` takes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .models import (
    SYNC_LEVELS,
    FailedFile,
    TransferEvent,
    TransferRequest,
    TransferState,
    TransferTask,
    _parse_dt,
)

__all__ = ["failed_files", "parse_event", "parse_task", "transfer_document"]

logger = logging.getLogger("facility_common.transfers")

_STATES = {
    "ACTIVE": TransferState.ACTIVE,
    "INACTIVE": TransferState.ACTIVE,
    "SUCCEEDED": TransferState.SUCCEEDED,
    "FAILED": TransferState.FAILED,
}
_warned: set[str] = set()
_FILE_LINE = re.compile(r"^\s*File:\s*(?P<path>.+?)\s*$", re.MULTILINE)
_MESSAGE_LINE = re.compile(r"^\s*Message:\s*(?P<message>.+?)\s*$", re.MULTILINE)
_SIDE_LINE = re.compile(r"^\s*Error\s*\((?P<what>[a-z ]+)\)", re.IGNORECASE | re.MULTILINE)


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _state(status: str, fatal: Mapping[str, Any] | None) -> TransferState:
    if status == "FAILED" and fatal is not None and fatal.get("code") == "CANCELED":
        return TransferState.CANCELED
    state = _STATES.get(status)
    if state is None:
        if status not in _warned:
            _warned.add(status)
            logger.warning("Globus reported the unknown task status %r; treating it as ACTIVE", status)
        return TransferState.ACTIVE
    return state


def _reason(doc: Mapping[str, Any], state: TransferState, fatal: Mapping[str, Any] | None) -> str | None:
    if doc.get("canceled_by_admin"):
        said = _text(doc.get("canceled_by_admin_message"))
        return "canceled by an administrator" + (f": {said}" if said else "")
    if fatal is not None and state.is_terminal:
        code, description = _text(fatal.get("code")), _text(fatal.get("description"))
        return ": ".join(part for part in (code, description) if part) or None
    if state is TransferState.ACTIVE:
        words = [
            _text(doc.get("nice_status_short_description")) or _text(doc.get("nice_status")),
            _text(doc.get("nice_status_details")),
        ]
        if doc.get("status") == "INACTIVE":
            words.insert(0, "inactive")
        return "; ".join(word for word in words if word) or None
    return None


def parse_task(doc: Mapping[str, Any], *, route: str = "globus") -> TransferTask:
    """A Transfer ``task`` document as a :class:`TransferTask` (raises ``KeyError``/``ValueError``
    on a document without an id or status)."""
    task_id = doc["task_id"]
    status = doc["status"]
    if not isinstance(task_id, str) or not isinstance(status, str):
        raise ValueError("task_id and status must be text")
    fatal = doc.get("fatal_error") if isinstance(doc.get("fatal_error"), Mapping) else None
    state = _state(status, fatal)
    rate = doc.get("effective_bytes_per_second")
    return TransferTask(
        id=task_id,
        state=state,
        route=route,
        native_status=status,
        label=_text(doc.get("label")),
        source=_text(doc.get("source_endpoint_id")),
        destination=_text(doc.get("destination_endpoint_id")),
        bytes_transferred=_int(doc.get("bytes_transferred")),
        bytes_expected=_optional_int(doc.get("total_estimated_bytes")) or None,
        files=_optional_int(doc.get("files")),
        files_transferred=_int(doc.get("files_transferred")),
        files_skipped=_int(doc.get("files_skipped")),
        directories=_optional_int(doc.get("directories")),
        rate=float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else 0.0,
        faults=_int(doc.get("faults")),
        reason=_reason(doc, state, fatal),
        nice_status=_text(doc.get("nice_status")),
        fatal_error=_text(fatal.get("code")) if fatal is not None else None,
        requested_at=_parse_dt(doc.get("request_time")),
        completed_at=_parse_dt(doc.get("completion_time")),
        deadline=_parse_dt(doc.get("deadline")),
        raw=dict(doc),
    )


def parse_event(doc: Mapping[str, Any]) -> TransferEvent:
    """A Transfer ``event`` document."""
    return TransferEvent.from_dict(doc)


def _from_json_details(details: str) -> tuple[str | None, str | None]:
    try:
        data = json.loads(details)
    except ValueError:
        return None, None
    if not isinstance(data, Mapping):
        return None, None
    path = data.get("path") or data.get("file") or data.get("source_path")
    message = data.get("message") or data.get("error")
    return (str(path) if path else None), (str(message) if message else None)


def failed_files(events: Iterable[TransferEvent]) -> list[FailedFile]:
    """The files named by error events, oldest first, each once (its latest error)."""
    found: dict[str, FailedFile] = {}
    for event in reversed(list(events)):
        if not event.is_error:
            continue
        path, message = _from_json_details(event.details)
        if path is None:
            match = _FILE_LINE.search(event.details)
            path = match.group("path") if match else None
        if not path:
            continue
        if message is None:
            said = _MESSAGE_LINE.search(event.details)
            message = said.group("message") if said else event.description
        side_match = _SIDE_LINE.search(event.details)
        side = "destination" if side_match and "write" in side_match.group("what").lower() else "source"
        found.pop(path, None)
        found[path] = FailedFile(path=path, code=event.code, message=message, side=side)
    return list(found.values())


def transfer_document(request: TransferRequest) -> dict[str, Any]:
    """The ``transfer`` document of ``request`` for ``POST /transfer``."""
    document: dict[str, Any] = {
        "DATA_TYPE": "transfer",
        "submission_id": request.submission_id,
        "source_endpoint": request.source,
        "destination_endpoint": request.destination,
        "DATA": [
            {
                "DATA_TYPE": "transfer_item",
                "source_path": item.source_path,
                "destination_path": item.destination_path,
                "recursive": item.recursive,
            }
            for item in request.items
        ],
        "verify_checksum": request.verify_checksum,
        "preserve_timestamp": request.preserve_timestamp,
    }
    if request.label is not None:
        document["label"] = request.label
    if request.sync_level is not None:
        document["sync_level"] = SYNC_LEVELS.index(request.sync_level)  # Transfer takes 0-3
    if request.deadline is not None:
        document["deadline"] = request.deadline.isoformat()
    return document

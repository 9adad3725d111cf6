"""Transfer tasks: what was asked, how far the copy got, and the task documents Globus returns.

A task is ``ACTIVE`` (``nice_status`` ``Queued`` until a copy slot frees, then ``OK``) and ends
``SUCCEEDED`` or ``FAILED``; a failed task names its fatal event in ``fatal_error``
(``{"code": "CANCELED", "description": "canceled"}`` after a cancel, ``FILE_NOT_FOUND`` for a
missing source, ...). Counters are written by the copy thread and read by the routes, so every
change goes through the task's lock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facility_emulator.facility import stable_id
from facility_emulator.globus.collections import Collection

ACTIVE = "ACTIVE"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
STATUSES = ("ACTIVE", "INACTIVE", "SUCCEEDED", "FAILED")


def iso_time(moment: datetime | None) -> str | None:
    """Task document time: ``2021-09-02T18:04:49+00:00``."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def event_time(moment: datetime) -> str:
    """Event document time: ``2014-07-08 18:50:18+00:00``."""
    return moment.astimezone(UTC).isoformat(sep=" ", timespec="seconds")


class TaskFault(Exception):
    """A fatal event: the task fails with ``code`` and ``description`` (``details`` for events)."""

    def __init__(self, code: str, description: str, details: str = "") -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details


@dataclass(frozen=True)
class TransferItem:
    """One ``transfer_item`` of a submission."""

    source_path: str
    destination_path: str
    recursive: bool = False
    external_checksum: str | None = None
    checksum_algorithm: str | None = None


@dataclass(frozen=True)
class TransferOptions:
    """The submission's options; those without an effect here are kept for the task document."""

    deadline: datetime
    sync_level: int | None = None
    verify_checksum: bool = False
    preserve_timestamp: bool = False
    skip_source_errors: bool = False
    encrypt_data: bool = False
    fail_on_quota_errors: bool = False
    delete_destination_extra: bool = False
    notify_on_succeeded: bool = True
    notify_on_failed: bool = True
    notify_on_inactive: bool = True


@dataclass
class Step:
    """One unit of the copy: make a destination directory, or copy one file."""

    kind: str  # "dir" or "file"
    source_path: str
    destination_path: str
    source: Path | None = None
    size: int = 0
    item: TransferItem | None = None


@dataclass
class TaskEvent:
    """One entry of the task's event list."""

    code: str
    description: str
    details: str = ""
    is_error: bool = False
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    def document(self) -> dict[str, Any]:
        return {
            "DATA_TYPE": "event",
            "code": self.code,
            "description": self.description,
            "details": self.details,
            "is_error": self.is_error,
            "time": event_time(self.time),
        }


@dataclass
class TransferTask:
    """One transfer task and its progress."""

    task_id: str
    submission_id: str
    owner: str
    origin: str
    label: str | None
    source: Collection
    destination: Collection
    items: list[TransferItem]
    options: TransferOptions
    request_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = ACTIVE
    running: bool = False
    fatal_error: dict[str, str] | None = None
    completion_time: datetime | None = None
    started: float | None = None
    plan: list[Step] | None = None
    next_step: int = 0
    files: int = 0
    directories: int = 0
    symlinks: int = 0
    files_transferred: int = 0
    files_skipped: int = 0
    bytes_transferred: int = 0
    bytes_checksummed: int = 0
    steps_done: int = 0
    skipped_errors: int = 0
    faults: int = 0
    events: list[TaskEvent] = field(default_factory=list)
    successful: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cancel_requested: bool = False
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def done(self) -> bool:
        return self.status != ACTIVE

    # -- changes (the copy thread and the engine call these) ------------------------------

    def event(self, code: str, description: str, details: str = "", *, error: bool = False) -> None:
        with self.lock:
            self.events.append(TaskEvent(code, description, details, error))
            if error:
                self.faults += 1

    def add(self, **counts: int) -> None:
        """Add to counters, e.g. ``add(bytes_transferred=n)``."""
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def start(self) -> None:
        with self.lock:
            self.running = True
            first = self.started is None
            if first:
                self.started = time.time()
        if first:
            self.event("STARTED", "started", f"Starting transfer of {len(self.items)} item(s)")

    def succeed(self) -> None:
        if self.done:
            return
        details = (
            f'{{"files_transferred": {self.files_transferred}, "files_skipped": {self.files_skipped}, '
            f'"bytes_transferred": {self.bytes_transferred}}}'
        )
        self.event("SUCCEEDED", "succeeded", details)
        self._end(SUCCEEDED, None)

    def fail(self, fault: TaskFault) -> None:
        if self.done:
            return
        self.event(fault.code, fault.description, fault.details, error=fault.code != "CANCELED")
        self._end(FAILED, {"code": fault.code, "description": fault.description})

    def _end(self, status: str, fatal: dict[str, str] | None) -> None:
        with self.lock:
            if self.status != ACTIVE:
                return
            self.status = status
            self.fatal_error = fatal
            self.running = False
            self.completion_time = datetime.now(UTC)

    # -- documents --------------------------------------------------------------------------

    def _subtasks(self) -> dict[str, int]:
        total = (len(self.plan) if self.plan is not None else len(self.items)) + self.skipped_errors
        succeeded = self.steps_done
        pending = max(0, total - succeeded - self.skipped_errors)
        counts = dict.fromkeys(("canceled", "expired", "failed"), 0)
        if self.status == FAILED and self.fatal_error is not None:
            # the rest of a canceled or expired task ends so; any other fatal event is one failure
            kind = {"CANCELED": "canceled", "EXPIRED": "expired"}.get(self.fatal_error["code"], "failed")
            counts[kind] = pending if kind != "failed" else 1
            pending = 0
        return {
            "subtasks_total": total,
            "subtasks_pending": pending,
            "subtasks_retrying": 0,
            "subtasks_succeeded": succeeded,
            "subtasks_canceled": counts["canceled"],
            "subtasks_expired": counts["expired"],
            "subtasks_failed": counts["failed"],
            "subtasks_skipped_errors": self.skipped_errors,
        }

    def _nice(self) -> dict[str, Any]:
        if self.status != ACTIVE:
            return {
                "is_ok": None,
                "nice_status": None,
                "nice_status_details": None,
                "nice_status_expires_in": None,
                "nice_status_short_description": None,
            }
        word = "OK" if self.running else "Queued"
        return {
            "is_ok": True,
            "nice_status": word,
            "nice_status_details": None,
            "nice_status_expires_in": -1,
            "nice_status_short_description": word,
        }

    def _rate(self) -> int:
        if self.started is None or self.bytes_transferred == 0:
            return 0
        end = self.completion_time.timestamp() if self.completion_time else time.time()
        return int(self.bytes_transferred / max(end - self.started, 1e-3))

    def document(self, username: str) -> dict[str, Any]:
        """The task document of ``GET /task/{id}`` and ``task_list``."""
        opts = self.options
        with self.lock:
            planned = sum(step.size for step in self.plan) if self.plan is not None else 0
            return {
                "DATA_TYPE": "task",
                "task_id": self.task_id,
                "type": "TRANSFER",
                "status": self.status,
                "label": self.label,
                "owner_id": stable_id("identity", self.owner),
                "username": f"u_{username}",
                "command": "API 0.10",
                "request_time": iso_time(self.request_time),
                "completion_time": iso_time(self.completion_time),
                "deadline": iso_time(opts.deadline),
                **_side("source", self.source),
                **_side("destination", self.destination),
                "sync_level": opts.sync_level,
                "verify_checksum": opts.verify_checksum,
                "preserve_timestamp": opts.preserve_timestamp,
                "encrypt_data": opts.encrypt_data,
                "skip_source_errors": opts.skip_source_errors,
                "fail_on_quota_errors": opts.fail_on_quota_errors,
                "delete_destination_extra": opts.delete_destination_extra,
                "recursive_symlinks": "ignore",
                "filter_rules": None,
                "files": self.files,
                "directories": self.directories,
                "symlinks": self.symlinks,
                "files_skipped": self.files_skipped,
                "files_transferred": self.files_transferred,
                "bytes_transferred": self.bytes_transferred,
                "bytes_checksummed": self.bytes_checksummed,
                "total_estimated_bytes": planned,
                "effective_bytes_per_second": self._rate(),
                "faults": self.faults,
                "fatal_error": dict(self.fatal_error) if self.fatal_error else None,
                "is_paused": False,
                "canceled_by_admin": None,
                "canceled_by_admin_message": None,
                "history_deleted": False,
                **self._nice(),
                **self._subtasks(),
            }


def _side(prefix: str, collection: Collection) -> dict[str, Any]:
    return {
        f"{prefix}_endpoint": f"emulator#{collection.name}",
        f"{prefix}_endpoint_id": collection.id,
        f"{prefix}_endpoint_display_name": collection.display_name,
        f"{prefix}_base_path": None,
        f"{prefix}_local_user": None,
        f"{prefix}_local_user_status": None,
    }

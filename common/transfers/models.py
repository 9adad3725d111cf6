"""The transfer model: what to move (:class:`TransferRequest`) and how it went (:class:`TransferTask`).

Like the job models these are frozen dataclasses with ``to_dict()``/``from_dict()`` in plain JSON
types, so a request can sit in Airflow's ``task_state_store`` and a task can cross a trigger
boundary or sit in XCom. They hold no client.

A :class:`TransferRequest` carries its Globus ``submission_id``, taken before anything is sent
and kept with the caller: submitting the same request again (after a lost answer, in a retried
task) never starts a second transfer, because Transfer answers a used ``submission_id`` with the
task it already created.

Every value is checked on construction and a bad one raises :class:`InvalidTransferRequest`
naming the field, before any request is built.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidJobSpec

__all__ = [
    "SYNC_LEVELS",
    "FailedFile",
    "InvalidTransferRequest",
    "TransferEvent",
    "TransferItem",
    "TransferRequest",
    "TransferState",
    "TransferTask",
]

#: Globus ``sync_level`` words, by the number Transfer also accepts.
SYNC_LEVELS = ("exists", "size", "mtime", "checksum")
#: Transfer's label rules: at most 128 characters, no newline, no leading or trailing space.
MAX_LABEL = 128
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


class InvalidTransferRequest(InvalidJobSpec):
    """A transfer request argument is malformed; ``field`` names it. Raised before any request."""


def _fail(field: str, message: str) -> InvalidTransferRequest:
    return InvalidTransferRequest(f"{field}: {message}", field=field)


def is_collection_id(value: object) -> bool:
    """Whether ``value`` is written as a Globus collection (or task) id: a UUID."""
    return isinstance(value, str) and bool(_UUID.match(value.strip()))


class TransferState(enum.Enum):
    """A transfer task's state, the same for every route."""

    ACTIVE = "ACTIVE"
    """Queued or copying (Globus ``ACTIVE``, and ``INACTIVE`` while its credentials need renewal)."""
    SUCCEEDED = "SUCCEEDED"
    """Every file arrived (and was verified, when asked)."""
    FAILED = "FAILED"
    """Ended without success; ``TransferTask.reason`` says why."""
    CANCELED = "CANCELED"
    """Cancelled by its owner or an administrator (Globus reports it FAILED with ``CANCELED``)."""

    @property
    def is_terminal(self) -> bool:
        return self is not TransferState.ACTIVE


def _text(field: str, value: object, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise _fail(field, "must not be empty")
    if "\x00" in value or "\n" in value or "\r" in value:
        raise _fail(field, "must not contain a NUL character or a newline")
    return value


@dataclasses.dataclass(frozen=True)
class TransferItem:
    """One file (or, with ``recursive``, one directory tree) to copy: Globus paths on the source
    and destination collections (``/~/`` is the home directory on collections that have one)."""

    source_path: str
    destination_path: str
    recursive: bool = False

    def __post_init__(self) -> None:
        _text("items.source_path", self.source_path)
        _text("items.destination_path", self.destination_path)
        if not isinstance(self.recursive, bool):
            raise _fail("items.recursive", "must be true or false")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TransferItem:
        if not isinstance(data, Mapping):
            raise _fail("items", f"each item must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - {"source_path", "destination_path", "recursive"})
        if unknown:
            raise _fail(
                f"items.{unknown[0]}", "unknown field (known: source_path, destination_path, recursive)"
            )
        return cls(
            source_path=data.get("source_path"),  # type: ignore[arg-type]
            destination_path=data.get("destination_path"),  # type: ignore[arg-type]
            recursive=bool(data.get("recursive", False)),
        )


def as_items(items: Sequence[TransferItem | Mapping[str, Any] | Sequence[Any]]) -> tuple[TransferItem, ...]:
    """Items given as :class:`TransferItem`, mappings, or ``(source, destination[, recursive])``."""
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise _fail("items", "must be a list of items")
    found: list[TransferItem] = []
    for index, item in enumerate(items):
        if isinstance(item, TransferItem):
            found.append(item)
        elif isinstance(item, Mapping):
            found.append(TransferItem.from_dict(item))
        elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) in (2, 3):
            found.append(TransferItem(*item))
        else:
            raise _fail(
                f"items[{index}]", "must be a TransferItem, a mapping or (source, destination[, recursive])"
            )
    if not found:
        raise _fail("items", "at least one item is required")
    return tuple(found)


def sync_level_word(value: object) -> str | None:
    """A ``sync_level`` as Transfer's word (``exists``, ``size``, ``mtime``, ``checksum``)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(SYNC_LEVELS):
        return SYNC_LEVELS[value]
    if isinstance(value, str) and value.strip().lower() in SYNC_LEVELS:
        return value.strip().lower()
    raise _fail("sync_level", f"must be one of {', '.join(SYNC_LEVELS)} (or 0-3), got {value!r}")


def check_label(value: object) -> str | None:
    """A label as Transfer accepts it, or None."""
    if value is None:
        return None
    text = _text("label", value)
    if len(text) > MAX_LABEL or text != text.strip():
        raise _fail("label", f"must be at most {MAX_LABEL} characters without leading or trailing spaces")
    return text


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00").replace(" ", "T", 1))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class TransferRequest:
    """A transfer ready to submit: resolved collections, items, options and its ``submission_id``.

    ``source`` and ``destination`` are what the route sends (collection ids; on a facility route
    also the facility's own names such as ``dtn``); ``source_name`` and ``destination_name`` say
    in messages where they came from (``alcf:eagle``). ``route`` names the route that submits it
    (``globus``, or the facility connection of a facility's own Globus routes).
    """

    source: str
    destination: str
    items: tuple[TransferItem, ...]
    submission_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    label: str | None = None
    sync_level: str | None = None
    verify_checksum: bool = False
    preserve_timestamp: bool = False
    deadline: datetime | None = None
    route: str = "globus"
    source_name: str | None = None
    destination_name: str | None = None

    def __post_init__(self) -> None:
        _text("source", self.source)
        _text("destination", self.destination)
        object.__setattr__(self, "items", as_items(self.items))
        if not is_collection_id(self.submission_id):
            raise _fail("submission_id", f"must be a UUID, got {self.submission_id!r}")
        object.__setattr__(self, "label", check_label(self.label))
        object.__setattr__(self, "sync_level", sync_level_word(self.sync_level))
        for name in ("verify_checksum", "preserve_timestamp"):
            if not isinstance(getattr(self, name), bool):
                raise _fail(name, "must be true or false")
        if self.deadline is not None:
            if not isinstance(self.deadline, datetime):
                raise _fail("deadline", "must be a datetime")
            if self.deadline.tzinfo is None:
                object.__setattr__(self, "deadline", self.deadline.replace(tzinfo=UTC))
        _text("route", self.route)
        for name in ("source_name", "destination_name"):
            if getattr(self, name) is not None:
                _text(name, getattr(self, name))

    @property
    def described_source(self) -> str:
        """The source as messages name it."""
        return self.source_name or self.source

    @property
    def described_destination(self) -> str:
        """The destination as messages name it."""
        return self.destination_name or self.destination

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "items": [item.to_dict() for item in self.items],
            "submission_id": self.submission_id,
            "label": self.label,
            "sync_level": self.sync_level,
            "verify_checksum": self.verify_checksum,
            "preserve_timestamp": self.preserve_timestamp,
            "deadline": _dt(self.deadline),
            "route": self.route,
            "source_name": self.source_name,
            "destination_name": self.destination_name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TransferRequest:
        known = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, Mapping):
            raise _fail("request", f"must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - known)
        if unknown:
            raise _fail(unknown[0], f"unknown field (known: {', '.join(sorted(known))})")
        values = dict(data)
        values["items"] = as_items(values.get("items") or [])
        try:
            values["deadline"] = _parse_dt(values.get("deadline"))
        except ValueError:
            raise _fail("deadline", f"not an ISO 8601 date-time: {data.get('deadline')!r}") from None
        values.setdefault("verify_checksum", False)
        values.setdefault("preserve_timestamp", False)
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class TransferTask:
    """A transfer task as its route reports it.

    ``reason`` is the human word on how it goes: Globus's "nice status" while it runs
    (``Queued``, ``OK``, a credential or endpoint problem), the fatal error's description once it
    failed. ``native_status`` is the route's own word (``ACTIVE``, ``INACTIVE``...).
    """

    id: str
    state: TransferState
    route: str = "globus"
    native_status: str | None = None
    label: str | None = None
    source: str | None = None
    destination: str | None = None
    submission_id: str | None = None
    bytes_transferred: int = 0
    bytes_expected: int | None = None
    files: int | None = None
    files_transferred: int = 0
    files_skipped: int = 0
    directories: int | None = None
    rate: float = 0.0
    faults: int = 0
    reason: str | None = None
    nice_status: str | None = None
    fatal_error: str | None = None
    requested_at: datetime | None = None
    completed_at: datetime | None = None
    deadline: datetime | None = None
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise TypeError(f"TransferTask.id: expected non-empty text, got {type(self.id).__name__}")
        if not isinstance(self.state, TransferState):
            raise TypeError(f"TransferTask.state: expected a TransferState, got {type(self.state).__name__}")
        for name in ("bytes_transferred", "files_transferred", "files_skipped", "faults"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"TransferTask.{name}: expected an integer, got {type(value).__name__}")

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    @property
    def progress(self) -> float | None:
        """Fraction of the expected bytes moved, when the route knows how many to expect."""
        if not self.bytes_expected:
            return 1.0 if self.state is TransferState.SUCCEEDED else None
        return min(1.0, self.bytes_transferred / self.bytes_expected)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        for name in ("requested_at", "completed_at", "deadline"):
            data[name] = _dt(getattr(self, name))
        data["raw"] = dict(self.raw)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TransferTask:
        values = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
        values["state"] = TransferState(data["state"])
        for name in ("requested_at", "completed_at", "deadline"):
            values[name] = _parse_dt(data.get(name))
        values["raw"] = data.get("raw") or {}
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class TransferEvent:
    """One entry of a task's event list (newest first, as Globus lists them)."""

    code: str
    description: str
    details: str = ""
    is_error: bool = False
    time: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "time": _dt(self.time)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TransferEvent:
        return cls(
            code=str(data.get("code") or ""),
            description=str(data.get("description") or ""),
            details=str(data.get("details") or ""),
            is_error=bool(data.get("is_error")),
            time=_parse_dt(data.get("time")),
        )


@dataclasses.dataclass(frozen=True)
class FailedFile:
    """A file the task could not move (or skipped, with ``skip_source_errors``), and why."""

    path: str
    code: str
    message: str
    side: str = "source"
    """``source`` (it could not be read) or ``destination`` (it could not be written)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailedFile:
        return cls(
            path=str(data["path"]),
            code=str(data.get("code") or ""),
            message=str(data.get("message") or ""),
            side=str(data.get("side") or "source"),
        )

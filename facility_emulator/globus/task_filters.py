"""``GET /task_list`` filters and ordering, in Transfer's syntax.

``filter`` holds clauses ``key:value`` separated by ``/``; a value may list alternatives with
commas. Supported keys: ``task_id`` (up to :data:`MAX_TASK_IDS` ids), ``status``
(ACTIVE, INACTIVE, SUCCEEDED, FAILED), ``type`` (TRANSFER, DELETE), ``label`` (``=exact``,
``~pattern`` with ``*`` wildcards, case-insensitive, ``!`` and ``!~`` negate; a bare value is
exact), ``request_time`` and ``completion_time`` (``start,end``, either side may be empty).
``orderby`` is ``field [ASC|DESC]`` over ``request_time``, ``completion_time``, ``label``,
``status``, ``task_id`` (default ``request_time DESC``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from facility_emulator.globus.access import GlobusError
from facility_emulator.globus.tasks import STATUSES, TransferTask

#: Most task ids one ``task_id`` filter may name (the emulator's bound; Transfer pages at 1000).
MAX_TASK_IDS = 1000
ORDER_FIELDS = ("request_time", "completion_time", "label", "status", "task_id")

Predicate = Callable[[TransferTask], bool]


def _bad(message: str) -> GlobusError:
    return GlobusError(400, "ClientError.BadRequest", message)


def _moment(text: str, clause: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"filter {clause!r}: {text!r} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _time_range(value: str, clause: str, field: str) -> Predicate:
    start_text, _, end_text = value.partition(",")
    start, end = _moment(start_text, clause), _moment(end_text, clause)

    def check(task: TransferTask) -> bool:
        moment = task.request_time if field == "request_time" else task.completion_time
        if moment is None:
            return False
        return (start is None or moment >= start) and (end is None or moment <= end)

    return check


def _task_ids(value: str) -> Predicate:
    ids = {v.strip().lower() for v in value.split(",") if v.strip()}
    if len(ids) > MAX_TASK_IDS:
        raise _bad(f"filter task_id names {len(ids)} ids; at most {MAX_TASK_IDS} are allowed")
    return lambda task: task.task_id in ids


def _label_test(raw: str) -> tuple[bool, Callable[[str | None], bool]]:
    """(negated, test) of one label alternative."""
    negate = raw.startswith("!")
    text = raw[1:] if negate else raw
    if text.startswith("~"):
        pattern = text[1:].lower()
        return negate, lambda label: label is not None and fnmatch.fnmatchcase(label.lower(), pattern)
    exact = text[1:] if text.startswith("=") else text
    return negate, lambda label: label == exact


def _label(value: str) -> Predicate:
    tests = [_label_test(raw) for raw in value.split(",") if raw]
    wanted = [test for negate, test in tests if not negate]
    refused = [test for negate, test in tests if negate]
    return lambda task: (
        (not wanted or any(t(task.label) for t in wanted)) and not any(t(task.label) for t in refused)
    )


def _choice(
    value: str, allowed: tuple[str, ...], clause: str, attribute: Callable[[TransferTask], str]
) -> Predicate:
    wanted = {v.strip().upper() for v in value.split(",") if v.strip()}
    unknown = sorted(wanted - set(allowed))
    if unknown:
        raise _bad(f"filter {clause!r}: {unknown} not among {list(allowed)}")
    return lambda task: attribute(task) in wanted


def parse_filter(text: str | None) -> list[Predicate]:
    """The predicates of a ``filter`` string; raises :class:`GlobusError` (400) for a bad one."""
    predicates: list[Predicate] = []
    for clause in (text or "").split("/"):
        if not clause.strip():
            continue
        key, sep, value = clause.partition(":")
        key = key.strip()
        if not sep:
            raise _bad(f"filter clause {clause!r} must be key:value")
        if key == "task_id":
            predicates.append(_task_ids(value))
        elif key == "status":
            predicates.append(_choice(value, STATUSES, clause, lambda t: t.status))
        elif key == "type":
            predicates.append(_choice(value, ("TRANSFER", "DELETE"), clause, lambda t: "TRANSFER"))
        elif key == "label":
            predicates.append(_label(value))
        elif key in ("request_time", "completion_time"):
            predicates.append(_time_range(value, clause, key))
        else:
            raise _bad(f"filter field {key!r} is not supported")
    return predicates


def order(tasks: list[TransferTask], text: str | None) -> list[TransferTask]:
    """Sort by an ``orderby`` string (several ``field [ASC|DESC]`` separated by commas)."""
    keys = [part.split() for part in (text or "request_time DESC").split(",") if part.strip()]
    for words in reversed(keys):
        field = words[0]
        direction = words[1].upper() if len(words) > 1 else "ASC"
        if field not in ORDER_FIELDS or direction not in ("ASC", "DESC") or len(words) > 2:
            raise _bad(f"orderby {' '.join(words)!r}: use one of {list(ORDER_FIELDS)} with ASC or DESC")

        def key(task: TransferTask, field: str = field) -> Any:
            value = getattr(task, field)
            return (value is not None, value if value is not None else "")

        tasks = sorted(tasks, key=key, reverse=direction == "DESC")
    return tasks

"""Parsers of the IRI Facility API's answers: status, jobs, facility objects, tasks and events.

Each ``_parse_<op>`` turns a decoded JSON answer into our models (or, for documents that have no
shared model, a checked plain dict), with no I/O, so they are tested on recorded payloads. They
raise ``KeyError``/``TypeError``/``ValueError`` on an answer of the wrong shape; the backend turns
that into an :class:`~facility_common.errors.APIError` naming the call.

How the API's gaps are filled here (the spec is silent on these):

* **Walltime.** IRI has no timeout state. A ``failed``, ``completed`` or ``canceled`` job is
  reported as ``TIMEOUT`` when ``status.meta_data.reason == "walltime"``, when
  ``status.meta_data.native_state`` is Slurm's ``TIMEOUT``/``DEADLINE``, or when
  ``status.message`` speaks of walltime, a time limit or a timeout: this is how the local
  emulator and the schedulers behind IRI report walltime kills. A ``completed`` job with a non-zero
  exit code is ``FAILED``.
* **Outages.** The incidents endpoint's ``from``/``to`` filters select incidents *contained* in the
  window (started after ``from``, resolved before ``to``), which would hide an outage that is
  already under way or runs past the window, so the window is applied here by overlap instead.
  Incidents whose resolution is ``cancelled`` never happened and are skipped; a ``completed``
  incident without an ``end`` ends at its ``last_modified``.
* **Facility, site, event and task documents** have no shared model and are returned as the
  plain dicts the API serves, after a shape check (an object with an ``id``; a task's ``status``
  one of the spec's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ...models import Job, JobState, Outage, ResourceState, ResourceStatus
from ..states import IRI_STATES, settle_exit_code, translate_state
from ..submit import SUBMIT_TAG_VARIABLE, newest
from .requests import FACILITY

_PLANNED_TYPES = frozenset({"planned", "reservation"})
_WALLTIME_MESSAGE = re.compile(r"wall\s*-?\s*time|time\s*limit|timed\s*out|\btime-?out\b", re.IGNORECASE)
_WALLTIME_NATIVE = frozenset({"TIMEOUT", "DEADLINE"})
_TASK_STATUSES = frozenset({"pending", "active", "completed", "failed", "canceled"})

# status.meta_data keys that carry a job's timestamps (epoch seconds or ISO 8601), by deployment.
_SUBMITTED_KEYS = ("submitted", "submitted_at", "submit_time", "submission_time", "queued_at", "qtime")
_STARTED_KEYS = ("started", "started_at", "start_time", "stime")
_FINISHED_KEYS = ("finished", "finished_at", "end_time", "completed_at", "finish_time")


# -- values -----------------------------------------------------------------------------------


def _to_datetime(value: Any) -> datetime | None:
    """An ISO 8601 string or epoch number as an aware datetime; None when absent or unreadable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), tz=UTC)
        text = str(value).strip()
        try:
            return datetime.fromtimestamp(float(text), tz=UTC)
        except ValueError:
            pass
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _to_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _items(data: Any) -> list[dict[str, Any]]:
    """A collection answer as a list of objects (a bare array, or ``{"items": [...]}``)."""
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    if not isinstance(data, list):
        raise ValueError("expected a JSON array")
    return [item for item in data if isinstance(item, dict)]


_NOTHING_FOUND = re.compile(r"^\s*no\b.*\bfound\b", re.IGNORECASE)


def _is_empty_page(status: int | None, detail: str | None) -> bool:
    """Whether an error answer to a list call means "no items": ``404`` whose problem detail
    says ``No <items> found`` (the reference server's answer to an empty page of incidents,
    events or sites, also to a page past the end). Any other ``404`` (an unknown route, whose
    detail is ``"Not Found"``; an unknown resource) is not read as an empty list, so a wrong URL
    never passes for "no outages"."""
    return status == 404 and isinstance(detail, str) and bool(_NOTHING_FOUND.match(detail))


def _last_segment(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _resource_type(value: Any) -> str | None:
    """v1 words as they are; v2 URNs shortened (``urn:doe-iri:resource:compute`` -> ``compute``,
    ``urn:doe-iri:service:generic`` -> ``service``)."""
    if not isinstance(value, str) or not value:
        return None
    prefix = "urn:doe-iri:"
    if value.startswith(prefix):
        parts = value[len(prefix) :].split(":")
        return parts[1] if parts[0] == "resource" and len(parts) > 1 else parts[0]
    return value


# -- status -----------------------------------------------------------------------------------


def _parse_resource(data: Mapping[str, Any]) -> ResourceStatus:
    native = data.get("current_status")
    try:
        state = ResourceState(native) if native else ResourceState.UNKNOWN
    except ValueError:
        state = ResourceState.UNKNOWN
    resource_id = str(data["id"])
    return ResourceStatus(
        id=resource_id,
        name=str(data.get("name") or resource_id),
        state=state,
        resource_type=_resource_type(data.get("resource_type")),
        description=data.get("description"),
        group=data.get("group"),
        updated_at=_to_datetime(data.get("last_modified")),
        native_state=native,
        raw=dict(data),
    )


def _parse_resources(data: Any) -> list[ResourceStatus]:
    return [_parse_resource(item) for item in _items(data)]


def _parse_incident(
    data: Mapping[str, Any], names: Mapping[str, str], *, keep_cancelled: bool = False
) -> Outage | None:
    """One incident as an Outage, or None for an incident whose resolution is ``cancelled``
    (unless ``keep_cancelled``: asked for by id, it is described like any other)."""
    if data.get("resolution") == "cancelled" and not keep_cancelled:
        return None
    end = _to_datetime(data.get("end"))
    if end is None and data.get("resolution") == "completed":
        end = _to_datetime(data.get("last_modified"))
    resource_ids = [_last_segment(uri) for uri in data.get("resource_uris") or [] if isinstance(uri, str)]
    incident_id = str(data["id"])
    return Outage(
        id=incident_id,
        name=str(data.get("name") or incident_id),
        start=_to_datetime(data.get("start")),
        end=end,
        planned=data.get("type") in _PLANNED_TYPES,
        status=data.get("status"),
        description=data.get("description"),
        resources=tuple(names.get(rid, rid) for rid in resource_ids),
        raw=dict(data),
    )


def _parse_outages(
    data: Any,
    *,
    names: Mapping[str, str],
    resource_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Outage]:
    """Incidents overlapping ``start..end`` (default: from now on) that touch ``resource_id``."""
    window_start = _aware(start) if start is not None else datetime.now(UTC)
    window_end = _aware(end) if end is not None else datetime.max.replace(tzinfo=UTC)
    outages: list[Outage] = []
    for item in _items(data):
        if resource_id is not None:
            touched = {_last_segment(uri) for uri in item.get("resource_uris") or [] if isinstance(uri, str)}
            if touched and resource_id not in touched:
                continue
        outage = _parse_incident(item, names)
        if outage is not None and outage.overlaps(window_start, window_end):
            outages.append(outage)
    return outages


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# -- jobs -------------------------------------------------------------------------------------


def _first_time(meta: Mapping[str, Any], keys: Iterable[str]) -> datetime | None:
    for key in keys:
        found = _to_datetime(meta.get(key))
        if found is not None:
            return found
    return None


def _is_walltime(meta: Mapping[str, Any], message: str | None) -> bool:
    reason = meta.get("reason")
    if isinstance(reason, str) and reason.strip().lower() == "walltime":
        return True
    native = meta.get("native_state")
    if isinstance(native, str) and native.strip().upper().split(" ")[0] in _WALLTIME_NATIVE:
        return True
    return bool(message and _WALLTIME_MESSAGE.search(message))


def _job_state(
    native: str | None, meta: Mapping[str, Any], message: str | None, exit_code: int | None
) -> JobState:
    if native is None:
        return JobState.UNKNOWN
    state = translate_state(IRI_STATES, native, facility=FACILITY)
    if state in (JobState.FAILED, JobState.COMPLETED, JobState.CANCELLED):
        if _is_walltime(meta, message):
            return JobState.TIMEOUT
        meta_native = meta.get("native_state")
        if isinstance(meta_native, str) and meta_native.strip().upper() == "PREEMPTED":
            return JobState.PREEMPTED
    return settle_exit_code(state, exit_code)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _job_id(value: Any) -> str:
    """A job id of an answer: a string or an integer, nothing else (never ``str()`` of a list)."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise ValueError(f"a job id is {type(value).__name__}, not a string or an integer")
    return str(value)


def _parse_job(data: Mapping[str, Any], resource: str, *, sent_spec: Mapping[str, Any] | None = None) -> Job:
    """An IRI Job as ours. ``sent_spec`` stands in for a ``job_spec`` the answer leaves out."""
    status: Mapping[str, Any] = _mapping(data.get("status"))
    meta: Mapping[str, Any] = _mapping(status.get("meta_data"))
    spec: Mapping[str, Any] = _mapping(data.get("job_spec")) or (sent_spec or {})
    native = status.get("state")
    message = status.get("message") if isinstance(status.get("message"), str) else None
    exit_code = _to_int(status.get("exit_code"))
    if native is None and sent_spec is not None:
        state = JobState.PENDING  # just accepted by submit, no status yet
    else:
        state = _job_state(native, meta, message, exit_code)
    return Job(
        id=_job_id(data["id"]),
        resource=resource,
        state=state,
        native_state=native,
        exit_code=exit_code,
        message=message,
        submitted_at=_first_time(meta, _SUBMITTED_KEYS),
        started_at=_first_time(meta, _STARTED_KEYS),
        finished_at=_first_time(meta, _FINISHED_KEYS),
        updated_at=_to_datetime(status.get("time")),
        name=spec.get("name"),
        stdout_path=spec.get("stdout_path"),
        stderr_path=spec.get("stderr_path"),
        raw=dict(data),
    )


def _parse_jobs(data: Any, resource: str) -> list[Job]:
    return [_parse_job(item, resource) for item in _items(data) if "id" in item]


def _job_tag(data: Mapping[str, Any]) -> str | None:
    spec = data.get("job_spec")
    if not isinstance(spec, dict):
        return None
    environment = spec.get("environment")
    if not isinstance(environment, dict):
        return None
    tag = environment.get(SUBMIT_TAG_VARIABLE)
    return str(tag) if tag is not None else None


def _lists_no_specs(items: list[dict[str, Any]]) -> bool:
    """Whether a job listing shows jobs but none with its ``job_spec`` (where tags live)."""
    return bool(items) and not any(isinstance(item.get("job_spec"), dict) for item in items)


def _find_tagged(data: Any, tag: str, resource: str) -> Job | None:
    """The newest job of a listing whose spec carries ``tag``, if any."""
    return newest(
        _parse_job(item, resource) for item in _items(data) if "id" in item and _job_tag(item) == tag
    )


# -- facility objects, tasks and events -------------------------------------------------------


def _parse_object(data: Any, what: str) -> dict[str, Any]:
    """One IRI object (facility, site, event, task...) as a plain dict; it must carry an ``id``."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a {what} object, got {type(data).__name__}")
    if data.get("id") in (None, ""):
        raise ValueError(f"the {what} has no id")
    return dict(data)


def _parse_objects(data: Any, what: str) -> list[dict[str, Any]]:
    """A collection of IRI objects as plain dicts (every element must be an object with an id)."""
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    if not isinstance(data, list):
        raise ValueError(f"expected a JSON array of {what} objects")
    return [_parse_object(item, what) for item in data]


def _parse_task(data: Any) -> dict[str, Any]:
    """A Task as a plain dict ``{id, status, result, command}``; ``status`` must be one of the
    spec's (pending, active, completed, failed, canceled)."""
    task = _parse_object(data, "task")
    status = task.get("status", "pending")
    if status not in _TASK_STATUSES:
        raise ValueError(f"task {task['id']} has an unknown status {status!r}")
    task["id"] = str(task["id"])
    task["status"] = status
    return task


def _parse_events(
    data: Any, *, start: datetime | None = None, end: datetime | None = None
) -> list[dict[str, Any]]:
    """Events as plain dicts, keeping those whose ``occurred_at`` lies in ``start..end`` (applied
    here too, for servers that ignore ``from``/``to``), oldest first."""
    events = _parse_objects(data, "event")
    low = _aware(start) if start is not None else None
    high = _aware(end) if end is not None else None
    kept: list[tuple[datetime, dict[str, Any]]] = []
    for event in events:
        occurred = _to_datetime(event.get("occurred_at"))
        if occurred is not None and (
            (low is not None and occurred < low) or (high is not None and occurred > high)
        ):
            continue
        kept.append((occurred or datetime.min.replace(tzinfo=UTC), event))
    kept.sort(key=lambda pair: pair[0])
    return [event for _, event in kept]

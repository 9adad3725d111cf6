"""Backend for the DOE IRI Facility API (ALCF, NERSC, OLCF, ESnet deployments), v1 and v2.

``base_url`` is the API root including its version (``https://api.alcf.anl.gov/api/v1``,
``https://api.iri.nersc.gov/api/v2``); paths below are relative to it. Every operation has a
pure ``_build_<op>`` function that turns arguments into an :class:`IRIRequest` and a pure
``_parse_<op>`` function that turns the JSON answer into our models, so both are tested on
recorded payloads without I/O. The :class:`IRIBackend` methods only wire them to the
:class:`~facility_common.http.ApiSession`.

How the API's gaps are filled (the spec is silent on these):

* **Walltime.** IRI has no timeout state. A ``failed``, ``completed`` or ``canceled`` job is
  reported as ``TIMEOUT`` when ``status.meta_data.reason == "walltime"``, when
  ``status.meta_data.native_state`` is Slurm's ``TIMEOUT``/``DEADLINE``, or when
  ``status.message`` speaks of walltime, a time limit or a timeout: this is how the local
  emulator and the schedulers behind IRI report walltime kills. A ``completed`` job with a non-zero
  exit code is ``FAILED``.
* **Submit without duplicates.** Every submit carries a tag in
  ``environment["FACILITY_SUBMIT_TAG"]`` (the caller's own, if the spec already has one, so a
  retried Airflow task can find its job again); v2 also sends it as ``Idempotency-Key``. After an
  ambiguous failure (no answer, 502, 504) the backend lists the resource's jobs with their specs
  and returns the one carrying the tag; only when none does is the job sent again, at most
  ``SUBMIT_ATTEMPTS`` times in all. After a failure that leaves the server possibly still at work
  (a read timeout, 504) and no idempotency key, the job is not sent again: the submit raises
  :class:`JobSubmissionError` saying the outcome is unknown, and the next submit of the same tag
  looks for the job first. A success answer that cannot be read counts as a lost one: the job
  may exist, so it is looked for and never called refused. :meth:`IRIBackend.find_job_by_tag`
  offers the same look-up to a caller with a new client (a retried Airflow task). A job just
  submitted that the API does not show yet is PENDING.
* **Outages.** The incidents endpoint's ``from``/``to`` filters select incidents *contained* in the
  window (started after ``from``, resolved before ``to``), which would hide an outage that is
  already under way or runs past the window, so the window is applied here by overlap instead.
  Incidents whose resolution is ``cancelled`` never happened and are skipped; a ``completed``
  incident without an ``end`` ends at its ``last_modified``.
* **Filesystem tasks.** Every filesystem call returns a task; the method polls ``GET /task/{id}``
  every ``task_poll_interval`` seconds for at most ``task_timeout`` seconds.
* **Job updates.** ``update_job`` PUTs the whole new JobSpec (retried like a read, without an
  ``Idempotency-Key``); a refusal (``409`` once the job has started, or another 4xx) raises
  :class:`JobSubmissionError` with the facility's message.
* **Checksums** are returned as ``"<algorithm>:<hex>"`` with the algorithm lowercased and without
  dashes (the API's ``SHA-256`` becomes ``sha256``). **Compression** is sent as v1's enum name
  (``gzip``) or v2's URN (``urn:doe-iri:compression:gzip``).
* **IRI-only calls** (``facility_info``, ``sites``, ``site``, ``events``, ``event``, ``incident``,
  ``compute_resources``, ``filesystem_resources``, ``tasks``, ``get_task``, ``delete_task``) are
  methods of :class:`IRIBackend` outside the generic contract. Facility, site, event and task
  documents have no shared model and are returned as the plain dicts the API serves, after a
  shape check (an object with an ``id``; a task's ``status`` one of the spec's).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import logging
import os
import posixpath
import re
import stat as stat_module
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import anyio
import anyio.to_thread
import httpx

from ..errors import (
    APIError,
    ConfigurationError,
    FacilityError,
    InvalidJobSpec,
    JobSubmissionError,
    NotFoundError,
    ServerError,
    TransportError,
    UnsupportedOperation,
    WaitTimeout,
)
from ..http import parse_retry_after
from ..models import FileEntry, Job, JobSpec, JobState, Outage, ResourceState, ResourceStatus
from ..options import BackendOptions, about
from .base import Capability, FacilityBackend, ProgressCallback
from .states import IRI_STATES, settle_exit_code, translate_state
from .submit_guard import SubmitMemory, may_still_be_working, newest, outcome_unknown

__all__ = [
    "IRI_FILE_LIMIT",
    "SUBMIT_TAG_VARIABLE",
    "IRIBackend",
    "IRIOptions",
    "IRIRequest",
]

logger = logging.getLogger("facility_common.backends.iri")

FACILITY = "iri"
IRI_FILE_LIMIT = 5 * 1024 * 1024
"""Largest file the small upload/download/view operations move (5 MiB, per the spec)."""
SUBMIT_TAG_VARIABLE = "FACILITY_SUBMIT_TAG"
"""Environment variable stamped on every submitted job so it can be found after a lost answer."""
PROJECT_HEADER = "X-IRI-Facility-Project"
IDEMPOTENCY_HEADER = "Idempotency-Key"

SUBMIT_ATTEMPTS = 3
PAGE_LIMIT = 1000
MAX_PAGES = 100
MAX_CONFLICT_WAITS = 10
RESOURCE_CACHE_SECONDS = 300.0
_AMBIGUOUS_STATUSES = frozenset({502, 504})
_PLANNED_TYPES = frozenset({"planned", "reservation"})
_WALLTIME_MESSAGE = re.compile(r"wall\s*-?\s*time|time\s*limit|timed\s*out|\btime-?out\b", re.IGNORECASE)
_WALLTIME_NATIVE = frozenset({"TIMEOUT", "DEADLINE"})
_NOT_FOUND_MESSAGE = re.compile(r"not\s+found|no\s+such\s+file|does\s+not\s+exist", re.IGNORECASE)
_TOO_LARGE_MESSAGE = re.compile(r"too\s+large|exceed|larger\s+than|size\s+limit", re.IGNORECASE)
_IS_DIRECTORY_MESSAGE = re.compile(r"is\s+a\s+directory", re.IGNORECASE)
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.IGNORECASE)
_VERSION_IN_URL = re.compile(r"/(v\d+)/?$")

# status.meta_data keys that carry a job's timestamps (epoch seconds or ISO 8601), by deployment.
_SUBMITTED_KEYS = ("submitted", "submitted_at", "submit_time", "submission_time", "queued_at", "qtime")
_STARTED_KEYS = ("started", "started_at", "start_time", "stime")
_FINISHED_KEYS = ("finished", "finished_at", "end_time", "completed_at", "finish_time")


# -- requests ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IRIRequest:
    """One API call, as built by a ``_build_<op>`` function: what ``ApiSession.request`` sends."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] | None = None
    idempotent: bool | None = None
    ok: tuple[int, ...] = (200, 201, 202, 204)


def _q(value: str) -> str:
    """Quote one path segment (job ids may hold dots, never slashes)."""
    return quote(str(value), safe="")


def _api_version(base_url: str, api_version: str | None) -> str:
    """``"v1"`` or ``"v2"``: the explicit choice, else the URL's trailing ``/vN``, else v1."""
    if api_version is None:
        match = _VERSION_IN_URL.search(urlsplit(base_url).path) if isinstance(base_url, str) else None
        api_version = match.group(1) if match else "v1"
    version = str(api_version).strip().lower()
    if not version.startswith("v"):
        version = "v" + version
    if version not in ("v1", "v2"):
        raise ConfigurationError(
            f"api_version: {api_version!r} is not supported (use 'v1' or 'v2')", facility=FACILITY
        )
    return version


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _build_resources(offset: int = 0, limit: int = PAGE_LIMIT) -> IRIRequest:
    """:calls: GET /status/resources"""
    return IRIRequest("GET", "status/resources", params={"offset": offset, "limit": limit})


def _build_resource(resource_id: str) -> IRIRequest:
    """:calls: GET /status/resources/{resource_id}"""
    return IRIRequest("GET", f"status/resources/{_q(resource_id)}")


def _build_incidents(resource_id: str | None, offset: int = 0, limit: int = PAGE_LIMIT) -> IRIRequest:
    """:calls: GET /status/incidents (no from/to: they filter by containment, see module doc)"""
    return IRIRequest(
        "GET",
        "status/incidents",
        params={"resource_id": resource_id, "offset": offset, "limit": limit},
    )


def _build_incident(incident_id: str) -> IRIRequest:
    """:calls: GET /status/incidents/{incident_id}"""
    return IRIRequest("GET", f"status/incidents/{_q(incident_id)}")


def _build_events(
    *,
    resource_id: str | None = None,
    incident_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    offset: int = 0,
    limit: int = PAGE_LIMIT,
) -> IRIRequest:
    """:calls: GET /status/events (``from``/``to`` bound ``occurred_at``; events are instants)"""
    return IRIRequest(
        "GET",
        "status/events",
        params={
            "resource_id": resource_id,
            "incident_id": incident_id,
            "from": _iso(start) if start is not None else None,
            "to": _iso(end) if end is not None else None,
            "offset": offset,
            "limit": limit,
        },
    )


def _build_event(event_id: str) -> IRIRequest:
    """:calls: GET /status/events/{event_id}"""
    return IRIRequest("GET", f"status/events/{_q(event_id)}")


def _build_facility() -> IRIRequest:
    """:calls: GET /facility"""
    return IRIRequest("GET", "facility")


def _build_sites(offset: int = 0, limit: int = PAGE_LIMIT) -> IRIRequest:
    """:calls: GET /facility/sites"""
    return IRIRequest("GET", "facility/sites", params={"offset": offset, "limit": limit})


def _build_site(site_id: str) -> IRIRequest:
    """:calls: GET /facility/sites/{site_id}"""
    return IRIRequest("GET", f"facility/sites/{_q(site_id)}")


def _build_compute_resources() -> IRIRequest:
    """:calls: GET /compute/resources"""
    return IRIRequest("GET", "compute/resources")


def _build_filesystem_resources(api_version: str) -> IRIRequest:
    """:calls: GET /filesystem/resources (v1) | POST /filesystem/resources (v2, no body; a read)"""
    if api_version == "v1":
        return IRIRequest("GET", "filesystem/resources")
    return IRIRequest("POST", "filesystem/resources", idempotent=True)


def _idempotency_key() -> str:
    """A fresh client-generated UUID (what the spec asks for), one per ``submit`` call.

    Every re-send within the call carries it, so the server never creates the job twice for one
    call. It is not derived from the tag: a later call with the same tag (a cleared Airflow task
    running again) must be able to create a new job, and one that may duplicate an earlier call's
    job looks for the tag first.
    """
    return str(uuid.uuid4())


def _new_tag() -> str:
    return uuid.uuid4().hex


def _refuse_script(spec: JobSpec) -> None:
    if spec.script is not None:
        raise InvalidJobSpec(
            "script: the IRI Facility API runs an executable with arguments, not a batch script; "
            'use executable="/bin/bash", arguments=["-c", script]',
            field="script",
            facility=FACILITY,
        )


def _render_job_spec(spec: JobSpec, *, tag: str | None, account: str | None) -> dict[str, Any]:
    """Our JobSpec as the IRI JobSpec body (which allows no extra keys); ``tag`` is stamped on
    the environment as ``FACILITY_SUBMIT_TAG`` when given."""
    _refuse_script(spec)
    body: dict[str, Any] = {"executable": spec.executable}
    if spec.arguments:
        body["arguments"] = list(spec.arguments)
    for name in ("name", "directory", "stdin_path", "stdout_path", "stderr_path"):
        value = getattr(spec, name)
        if value is not None:
            body[name] = value
    environment = dict(spec.environment)
    if tag is not None:
        environment[SUBMIT_TAG_VARIABLE] = tag
    if environment:
        body["environment"] = environment
    resources = spec.resources.to_dict()
    if resources:
        body["resources"] = resources
    attributes = spec.attributes.to_dict()
    if account is not None:
        attributes["account"] = account
    if attributes:
        body["attributes"] = attributes
    return body


def _account_and_headers(
    spec: JobSpec, api_version: str, project: str | None
) -> tuple[str | None, dict[str, str]]:
    """Where the project to charge goes: v1 fills ``attributes.account`` from ``project`` when the
    spec names none; v2 wants exactly one of ``attributes.account`` and the
    ``X-IRI-Facility-Project`` header, and with neither the spec is refused before any request."""
    headers: dict[str, str] = {}
    account: str | None = None
    if api_version == "v1":
        if spec.attributes.account is None and project:
            account = project
    elif spec.attributes.account is None:
        if not project:
            raise InvalidJobSpec(
                "attributes.account: IRI v2 needs the project to charge, in attributes.account or "
                "through the backend's project option (sent as X-IRI-Facility-Project)",
                field="attributes.account",
                facility=FACILITY,
            )
        headers[PROJECT_HEADER] = project
    return account, headers


def _build_submit(
    resource_id: str,
    spec: JobSpec,
    *,
    tag: str,
    api_version: str,
    project: str | None = None,
    idempotency_key: str | None = None,
) -> IRIRequest:
    """:calls: POST /compute/job/{resource_id}

    v1: ``project`` fills ``attributes.account`` when the spec has none. v2: the account must be in
    exactly one place, ``attributes.account`` or the ``X-IRI-Facility-Project`` header (from
    ``project``); with neither the spec is refused here, before any request.
    """
    _refuse_script(spec)
    account, headers = _account_and_headers(spec, api_version, project)
    body = _render_job_spec(spec, tag=tag, account=account)
    if api_version == "v2" and idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    ok = (200, 201, 202, 409) if api_version == "v2" else (200, 201, 202)
    return IRIRequest("POST", f"compute/job/{_q(resource_id)}", json=body, headers=headers or None, ok=ok)


def _build_get_job(resource_id: str, job_id: str) -> IRIRequest:
    """:calls: GET /compute/status/{resource_id}/{job_id}"""
    return IRIRequest(
        "GET",
        f"compute/status/{_q(resource_id)}/{_q(job_id)}",
        params={"historical": True, "include_spec": True},
    )


def _build_list_jobs(
    resource_id: str, job_ids: Sequence[str] | None = None, offset: int = 0, limit: int = PAGE_LIMIT
) -> IRIRequest:
    """:calls: POST /compute/status/{resource_id} (a read, so safe to retry)"""
    return IRIRequest(
        "POST",
        f"compute/status/{_q(resource_id)}",
        params={"historical": True, "include_spec": True, "offset": offset, "limit": limit},
        json={"job_ids": list(job_ids)} if job_ids is not None else None,
        idempotent=True,
    )


def _build_cancel(resource_id: str, job_id: str) -> IRIRequest:
    """:calls: DELETE /compute/cancel/{resource_id}/{job_id}"""
    return IRIRequest("DELETE", f"compute/cancel/{_q(resource_id)}/{_q(job_id)}")


def _build_update_job(
    resource_id: str,
    job_id: str,
    spec: JobSpec,
    *,
    api_version: str,
    project: str | None = None,
) -> IRIRequest:
    """:calls: PUT /compute/job/{resource_id}/{job_id}

    The body is the whole new JobSpec (the account rules are those of submit). A PUT replaces the
    description, so sending it twice is harmless and it is retried like a read. No
    ``Idempotency-Key`` is sent on v2, so a ``409`` can only mean the job can no longer change.
    The environment carries ``FACILITY_SUBMIT_TAG`` only when the caller's spec does.
    """
    _refuse_script(spec)
    account, headers = _account_and_headers(spec, api_version, project)
    tag = spec.environment.get(SUBMIT_TAG_VARIABLE)
    body = _render_job_spec(spec, tag=tag, account=account)
    return IRIRequest(
        "PUT",
        f"compute/job/{_q(resource_id)}/{_q(job_id)}",
        json=body,
        headers=headers or None,
        idempotent=True,
        ok=(200, 201, 202),
    )


def _build_task(task_id: str) -> IRIRequest:
    """:calls: GET /task/{task_id}"""
    return IRIRequest("GET", f"task/{_q(task_id)}")


def _build_tasks() -> IRIRequest:
    """:calls: GET /task"""
    return IRIRequest("GET", "task")


def _build_delete_task(task_id: str) -> IRIRequest:
    """:calls: DELETE /task/{task_id} (answers a confirmation string)"""
    return IRIRequest("DELETE", f"task/{_q(task_id)}")


# v1 passes the arguments of reads (and rm) as query parameters and those of writes as JSON bodies;
# v2 POSTs a JSON body for every operation. Upload sends the file as multipart in both.
_FS_V1: Mapping[str, tuple[str, str]] = {
    "ls": ("GET", "query"),
    "stat": ("GET", "query"),
    "head": ("GET", "query"),
    "tail": ("GET", "query"),
    "view": ("GET", "query"),
    "download": ("GET", "query"),
    "rm": ("DELETE", "query"),
    "mkdir": ("POST", "json"),
    "mv": ("POST", "json"),
    "cp": ("POST", "json"),
    "chmod": ("PUT", "json"),
    "chown": ("PUT", "json"),
    "upload": ("POST", "query"),
    "file": ("GET", "query"),
    "checksum": ("GET", "query"),
    "symlink": ("POST", "json"),
    "compress": ("POST", "json"),
    "extract": ("POST", "json"),
}
_FS_RETRY_SAFE = frozenset(
    {"ls", "stat", "head", "tail", "view", "download", "chmod", "chown", "file", "checksum"}
)
COMPRESSIONS = ("none", "gzip", "bzip2", "xz")
"""Compression names of the ``compress``/``extract`` operations (v1's ``CompressionType`` enum)."""
_COMPRESSION_URN = "urn:doe-iri:compression:"


def _compression_value(api_version: str, compression: str) -> str:
    """``compression`` as the version's spec wants it: v1 the enum name (``gzip``), v2 the URN
    (``urn:doe-iri:compression:gzip``). Either form is accepted."""
    text = str(compression).strip().lower()
    name = text[len(_COMPRESSION_URN) :] if text.startswith(_COMPRESSION_URN) else text
    if name not in COMPRESSIONS:
        raise InvalidJobSpec(
            f"compression: must be one of {', '.join(COMPRESSIONS)}, got {compression!r}",
            field="compression",
            facility=FACILITY,
        )
    return name if api_version == "v1" else _COMPRESSION_URN + name


def _build_fs(api_version: str, op: str, resource_id: str, args: Mapping[str, Any]) -> IRIRequest:
    """:calls: GET|PUT|POST|DELETE /filesystem/{op}/{resource_id} (v1), POST ... (v2)

    A ``compression`` argument is rendered per version (see :func:`_compression_value`).
    """
    if op not in _FS_V1:
        raise ValueError(f"unknown filesystem operation {op!r}")
    values = {k: v for k, v in args.items() if v is not None}
    if "compression" in values:
        values["compression"] = _compression_value(api_version, values["compression"])
    path = f"filesystem/{op}/{_q(resource_id)}"
    if op == "upload":
        return IRIRequest("POST", path, params=values)
    idempotent = op in _FS_RETRY_SAFE or (op == "mkdir" and bool(values.get("parent")))
    if api_version == "v1":
        method, where = _FS_V1[op]
        if where == "query":
            return IRIRequest(method, path, params=values, idempotent=idempotent)
        return IRIRequest(method, path, json=values, idempotent=idempotent)
    return IRIRequest("POST", path, json=values, idempotent=idempotent)


# -- parsing ----------------------------------------------------------------------------------


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


def _find_tagged(data: Any, tag: str, resource: str) -> Job | None:
    """The newest job of a listing whose spec carries ``tag``, if any."""
    return newest(
        _parse_job(item, resource) for item in _items(data) if "id" in item and _job_tag(item) == tag
    )


def _parse_task_submit(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("task_id", "id"):
            if data.get(key):
                return str(data[key])
    raise ValueError("the answer names no task_id")


def _task_output(result: Any) -> Any:
    """A task's ``result`` without its ``{"output": ...}`` envelope."""
    if isinstance(result, dict) and "output" in result:
        return result["output"]
    return result


def _task_error_text(task: Mapping[str, Any]) -> str:
    result = task.get("result")
    if isinstance(result, dict):
        for key in ("error", "detail", "message", "output", "reason"):
            value = result.get(key)
            if isinstance(value, str) and value:
                return value
        return str(result) if result else ""
    if isinstance(result, str):
        return result
    for key in ("message", "error", "detail"):
        value = task.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _task_failure(task: Mapping[str, Any], *, op: str, path: str, resource: str) -> FacilityError:
    """The exception for a task that ended ``failed`` or ``canceled``."""
    status = task.get("status")
    text = _task_error_text(task)
    message = f"{op} {path} on {resource}: task {task.get('id')} {status}" + (f": {text}" if text else "")
    if status == "failed" and _NOT_FOUND_MESSAGE.search(text):
        return NotFoundError(message, facility=FACILITY, resource=resource)
    if status == "failed" and op in ("download", "view") and _TOO_LARGE_MESSAGE.search(text):
        return UnsupportedOperation(
            f"{message}. The IRI API moves at most {IRI_FILE_LIMIT} bytes per call; "
            "use Globus for larger files.",
            facility=FACILITY,
            resource=resource,
        )
    return APIError(message, facility=FACILITY, resource=resource)


_LS_TYPES = {
    "d": "directory",
    "dir": "directory",
    "directory": "directory",
    "-": "file",
    "f": "file",
    "file": "file",
    "regular": "file",
    "l": "symlink",
    "link": "symlink",
    "symlink": "symlink",
}


def _permissions(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[1:] if len(value) == 10 else value


def _parse_ls_entry(item: Mapping[str, Any], directory: str) -> FileEntry:
    name = str(item.get("name", ""))
    kind = str(item.get("type") or "").strip().lower()
    return FileEntry(
        name=posixpath.basename(name.rstrip("/")) or name,
        path=posixpath.join(directory, name),
        type=_LS_TYPES.get(kind, "other"),
        size=_to_int(item.get("size")),
        permissions=_permissions(item.get("permissions")),
        user=item.get("user"),
        group=item.get("group"),
        modified_at=_to_datetime(item.get("last_modified", item.get("lastModified"))),
        link_target=item.get("link_target", item.get("linkTarget")) or None,
    )


def _parse_ls(result: Any, directory: str) -> list[FileEntry]:
    output = _task_output(result)
    if not isinstance(output, list):
        raise ValueError("ls answered no list of entries")
    return [_parse_ls_entry(item, directory) for item in output if isinstance(item, dict)]


def _parse_stat(result: Any, path: str) -> FileEntry:
    """A stat result: either ``os.stat`` fields (``mode``, ``size``, ``mtime``...) or an ls entry."""
    output = _task_output(result)
    if isinstance(output, list) and len(output) == 1 and isinstance(output[0], dict):
        output = output[0]
    if not isinstance(output, dict):
        raise ValueError("stat answered no object")
    name = posixpath.basename(path.rstrip("/")) or path
    if "mode" not in output and "type" in output:
        entry = _parse_ls_entry({**output, "name": output.get("name") or name}, posixpath.dirname(path))
        return dataclasses.replace(entry, name=name, path=path)
    mode = _to_int(output.get("mode"))
    kind = "other"
    permissions = None
    if mode is not None:
        if stat_module.S_ISDIR(mode):
            kind = "directory"
        elif stat_module.S_ISREG(mode):
            kind = "file"
        elif stat_module.S_ISLNK(mode):
            kind = "symlink"
        permissions = stat_module.filemode(mode)[1:]
    uid, gid = output.get("uid"), output.get("gid")
    return FileEntry(
        name=name,
        path=path,
        type=kind,
        size=_to_int(output.get("size")),
        permissions=permissions,
        user=str(uid) if uid is not None else None,
        group=str(gid) if gid is not None else None,
        modified_at=_to_datetime(output.get("mtime")),
    )


def _parse_content(result: Any) -> str:
    """The text of a head/tail/view result (``{content, content_type, ...}`` or a bare string)."""
    output = _task_output(result)
    if isinstance(output, str):
        return output
    if isinstance(output, dict) and isinstance(output.get("content"), str):
        if _is_base64(output):
            return _b64(output["content"]).decode("utf-8", errors="replace")
        return str(output["content"])
    raise ValueError("the answer holds no file content")


def _is_base64(data: Mapping[str, Any]) -> bool:
    for key in ("encoding", "content_encoding", "contentEncoding", "transfer_encoding"):
        value = data.get(key)
        if isinstance(value, str) and value.strip().lower() in ("base64", "b64"):
            return True
    return data.get("base64") is True or data.get("is_base64") is True


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _parse_download(result: Any) -> bytes:
    """Bytes of a download result: a string is the file's text; a dict carries base64 content
    (``content`` with ``encoding: base64``, or ``content_base64``/``data``) or plain ``content``."""
    output = _task_output(result)
    if isinstance(output, str):
        return output.encode("utf-8")
    if isinstance(output, dict):
        for key in ("content_base64", "base64_content", "data_base64", "data"):
            value = output.get(key)
            if isinstance(value, str):
                return _b64(value)
        content = output.get("content")
        if isinstance(content, str):
            return _b64(content) if _is_base64(output) else content.encode("utf-8")
    raise ValueError("the download result holds no content")


_HEX = re.compile(r"^[0-9a-fA-F]+$")


def _algorithm_name(value: str) -> str:
    """``SHA-256`` -> ``sha256``, ``sha_512`` -> ``sha512``: lowercase, no dashes or underscores."""
    return re.sub(r"[-_\s]", "", value).lower()


def _parse_checksum(result: Any) -> str:
    """A checksum result as ``"<algorithm>:<hex digest>"``. The spec's operation computes SHA-256;
    answers come as ``{algorithm, checksum}`` (also ``hash``/``digest``/``value``), as a bare
    digest, as ``"<algorithm>:<digest>"`` or as ``sha256sum`` output (``"<digest>  <path>"``)."""
    output = _task_output(result)
    algorithm = "sha256"
    digest: Any = None
    if isinstance(output, dict):
        for key in ("algorithm", "algo", "hash_type", "type"):
            if isinstance(output.get(key), str) and output[key].strip():
                algorithm = _algorithm_name(output[key])
                break
        for key in ("checksum", "hash", "digest", "value"):
            if isinstance(output.get(key), str):
                digest = output[key]
                break
    elif isinstance(output, str):
        digest = output
    if not isinstance(digest, str) or not digest.strip():
        raise ValueError("the checksum result holds no digest")
    text = digest.strip().split()[0]
    if ":" in text:
        named, text = text.split(":", 1)
        algorithm = _algorithm_name(named)
    if not algorithm or not _HEX.match(text):
        raise ValueError(f"the checksum result {digest!r} is not a hex digest")
    return f"{algorithm}:{text.lower()}"


def _parse_file_type(result: Any, path: str) -> str:
    """What ``file`` says of ``path``: the result's text (or its ``type``/``file_type``/
    ``description`` field) without the ``"<path>: "`` prefix the ``file`` command prints."""
    output = _task_output(result)
    if isinstance(output, dict):
        output = next(
            (output[key] for key in ("type", "file_type", "description", "content") if key in output),
            None,
        )
    if not isinstance(output, str) or not output.strip():
        raise ValueError("the file result holds no type description")
    text = output.strip()
    prefix = f"{path}: "
    return text[len(prefix) :].strip() if text.startswith(prefix) else text


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


_TASK_STATUSES = frozenset({"pending", "active", "completed", "failed", "canceled"})


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


def _pick_output_file(entries: Sequence[FileEntry], job_id: str, stream: str) -> FileEntry | None:
    """In a directory given as stdout/stderr path, the job's file: PBS ``<name>.o<seq>`` /
    ``<name>.e<seq>``, or a file naming the job id and out/err."""
    sequence = job_id.split(".", 1)[0]
    letter = "o" if stream == "stdout" else "e"
    word = "out" if stream == "stdout" else "err"
    files = [entry for entry in entries if entry.type != "directory"]
    for entry in files:
        if entry.name.endswith(f".{letter}{sequence}"):
            return entry
    for entry in files:
        if sequence in entry.name and word in entry.name.lower():
            return entry
    return None


# -- local files ------------------------------------------------------------------------------


def _read_local(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".part", delete=False
    ) as handle:
        temp_name = handle.name
    try:
        with open(temp_name, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


# -- backend ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class IRIOptions(BackendOptions):
    """Options of the IRI backend."""

    api_version: str | None = dataclasses.field(
        default=None, metadata=about("v1 or v2; default: read from the base URL's trailing /v1 or /v2.")
    )
    project: str | None = dataclasses.field(
        default=None, metadata=about("Project (account) charged for jobs that name none.")
    )
    task_timeout: float = dataclasses.field(
        default=300.0, metadata=about("Longest wait for one filesystem task, in seconds.")
    )
    task_poll_interval: float = dataclasses.field(
        default=0.2, metadata=about("Pause between looks at a filesystem task, in seconds.")
    )


class IRIBackend(FacilityBackend):
    """The DOE IRI Facility API, v1 or v2, at one facility.

    ``base_url`` includes the version (``https://api.alcf.anl.gov/api/v1``); ``api_version``
    defaults from its trailing ``/v1``/``/v2``. ``project`` is the account to charge when a
    JobSpec names none (v1: ``attributes.account``; v2: the ``X-IRI-Facility-Project`` header).
    No network call happens before the first operation.
    """

    name: ClassVar[str] = "iri"
    facility_label: ClassVar[str] = "IRI Facility API"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {Capability.STATUS, Capability.OUTAGES, Capability.JOBS, Capability.JOB_OUTPUT, Capability.FILES}
    )
    unsupported_hint: ClassVar[str] = (
        "It offers status, compute jobs and small (<= 5 MiB) file operations; use Globus for transfers."
    )

    Options: ClassVar[type[BackendOptions]] = IRIOptions
    options: IRIOptions

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        options: IRIOptions | None = None,
        **values: Any,
    ) -> None:
        super().__init__(base_url=base_url, auth=auth, options=options, **values)
        self.facility = FACILITY
        self.api_version = _api_version(base_url, self.options.api_version)
        self.project = self.options.project
        self.task_timeout = self.options.task_timeout
        self.task_poll_interval = self.options.task_poll_interval
        # Pauses before each look-up of a submit whose answer was lost (a job may show up late).
        self.submit_lookup_delays = self.options.submit_lookup_delays
        self._session = self.options.session(FACILITY, base_url, auth)
        self.base_url = self._session.base_url
        self._ids_by_name: dict[str, str] = {}
        self._names_by_id: dict[str, str] = {}
        self._resources_loaded_at: float | None = None
        self._resources_lock: anyio.Lock | None = None  # made in the event loop that first needs it
        self._idempotency_supported = True
        self._memory = SubmitMemory(
            visibility_grace=self.options.visibility_grace, settle_window=self.options.settle_window
        )

    def __repr__(self) -> str:
        return f"IRIBackend(base_url={self.base_url!r}, api_version={self.api_version!r})"

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._session.aclose()

    def describe(self) -> dict[str, Any]:
        """Connection facts safe to show (no credentials)."""
        return {
            **super().describe(),
            "base_url": self.base_url,
            "api_version": self.api_version,
            "project": self.project,
        }

    # -- plumbing -------------------------------------------------------------------------------

    async def _send(
        self, request: IRIRequest, *, resource: str | None = None, **extra: Any
    ) -> httpx.Response:
        return await self._session.request(
            request.method,
            request.path,
            resource=resource,
            params=request.params,
            json=request.json,
            headers=request.headers,
            idempotent=request.idempotent,
            ok=request.ok,
            **extra,
        )

    async def _call(self, request: IRIRequest, *, resource: str | None = None, **extra: Any) -> Any:
        response = await self._send(request, resource=resource, **extra)
        return self._session.json(response, resource=resource)

    def _bad_answer(self, what: str, exc: Exception, resource: str | None) -> APIError:
        return APIError(f"{what}: unusable answer ({exc})", facility=FACILITY, resource=resource)

    async def _pages(
        self, build: Callable[[int], IRIRequest], *, resource: str | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a paged collection; stops on a short page or a page seen before."""
        items: list[dict[str, Any]] = []
        previous: list[Any] | None = None
        for page in range(MAX_PAGES):
            request = build(page * PAGE_LIMIT)
            data = await self._call(request, resource=resource)
            try:
                batch = _items(data)
            except ValueError as exc:
                raise self._bad_answer(f"{request.method} {request.path}", exc, resource) from None
            keys = [item.get("id") for item in batch]
            if keys and keys == previous:
                break  # the server ignores offset
            items.extend(batch)
            if len(batch) < PAGE_LIMIT:
                break
            previous = keys
        return items

    def _remember(self, resources: Iterable[ResourceStatus]) -> None:
        for item in resources:
            self._ids_by_name[item.name] = item.id
            self._names_by_id[item.id] = item.name

    async def _load_resources(self) -> list[ResourceStatus]:
        try:
            resources = _parse_resources(await self._pages(lambda offset: _build_resources(offset)))
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET /status/resources", exc, None) from None
        self._remember(resources)
        self._resources_loaded_at = time.monotonic()
        return resources

    def _lookup(self, key: str) -> tuple[str, str] | None:
        if key in self._ids_by_name:
            return self._ids_by_name[key], key
        if key in self._names_by_id:
            return key, self._names_by_id[key]
        folded = [name for name in self._ids_by_name if name.casefold() == key.casefold()]
        if len(folded) == 1:
            return self._ids_by_name[folded[0]], folded[0]
        return None

    async def _resolve(self, resource: str) -> tuple[str, str]:
        """``(resource_id, resource_name)`` for a name or id; the resource list is fetched once and
        again only when a key is unknown and the list is older than ``RESOURCE_CACHE_SECONDS``."""
        found = self._lookup(resource)
        if found is not None:
            return found
        if self._resources_lock is None:
            self._resources_lock = anyio.Lock()
        async with self._resources_lock:
            found = self._lookup(resource)
            if found is not None:
                return found
            loaded = self._resources_loaded_at
            if loaded is None or time.monotonic() - loaded > RESOURCE_CACHE_SECONDS:
                await self._load_resources()
                found = self._lookup(resource)
                if found is not None:
                    return found
        if _UUID.match(resource):
            return resource, resource  # an id the status list does not show; the server will judge
        known = ", ".join(sorted(self._ids_by_name)) or "none"
        raise NotFoundError(
            f"unknown resource {resource!r}; the {self.facility_label} knows: {known}",
            facility=FACILITY,
            resource=resource,
        )

    # -- status ---------------------------------------------------------------------------------

    async def resources(self) -> list[ResourceStatus]:
        """Every resource and its current status.

        :calls: GET /status/resources (paged with offset/limit)
        """
        return await self._load_resources()

    async def resource(self, name_or_id: str) -> ResourceStatus:
        """One resource, by name or id.

        :calls: GET /status/resources/{resource_id}
        """
        resource_id, name = await self._resolve(name_or_id)
        data = await self._call(_build_resource(resource_id), resource=name)
        try:
            found = _parse_resource(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer("GET /status/resources/{id}", exc, name) from None
        self._remember([found])
        return found

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Planned and unplanned incidents overlapping ``start..end`` (default: now onwards),
        for one resource or all.

        :calls: GET /status/incidents (with resource_id; paged)
        """
        resource_id: str | None = None
        name: str | None = None
        if resource is not None:
            resource_id, name = await self._resolve(resource)
        elif self._resources_loaded_at is None:
            with contextlib.suppress(FacilityError):
                await self._load_resources()  # only to show resource names; ids do otherwise
        items = await self._pages(lambda offset: _build_incidents(resource_id, offset), resource=name)
        try:
            return _parse_outages(
                items, names=self._names_by_id, resource_id=resource_id, start=start, end=end
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET /status/incidents", exc, name) from None

    # -- jobs -----------------------------------------------------------------------------------

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        """Submit ``spec``; never creates the job twice (see the module docstring).

        :calls: POST /compute/job/{resource_id}; after a lost answer
            POST /compute/status/{resource_id}?historical=true&include_spec=true
        """
        tag = spec.environment.get(SUBMIT_TAG_VARIABLE) or _new_tag()
        request = _build_submit(
            "-", spec, tag=tag, api_version=self.api_version, project=self.project
        )  # validates the spec before any request
        resource_id, name = await self._resolve(resource)
        if self._memory.in_doubt(tag):
            # An earlier submit of this tag may have created the job: look before sending.
            found = self._memory.settle(
                await self._find_submitted(resource_id, name, tag),
                tag=tag,
                facility=FACILITY,
                resource=name,
                variable=SUBMIT_TAG_VARIABLE,
            )
            if found is not None:
                return self._memory.submitted(found)
        last_error: FacilityError | None = None
        idempotency_key = _idempotency_key()
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            request = _build_submit(
                resource_id,
                spec,
                tag=tag,
                api_version=self.api_version,
                project=self.project,
                idempotency_key=idempotency_key if self._idempotency_supported else None,
            )
            try:
                data = await self._submit_once(request, name)
            except (TransportError, APIError) as exc:
                status = exc.status_code
                if status == 501 and request.headers and IDEMPOTENCY_HEADER in request.headers:
                    # v2 servers without an idempotency store answer 501 to the header; the tag
                    # still guards against duplicates.
                    self._idempotency_supported = False
                    continue
                if isinstance(exc, TransportError) or status in _AMBIGUOUS_STATUSES:
                    logger.warning(
                        "submit to %s: %s (attempt %d of %d); looking for job tag %s",
                        name,
                        exc.message,
                        attempt,
                        SUBMIT_ATTEMPTS,
                        tag,
                    )
                    found = await self._find_submitted(resource_id, name, tag)
                    if found is not None:
                        return self._memory.submitted(found)
                    keyed = bool(request.headers and IDEMPOTENCY_HEADER in request.headers)
                    if may_still_be_working(exc) and not keyed:
                        self._memory.doubt(tag)
                        raise outcome_unknown(
                            facility=FACILITY,
                            resource=name,
                            tag=tag,
                            variable=SUBMIT_TAG_VARIABLE,
                            reason=exc.message,
                        ) from None
                    last_error = exc
                    continue
                if status is not None and 200 <= status < 300:
                    return await self._unreadable(resource_id, name, tag, exc.message)
                if status is not None and 400 <= status < 500 and not isinstance(exc, ServerError):
                    raise JobSubmissionError(
                        f"the {self.facility_label} refused the job on {name}: {exc.body or exc.message}",
                        facility=FACILITY,
                        resource=name,
                        status_code=status,
                        body=exc.body,
                    ) from None
                raise
            try:
                return self._memory.submitted(_parse_job(data, name, sent_spec=request.json))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                detail = f"POST /compute/job/{resource_id}: unexpected answer ({type(exc).__name__}: {exc})"
                return await self._unreadable(resource_id, name, tag, detail)
        reason = last_error.message if last_error is not None else "no answer"
        raise JobSubmissionError(
            f"submit to {name} got no usable answer after {SUBMIT_ATTEMPTS} attempts and no job "
            f"tagged {SUBMIT_TAG_VARIABLE}={tag} was found: {reason}",
            facility=FACILITY,
            resource=name,
            status_code=last_error.status_code if last_error is not None else None,
        )

    async def _submit_once(self, request: IRIRequest, name: str) -> Any:
        """Send one submit; on v2 wait out ``409`` (same key still in flight) and send again."""
        for _ in range(MAX_CONFLICT_WAITS):
            response = await self._send(request, resource=name)
            if response.status_code != 409:
                return self._session.json(response, resource=name)
            wait = parse_retry_after(response.headers.get("Retry-After"))
            await anyio.sleep(min(wait if wait is not None else 2.0, self._session.retry.max_retry_after))
        raise JobSubmissionError(
            f"submit to {name}: the facility kept answering 409 (an identical submit is in flight); "
            "the job may exist: submitting the same spec again gets it under the same key",
            facility=FACILITY,
            resource=name,
            status_code=409,
            outcome_unknown=True,
        )

    async def _find_submitted(self, resource_id: str, name: str, tag: str, cause: str = "") -> Job | None:
        """The job carrying ``tag`` after a submit whose answer was lost, looked for over
        ``submit_lookup_delays``; raises an outcome-unknown error when the jobs cannot be listed."""
        for delay in self.submit_lookup_delays:
            if delay:
                await anyio.sleep(delay)
            try:
                found = await self._tagged(resource_id, name, tag)
            except FacilityError as exc:
                self._memory.doubt(tag)
                because = f" ({cause})" if cause else ""
                raise JobSubmissionError(
                    f"submit to {name} may or may not have created a job{because}, and looking for it "
                    f"failed ({exc.message}); search for {SUBMIT_TAG_VARIABLE}={tag} before submitting again",
                    facility=FACILITY,
                    resource=name,
                    outcome_unknown=True,
                ) from None
            if found is not None:
                logger.info("submit to %s: found job %s by its tag after a lost answer", name, found.id)
                return found
        return None

    async def _tagged(self, resource_id: str, name: str, tag: str) -> Job | None:
        """The newest job of the resource's listing whose spec carries ``tag``."""
        items = await self._pages(lambda offset: _build_list_jobs(resource_id, None, offset), resource=name)
        try:
            return _find_tagged(items, tag, name)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer(f"POST /compute/status/{resource_id}", exc, name) from None

    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The newest job, live or finished, whose spec carries ``FACILITY_SUBMIT_TAG=tag``.

        :calls: POST /compute/status/{resource_id}?historical=true&include_spec=true (paged)
        """
        resource_id, name = await self._resolve(resource)
        return await self._tagged(resource_id, name, tag)

    async def _unreadable(self, resource_id: str, name: str, tag: str, detail: str) -> Job:
        """After a submit answered success with a body that cannot be used: the job probably
        exists, so it is looked for by its tag and, when not found, not sent again."""
        reason = f"the answer to the submit could not be read: {detail}"
        found = await self._find_submitted(resource_id, name, tag, reason)
        if found is not None:
            return self._memory.submitted(found)
        self._memory.doubt(tag)
        raise outcome_unknown(
            facility=FACILITY, resource=name, tag=tag, variable=SUBMIT_TAG_VARIABLE, reason=reason
        )

    async def get_job(self, resource: str, job_id: str) -> Job:
        """One job with its spec, current or finished; PENDING for a job submitted here that the
        API does not show yet.

        :calls: GET /compute/status/{resource_id}/{job_id}?historical=true&include_spec=true
        """
        resource_id, name = await self._resolve(resource)
        try:
            data = await self._call(_build_get_job(resource_id, job_id), resource=name)
        except NotFoundError:
            pending = self._memory.pending_view(name, job_id)
            if pending is None:
                raise
            return pending
        try:
            return _parse_job(data, name)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer(f"GET /compute/status/{resource_id}/{job_id}", exc, name) from None

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """The jobs of ``job_ids`` in one call (filtered here too, in case the server ignores the
        filter), or every visible job, paged.

        :calls: POST /compute/status/{resource_id}?historical=true&include_spec=true&limit=1000
            with body ``{"job_ids": [...]}``
        """
        if job_ids is not None and not job_ids:
            return []
        resource_id, name = await self._resolve(resource)
        wanted = [str(job_id) for job_id in job_ids] if job_ids is not None else None
        if wanted is None:
            items = await self._pages(
                lambda offset: _build_list_jobs(resource_id, None, offset), resource=name
            )
        else:
            items = []
            for start in range(0, len(wanted), PAGE_LIMIT):
                chunk = wanted[start : start + PAGE_LIMIT]
                items.extend(await self._ids_pages(resource_id, name, chunk))
        try:
            jobs = _parse_jobs(items, name)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer(f"POST /compute/status/{resource_id}", exc, name) from None
        seen: set[str] = set()
        selected = set(wanted) if wanted is not None else None
        unique: list[Job] = []
        for job in jobs:
            if job.id in seen or (selected is not None and job.id not in selected):
                continue
            seen.add(job.id)
            unique.append(job)
        return unique

    async def _ids_pages(self, resource_id: str, name: str, chunk: list[str]) -> list[dict[str, Any]]:
        """One call for ``chunk``; more pages only if a server that ignores the filter fills one."""
        items: list[dict[str, Any]] = []
        wanted = set(chunk)
        for page in range(MAX_PAGES):
            request = _build_list_jobs(resource_id, chunk, page * PAGE_LIMIT)
            data = await self._call(request, resource=name)
            try:
                batch = _items(data)
            except ValueError as exc:
                raise self._bad_answer(f"POST /compute/status/{resource_id}", exc, name) from None
            items.extend(batch)
            wanted -= {str(item.get("id")) for item in batch}
            if not wanted or len(batch) < PAGE_LIMIT:
                break
        return items

    async def cancel(self, resource: str, job_id: str) -> None:
        """Cancel a job.

        :calls: DELETE /compute/cancel/{resource_id}/{job_id} (204)
        """
        resource_id, name = await self._resolve(resource)
        await self._send(_build_cancel(resource_id, job_id), resource=name)

    async def update_job(self, resource: str, job_id: str, spec: JobSpec) -> Job:
        """Replace the description of a job that has not started (walltime, queue, ...).

        Retried like a read (a PUT replaces). A facility that refuses the change, typically
        with ``409`` because the job already started, raises :class:`JobSubmissionError`
        carrying its message; an unknown job raises :class:`NotFoundError`.

        :calls: PUT /compute/job/{resource_id}/{job_id}
        """
        _build_update_job(
            "-", job_id, spec, api_version=self.api_version, project=self.project
        )  # validates the spec before any request
        resource_id, name = await self._resolve(resource)
        request = _build_update_job(
            resource_id, job_id, spec, api_version=self.api_version, project=self.project
        )
        try:
            data = await self._call(request, resource=name)
        except APIError as exc:
            status = exc.status_code
            if type(exc) is APIError and status is not None and 400 <= status < 500:
                raise JobSubmissionError(
                    f"the {self.facility_label} refused to update job {job_id} on {name}: "
                    f"{exc.body or exc.message}",
                    facility=FACILITY,
                    resource=name,
                    status_code=status,
                    body=exc.body,
                ) from None
            raise
        try:
            return _parse_job(data, name, sent_spec=request.json)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer(f"PUT /compute/job/{resource_id}/{job_id}", exc, name) from None

    async def job_output(
        self, resource: str, job_id: str, stream: str = "stdout", tail: int | None = None
    ) -> str:
        """The job's stdout or stderr (its last ``tail`` lines when given), read from the path
        in the job's spec; a directory path (ALCF allows one) is searched for the job's file.

        :calls: GET /compute/status/{resource_id}/{job_id}, then the filesystem tail or view op
        """
        if stream not in ("stdout", "stderr"):
            raise InvalidJobSpec(f"stream: must be 'stdout' or 'stderr', got {stream!r}", field="stream")
        job = await self.get_job(resource, job_id)
        path = job.stdout_path if stream == "stdout" else job.stderr_path
        if not path:
            raise NotFoundError(
                f"job {job_id} on {job.resource} has no known {stream} path "
                f"(the facility reported no job_spec.{stream}_path)",
                facility=FACILITY,
                resource=job.resource,
            )
        try:
            return await self._read_text(resource, path, tail)
        except APIError as exc:
            if not _IS_DIRECTORY_MESSAGE.search(exc.message):
                raise
        entry = _pick_output_file(await self.ls(resource, path), job_id, stream)
        if entry is None:
            raise NotFoundError(
                f"job {job_id} on {job.resource}: {stream} path {path} is a directory holding no "
                "file of this job",
                facility=FACILITY,
                resource=job.resource,
            )
        return await self._read_text(resource, entry.path, tail)

    async def _read_text(self, resource: str, path: str, tail: int | None) -> str:
        if tail is not None:
            return await self.tail(resource, path, lines=tail)
        return await self.view(resource, path)

    # -- files ----------------------------------------------------------------------------------

    async def _fs(self, op: str, resource: str, path: str, args: Mapping[str, Any]) -> Any:
        """Run one filesystem operation to completion and return its task ``result``."""
        resource_id, name = await self._resolve(resource)
        request = _build_fs(self.api_version, op, resource_id, args)
        data = await self._call(request, resource=name)
        try:
            task_id = _parse_task_submit(data)
        except ValueError as exc:
            raise self._bad_answer(f"{op} {path}", exc, name) from None
        return await self._await_task(task_id, op=op, path=path, resource=name)

    async def _await_task(self, task_id: str, *, op: str, path: str, resource: str) -> Any:
        """Poll ``GET /task/{task_id}`` until it ends, for at most ``task_timeout`` seconds."""
        deadline = time.monotonic() + self.task_timeout
        while True:
            task = await self._call(_build_task(task_id), resource=resource)
            if not isinstance(task, dict):
                raise self._bad_answer(f"GET /task/{task_id}", ValueError("not an object"), resource)
            status = task.get("status")
            if status == "completed":
                return task.get("result")
            if status in ("failed", "canceled"):
                raise _task_failure(task, op=op, path=path, resource=resource)
            if time.monotonic() + self.task_poll_interval > deadline:
                raise WaitTimeout(
                    f"{op} {path} on {resource}: task {task_id} still {status} after {self.task_timeout:g}s",
                    facility=FACILITY,
                    resource=resource,
                )
            await anyio.sleep(self.task_poll_interval)

    def _parsed(self, op: str, path: str, resource: str, parse: Any, *args: Any) -> Any:
        try:
            return parse(*args)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer(f"{op} {path}", exc, resource) from None

    async def ls(self, resource: str, path: str, *, show_hidden: bool = False) -> list[FileEntry]:
        """List a directory.

        :calls: GET /filesystem/ls/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("ls", resource, path, {"path": path, "showHidden": show_hidden})
        entries: list[FileEntry] = self._parsed("ls", path, resource, _parse_ls, result, path)
        return entries

    async def stat(self, resource: str, path: str) -> FileEntry:
        """Facts about one path.

        :calls: GET /filesystem/stat/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("stat", resource, path, {"path": path})
        entry: FileEntry = self._parsed("stat", path, resource, _parse_stat, result, path)
        return entry

    async def mkdir(self, resource: str, path: str, parents: bool = False) -> None:
        """Create a directory (and its parents when asked).

        :calls: POST /filesystem/mkdir/{resource_id}, then GET /task/{task_id}
        """
        await self._fs("mkdir", resource, path, {"path": path, "parent": parents})

    async def rm(self, resource: str, path: str) -> None:
        """Remove a file or directory tree.

        :calls: DELETE /filesystem/rm/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        await self._fs("rm", resource, path, {"path": path})

    async def mv(self, resource: str, source: str, target: str) -> None:
        """Move or rename.

        :calls: POST /filesystem/mv/{resource_id}, then GET /task/{task_id}
        """
        await self._fs("mv", resource, source, {"path": source, "target_path": target})

    async def cp(self, resource: str, source: str, target: str) -> None:
        """Copy a file or directory.

        :calls: POST /filesystem/cp/{resource_id}, then GET /task/{task_id}
        """
        await self._fs("cp", resource, source, {"path": source, "target_path": target})

    async def chmod(self, resource: str, path: str, mode: str) -> None:
        """Change permissions; ``mode`` is octal text such as ``"755"``.

        :calls: PUT /filesystem/chmod/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        mode_text = str(mode).strip()
        if not re.fullmatch(r"0?[0-7]{3,4}", mode_text):
            raise InvalidJobSpec(f"mode: {mode!r} is not an octal mode such as '755'", field="mode")
        await self._fs("chmod", resource, path, {"path": path, "mode": mode_text})

    async def chown(
        self, resource: str, path: str, owner: str | None = None, group: str | None = None
    ) -> None:
        """Change owner and/or group.

        :calls: PUT /filesystem/chown/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        if owner is None and group is None:
            raise InvalidJobSpec("chown: give an owner, a group or both", field="owner")
        await self._fs("chown", resource, path, {"path": path, "owner": owner, "group": group})

    async def symlink(self, resource: str, target: str, link_path: str) -> None:
        """Create the symbolic link ``link_path`` pointing at ``target``.

        :calls: POST /filesystem/symlink/{resource_id} with ``{path, link_path}``,
            then GET /task/{task_id}
        """
        await self._fs("symlink", resource, link_path, {"path": target, "link_path": link_path})

    async def checksum(self, resource: str, path: str) -> str:
        """The file's SHA-256 as ``"sha256:<hex>"`` (the algorithm name as the facility gives it,
        lowercased without dashes).

        :calls: GET /filesystem/checksum/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("checksum", resource, path, {"path": path})
        digest: str = self._parsed("checksum", path, resource, _parse_checksum, result)
        return digest

    async def file_type(self, resource: str, path: str) -> str:
        """What ``file`` says of the path (``"ASCII text"``, ``"directory"``...).

        :calls: GET /filesystem/file/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("file", resource, path, {"path": path})
        text: str = self._parsed("file", path, resource, _parse_file_type, result, path)
        return text

    async def compress(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """Pack ``source`` (a file or directory) into the tar archive ``target``; ``compression``
        is none, gzip, bzip2 or xz (sent as the v1 enum name or the v2 URN).

        :calls: POST /filesystem/compress/{resource_id} with ``{path, target_path, compression}``,
            then GET /task/{task_id}
        """
        args = {"path": source, "target_path": target, "compression": compression}
        _build_fs(self.api_version, "compress", "-", args)  # validates compression before any request
        await self._fs("compress", resource, source, args)

    async def extract(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """Unpack the tar archive ``source`` into the directory ``target``.

        :calls: POST /filesystem/extract/{resource_id} with ``{path, target_path, compression}``,
            then GET /task/{task_id}
        """
        args = {"path": source, "target_path": target, "compression": compression}
        _build_fs(self.api_version, "extract", "-", args)  # validates compression before any request
        await self._fs("extract", resource, source, args)

    async def view(self, resource: str, path: str, offset: int = 0, size: int | None = None) -> str:
        """Up to ``size`` bytes (default and maximum 5 MiB) of a file from ``offset``.

        :calls: GET /filesystem/view/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        size = IRI_FILE_LIMIT if size is None else min(size, IRI_FILE_LIMIT)
        result = await self._fs("view", resource, path, {"path": path, "offset": offset, "size": size})
        text: str = self._parsed("view", path, resource, _parse_content, result)
        return text

    async def head(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """The first ``lines`` lines or ``nbytes`` bytes of a file.

        :calls: GET /filesystem/head/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("head", resource, path, _lines_or_bytes(path, lines, nbytes))
        text: str = self._parsed("head", path, resource, _parse_content, result)
        return text

    async def tail(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """The last ``lines`` lines or ``nbytes`` bytes of a file.

        :calls: GET /filesystem/tail/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("tail", resource, path, _lines_or_bytes(path, lines, nbytes))
        text: str = self._parsed("tail", path, resource, _parse_content, result)
        return text

    async def upload(
        self,
        resource: str,
        local_path: str | os.PathLike[str],
        remote_path: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Upload a local file of at most 5 MiB.

        :calls: POST /filesystem/upload/{resource_id}?path=... (multipart field ``file``),
            then GET /task/{task_id}
        """
        local = os.fspath(local_path)
        size = await anyio.to_thread.run_sync(os.path.getsize, local)
        if size > IRI_FILE_LIMIT:
            raise UnsupportedOperation(
                f"upload of {local} ({size} bytes): the {self.facility_label} uploads at most "
                f"{IRI_FILE_LIMIT} bytes (5 MiB); use Globus for larger files",
                facility=FACILITY,
                resource=resource,
            )
        content = await anyio.to_thread.run_sync(_read_local, local)
        if progress is not None:
            progress(0, len(content))
        resource_id, name = await self._resolve(resource)
        request = _build_fs(self.api_version, "upload", resource_id, {"path": remote_path})
        response = await self._session.request(
            request.method,
            request.path,
            resource=name,
            params=request.params,
            files={"file": (os.path.basename(local), content, "application/octet-stream")},
        )
        data = self._session.json(response, resource=name)
        try:
            task_id = _parse_task_submit(data)
        except ValueError as exc:
            raise self._bad_answer(f"upload {remote_path}", exc, name) from None
        await self._await_task(task_id, op="upload", path=remote_path, resource=name)
        if progress is not None:
            progress(len(content), len(content))

    async def download(
        self,
        resource: str,
        remote_path: str,
        local_path: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Download a remote file of at most 5 MiB; the local file appears whole or not at all.

        :calls: GET /filesystem/download/{resource_id} (v1) | POST (v2), then GET /task/{task_id}
        """
        result = await self._fs("download", resource, remote_path, {"path": remote_path})
        content: bytes = self._parsed("download", remote_path, resource, _parse_download, result)
        await anyio.to_thread.run_sync(_write_atomically, os.fspath(local_path), content)
        if progress is not None:
            progress(len(content), len(content))

    # -- IRI-specific (not in the generic contract) ---------------------------------------------

    async def _object(self, request: IRIRequest, what: str, resource: str | None = None) -> dict[str, Any]:
        data = await self._call(request, resource=resource)
        try:
            return _parse_object(data, what)
        except ValueError as exc:
            raise self._bad_answer(f"{request.method} /{request.path}", exc, resource) from None

    async def facility_info(self) -> dict[str, Any]:
        """The facility's description as served (``id``, ``name``, ``short_name``,
        ``organization_name``, ``support_uri``, ``site_uris``...), a plain dict. (Not named
        ``facility``: that is the contract's deployment label attribute, ``"iri"``.)

        :calls: GET /facility
        """
        return await self._object(_build_facility(), "facility")

    async def sites(self) -> list[dict[str, Any]]:
        """The facility's sites (``id``, ``name``, ``short_name``, address and location fields,
        ``resource_uris``), as plain dicts.

        :calls: GET /facility/sites (paged with offset/limit)
        """
        items = await self._pages(lambda offset: _build_sites(offset))
        try:
            return _parse_objects(items, "site")
        except ValueError as exc:
            raise self._bad_answer("GET /facility/sites", exc, None) from None

    async def site(self, site_id: str) -> dict[str, Any]:
        """One site by id, a plain dict.

        :calls: GET /facility/sites/{site_id}
        """
        return await self._object(_build_site(site_id), "site")

    async def events(
        self,
        resource: str | None = None,
        incident_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Status events (a resource's status changing at ``occurred_at``), oldest first, as plain
        dicts (``id``, ``name``, ``occurred_at``, ``status``, ``resource_uri``, ``incident_uri``),
        optionally of one resource (name or id) and/or one incident, occurring in ``start..end``.

        :calls: GET /status/events?resource_id=&incident_id=&from=&to= (paged with offset/limit)
        """
        resource_id: str | None = None
        name: str | None = None
        if resource is not None:
            resource_id, name = await self._resolve(resource)
        items = await self._pages(
            lambda offset: _build_events(
                resource_id=resource_id, incident_id=incident_id, start=start, end=end, offset=offset
            ),
            resource=name,
        )
        try:
            return _parse_events(items, start=start, end=end)
        except ValueError as exc:
            raise self._bad_answer("GET /status/events", exc, name) from None

    async def event(self, event_id: str) -> dict[str, Any]:
        """One status event by id, a plain dict.

        :calls: GET /status/events/{event_id}
        """
        return await self._object(_build_event(event_id), "event")

    async def incident(self, incident_id: str) -> Outage:
        """One incident by id as an :class:`Outage` (also a cancelled one: ``raw["resolution"]``
        tells), its resources named where the resource list is known.

        :calls: GET /status/incidents/{incident_id}
        """
        data = await self._object(_build_incident(incident_id), "incident")
        if self._resources_loaded_at is None:
            with contextlib.suppress(FacilityError):
                await self._load_resources()  # only to show resource names; ids do otherwise
        try:
            outage = _parse_incident(data, self._names_by_id, keep_cancelled=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer(f"GET /status/incidents/{incident_id}", exc, None) from None
        assert outage is not None  # keep_cancelled never drops one
        return outage

    async def compute_resources(self) -> list[ResourceStatus]:
        """The compute resources the caller may submit to.

        :calls: GET /compute/resources
        """
        return await self._typed_resources(_build_compute_resources())

    async def filesystem_resources(self) -> list[ResourceStatus]:
        """The storage resources the caller may use with the filesystem operations.

        :calls: GET /filesystem/resources (v1) | POST /filesystem/resources (v2)
        """
        return await self._typed_resources(_build_filesystem_resources(self.api_version))

    async def _typed_resources(self, request: IRIRequest) -> list[ResourceStatus]:
        data = await self._call(request)
        try:
            resources = _parse_resources(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer(f"{request.method} /{request.path}", exc, None) from None
        self._remember(resources)
        return resources

    async def tasks(self) -> list[dict[str, Any]]:
        """The caller's tasks (``id``, ``status``, ``result``, ``command``), as plain dicts.

        :calls: GET /task
        """
        data = await self._call(_build_tasks())
        try:
            return [_parse_task(item) for item in _parse_objects(data, "task")]
        except ValueError as exc:
            raise self._bad_answer("GET /task", exc, None) from None

    async def get_task(self, task_id: str) -> dict[str, Any]:
        """One task (``id``, ``status``, ``result``, ``command``), a plain dict.

        :calls: GET /task/{task_id}
        """
        data = await self._call(_build_task(task_id))
        try:
            return _parse_task(data)
        except ValueError as exc:
            raise self._bad_answer(f"GET /task/{task_id}", exc, None) from None

    async def delete_task(self, task_id: str) -> None:
        """Forget a task (a pending one is cancelled first, where the facility does so).

        :calls: DELETE /task/{task_id}
        """
        await self._send(_build_delete_task(task_id))


def _lines_or_bytes(path: str, lines: int | None, nbytes: int | None) -> dict[str, Any]:
    if lines is not None and nbytes is not None:
        raise InvalidJobSpec("give lines or nbytes, not both", field="lines")
    if lines is None and nbytes is None:
        lines = 10
    return {"path": path, "lines": lines, "bytes": nbytes}

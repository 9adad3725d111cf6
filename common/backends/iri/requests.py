"""The IRI Facility API's requests: one pure ``_build_<op>`` function per call.

Each turns arguments into the :class:`~facility_common.http.ApiRequest` the session sends, with
no I/O, so they are tested on their own. Paths are relative to the API root including its
version (``.../api/v1``). Arguments the API would refuse (a batch script, a v2 job naming no
project, an unknown compression) raise :class:`InvalidJobSpec` here, before any request.

**Compression** is sent as v1's enum name (``gzip``) or v2's URN
(``urn:doe-iri:compression:gzip``); either form is accepted from the caller.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ...errors import ConfigurationError, InvalidJobSpec
from ...http import ApiRequest
from ...models import JobSpec
from ...url_paths import path_segment
from ..submit import SUBMIT_TAG_VARIABLE, tagged_environment

FACILITY = "iri"
IRI_FILE_LIMIT = 5 * 1024 * 1024
"""Largest file the small upload/download/view operations move (5 MiB, per the spec)."""
PROJECT_HEADER = "X-IRI-Facility-Project"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PAGE_LIMIT = 1000
"""Items asked for per page of a paged collection."""
COMPRESSIONS = ("none", "gzip", "bzip2", "xz")
"""Compression names of the ``compress``/``extract`` operations (v1's ``CompressionType`` enum)."""

_COMPRESSION_URN = "urn:doe-iri:compression:"
_VERSION_IN_URL = re.compile(r"/(v\d+)/?$")


def _q(value: str, field: str = "resource") -> str:
    """One path segment (an id or a name), written so that it cannot change the route."""
    return path_segment(value, field=field, facility=FACILITY)


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


# -- status and facility ----------------------------------------------------------------------


def _build_resources(offset: int = 0, limit: int = PAGE_LIMIT) -> ApiRequest:
    """:calls: GET /status/resources"""
    return ApiRequest("GET", "status/resources", params={"offset": offset, "limit": limit})


def _build_resource(resource_id: str) -> ApiRequest:
    """:calls: GET /status/resources/{resource_id}"""
    return ApiRequest("GET", f"status/resources/{_q(resource_id)}")


def _build_incidents(resource_id: str | None, offset: int = 0, limit: int = PAGE_LIMIT) -> ApiRequest:
    """:calls: GET /status/incidents (no from/to: they filter by containment, see parsers)"""
    return ApiRequest(
        "GET",
        "status/incidents",
        params={"resource_id": resource_id, "offset": offset, "limit": limit},
    )


def _build_incident(incident_id: str) -> ApiRequest:
    """:calls: GET /status/incidents/{incident_id}"""
    return ApiRequest("GET", f"status/incidents/{_q(incident_id, 'incident_id')}")


def _build_events(
    *,
    resource_id: str | None = None,
    incident_id: str | None = None,
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    offset: int = 0,
    limit: int = PAGE_LIMIT,
) -> ApiRequest:
    """:calls: GET /status/events (``from``/``to`` bound ``occurred_at``; events are instants)"""
    return ApiRequest(
        "GET",
        "status/events",
        params={
            "resource_id": resource_id,
            "incident_id": incident_id,
            "status": status,
            "from": _iso(start) if start is not None else None,
            "to": _iso(end) if end is not None else None,
            "offset": offset,
            "limit": limit,
        },
    )


def _build_event(event_id: str) -> ApiRequest:
    """:calls: GET /status/events/{event_id}"""
    return ApiRequest("GET", f"status/events/{_q(event_id, 'event_id')}")


def _build_facility() -> ApiRequest:
    """:calls: GET /facility"""
    return ApiRequest("GET", "facility")


def _build_sites(offset: int = 0, limit: int = PAGE_LIMIT) -> ApiRequest:
    """:calls: GET /facility/sites"""
    return ApiRequest("GET", "facility/sites", params={"offset": offset, "limit": limit})


def _build_site(site_id: str) -> ApiRequest:
    """:calls: GET /facility/sites/{site_id}"""
    return ApiRequest("GET", f"facility/sites/{_q(site_id, 'site_id')}")


def _build_whoami() -> ApiRequest:
    """:calls: GET /account/whoami (v2 deployments on the reference server's newer releases)"""
    return ApiRequest("GET", "account/whoami")


def _build_compute_resources() -> ApiRequest:
    """:calls: GET /compute/resources"""
    return ApiRequest("GET", "compute/resources")


def _build_filesystem_resources(api_version: str) -> ApiRequest:
    """:calls: GET /filesystem/resources (v1) | POST /filesystem/resources (v2, no body; a read)"""
    if api_version == "v1":
        return ApiRequest("GET", "filesystem/resources")
    return ApiRequest("POST", "filesystem/resources", idempotent=True)


# -- jobs -------------------------------------------------------------------------------------


def _idempotency_key() -> str:
    """A fresh client-generated UUID (what the spec asks for), one per ``submit`` call.

    Every re-send within the call carries it, so the server never creates the job twice for one
    call. It is not derived from the tag: a later call with the same tag (a cleared Airflow task
    running again) must be able to create a new job, and one that may duplicate an earlier call's
    job looks for the tag first.
    """
    return str(uuid.uuid4())


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
    the environment as ``FACILITY_SUBMIT_TAG`` when given, over any value the spec sets."""
    _refuse_script(spec)
    body: dict[str, Any] = {"executable": spec.executable}
    if spec.arguments:
        body["arguments"] = list(spec.arguments)
    for name in ("name", "directory", "stdin_path", "stdout_path", "stderr_path"):
        value = getattr(spec, name)
        if value is not None:
            body[name] = value
    environment = tagged_environment(tag, spec.environment) if tag is not None else dict(spec.environment)
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
    spec: JobSpec, api_version: str, project: str | None, project_header: bool = False
) -> tuple[str | None, dict[str, str]]:
    """Where the project to charge goes when the spec names no ``attributes.account``: into
    ``attributes.account`` from ``project`` (v1 and v2), or on v2 with ``project_header`` into
    the ``X-IRI-Facility-Project`` header instead (the v2 spec wants exactly one of the two and
    calls the header one a gateway sets; the reference server ignores it). A v2 job with no
    project anywhere is refused before any request."""
    headers: dict[str, str] = {}
    account: str | None = None
    if spec.attributes.account is not None or not project:
        if api_version == "v2" and spec.attributes.account is None:
            raise InvalidJobSpec(
                "attributes.account: IRI v2 needs the project to charge, in attributes.account or "
                "through the backend's project option",
                field="attributes.account",
                facility=FACILITY,
            )
        return account, headers
    if api_version == "v2" and project_header:
        headers[PROJECT_HEADER] = project
    else:
        account = project
    return account, headers


def _build_submit(
    resource_id: str,
    spec: JobSpec,
    *,
    tag: str,
    api_version: str,
    project: str | None = None,
    project_header: bool = False,
    idempotency_key: str | None = None,
) -> ApiRequest:
    """:calls: POST /compute/job/{resource_id}

    ``project`` fills ``attributes.account`` when the spec has none (on v2 with
    ``project_header``, the ``X-IRI-Facility-Project`` header instead); a v2 spec with no project
    anywhere is refused here, before any request. With an ``Idempotency-Key`` (v2), ``409``
    (a submit under the same key still in flight) is an answer the caller waits out.
    """
    _refuse_script(spec)
    account, headers = _account_and_headers(spec, api_version, project, project_header)
    body = _render_job_spec(spec, tag=tag, account=account)
    keyed = api_version == "v2" and idempotency_key is not None
    if keyed:
        headers[IDEMPOTENCY_HEADER] = str(idempotency_key)
    ok = (200, 201, 202, 409) if keyed else (200, 201, 202)
    return ApiRequest("POST", f"compute/job/{_q(resource_id)}", json=body, headers=headers or None, ok=ok)


def _build_get_job(resource_id: str, job_id: str) -> ApiRequest:
    """:calls: GET /compute/status/{resource_id}/{job_id}"""
    return ApiRequest(
        "GET",
        f"compute/status/{_q(resource_id)}/{_q(job_id, 'job_id')}",
        params={"historical": True, "include_spec": True},
    )


def _build_list_jobs(
    resource_id: str, job_ids: Sequence[str] | None = None, offset: int = 0, limit: int = PAGE_LIMIT
) -> ApiRequest:
    """:calls: POST /compute/status/{resource_id} (a read, so safe to retry)"""
    return ApiRequest(
        "POST",
        f"compute/status/{_q(resource_id)}",
        params={"historical": True, "include_spec": True, "offset": offset, "limit": limit},
        json={"job_ids": list(job_ids)} if job_ids is not None else None,
        idempotent=True,
    )


def _build_cancel(resource_id: str, job_id: str) -> ApiRequest:
    """:calls: DELETE /compute/cancel/{resource_id}/{job_id}"""
    return ApiRequest("DELETE", f"compute/cancel/{_q(resource_id)}/{_q(job_id, 'job_id')}")


def _build_update_job(
    resource_id: str,
    job_id: str,
    spec: JobSpec,
    *,
    api_version: str,
    project: str | None = None,
    project_header: bool = False,
) -> ApiRequest:
    """:calls: PUT /compute/job/{resource_id}/{job_id}

    The body is the whole new JobSpec (the account rules are those of submit). A PUT replaces the
    description, so sending it twice is harmless and it is retried like a read. No
    ``Idempotency-Key`` is sent on v2, so a ``409`` can only mean the job can no longer change.
    The environment carries ``FACILITY_SUBMIT_TAG`` only when the caller's spec does.
    """
    _refuse_script(spec)
    account, headers = _account_and_headers(spec, api_version, project, project_header)
    tag = spec.environment.get(SUBMIT_TAG_VARIABLE)
    body = _render_job_spec(spec, tag=tag, account=account)
    return ApiRequest(
        "PUT",
        f"compute/job/{_q(resource_id)}/{_q(job_id, 'job_id')}",
        json=body,
        headers=headers or None,
        idempotent=True,
        ok=(200, 201, 202),
    )


# -- tasks ------------------------------------------------------------------------------------


def _build_task(task_id: str) -> ApiRequest:
    """:calls: GET /task/{task_id}"""
    return ApiRequest("GET", f"task/{_q(task_id, 'task_id')}")


def _build_tasks() -> ApiRequest:
    """:calls: GET /task"""
    return ApiRequest("GET", "task")


def _build_delete_task(task_id: str) -> ApiRequest:
    """:calls: DELETE /task/{task_id} (answers a confirmation string)"""
    return ApiRequest("DELETE", f"task/{_q(task_id, 'task_id')}")


# -- filesystem -------------------------------------------------------------------------------

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


def _build_fs(api_version: str, op: str, resource_id: str, args: Mapping[str, Any]) -> ApiRequest:
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
        return ApiRequest("POST", path, params=values)
    idempotent = op in _FS_RETRY_SAFE or (op == "mkdir" and bool(values.get("parent")))
    if api_version == "v1":
        method, where = _FS_V1[op]
        if where == "query":
            return ApiRequest(method, path, params=values, idempotent=idempotent)
        return ApiRequest(method, path, json=values, idempotent=idempotent)
    return ApiRequest("POST", path, json=values, idempotent=idempotent)


def _build_upload(
    api_version: str, resource_id: str, remote_path: str, filename: str, content: bytes
) -> ApiRequest:
    """:calls: POST /filesystem/upload/{resource_id}?path=... (multipart field ``file``)"""
    request = _build_fs(api_version, "upload", resource_id, {"path": remote_path})
    return ApiRequest(
        request.method,
        request.path,
        params=request.params,
        files={"file": (filename, content, "application/octet-stream")},
    )


def _lines_or_bytes(path: str, lines: int | None, nbytes: int | None) -> dict[str, Any]:
    """The arguments of head/tail: ``lines`` or ``nbytes`` (10 lines when neither is given)."""
    if lines is not None and nbytes is not None:
        raise InvalidJobSpec("give lines or nbytes, not both", field="lines")
    if lines is None and nbytes is None:
        lines = 10
    return {"path": path, "lines": lines, "bytes": nbytes}

"""Pure parsers of FirecREST v2 answers.

Every function here is free of I/O so it is tested on recorded payloads
(``tests/payloads/firecrest/``). A body of an unexpected shape is an :class:`APIError` naming the
facility, never a ``KeyError`` from deep inside. Staging URLs (presigned S3 URLs, whose query
string is the credential) are never put into an error: :func:`without_url_queries` strips them
from any text taken from an answer.
"""

from __future__ import annotations

import posixpath
import re
import stat as stat_module
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ...errors import APIError
from ...models import FileEntry, Job, Outage, ResourceState, ResourceStatus
from ..states import PBS_STATES, SLURM_STATES, settle_exit_code, translate_state

__all__ = [
    "DEFAULT_MAX_OPS_FILE_SIZE",
    "S3Download",
    "S3Upload",
    "TransferJob",
    "default_directory",
    "job_id_of",
    "jobs_of",
    "largest_direct_download",
    "largest_view",
    "max_ops_file_size",
    "metadata_of",
    "output_of",
    "parse_checksum",
    "parse_file_entry",
    "parse_job",
    "parse_jobs",
    "parse_outages",
    "parse_s3_download",
    "parse_s3_upload",
    "parse_stat",
    "parse_system",
    "parse_transfer_job",
    "parse_version",
    "scheduler_type",
    "storage_error_text",
    "systems_of",
    "transfer_succeeded",
    "without_url_queries",
]

FACILITY = "firecrest"
DEFAULT_MAX_OPS_FILE_SIZE = 5 * 1024 * 1024
"""FirecREST's default ``max_ops_file_size`` when a system does not say (and the default ``size``
of ``ops/view``)."""

_LS_TYPES = {"-": "file", "d": "directory", "l": "symlink"}
_BAD_SERVICES = frozenset({"scheduler", "ssh", "exception"})
#: What a transfer job prints on success (the data mover's own words, as pyfirecrest reads them).
SUCCESS_MARKERS = (
    "Files were successfully",
    "File was successfully",
    "Multipart file upload successfully completed",
)
_URL_QUERY = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"'<>]*)\?[^\s\"'<>]*")
_XML_FIELD = re.compile(r"<(Code|Message)>([^<]{0,300})</\1>")


def _fail(message: str) -> APIError:
    return APIError(message, facility=FACILITY)


# -- status -------------------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC) if value > 0 else None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_system(system: Mapping[str, Any]) -> ResourceStatus:
    """An ``HPCCluster`` as a resource: UP when every service is healthy, DOWN when the scheduler or
    SSH is not (no job can run), DEGRADED when only storage services are, UNKNOWN without checks."""
    if not isinstance(system, Mapping) or not system.get("name"):
        raise _fail("a system in /status/systems has no name")
    name = str(system["name"])
    health = system.get("servicesHealth") or []
    unhealthy = [h for h in health if isinstance(h, Mapping) and not h.get("healthy", False)]
    if not health:
        state = ResourceState.UNKNOWN
    elif any(h.get("serviceType") in _BAD_SERVICES for h in unhealthy):
        state = ResourceState.DOWN
    elif unhealthy:
        state = ResourceState.DEGRADED
    else:
        state = ResourceState.UP
    messages = "; ".join(str(h["message"]) for h in unhealthy if h.get("message"))
    scheduler = system.get("scheduler") or {}
    return ResourceStatus(
        id=name,
        name=name,
        state=state,
        resource_type="compute",
        description=f"{scheduler.get('type', 'unknown')} cluster {name}"
        + (f": {messages}" if messages else ""),
        group="compute",
        updated_at=_when(system.get("lastHealthCheck")),
        native_state=",".join(sorted({str(h.get("serviceType")) for h in unhealthy}))
        or ("healthy" if health else None),
        raw=dict(system),
    )


def scheduler_type(system: Mapping[str, Any]) -> str:
    """``slurm`` or ``pbs``."""
    return str((system.get("scheduler") or {}).get("type") or "slurm").lower()


def max_ops_file_size(system: Mapping[str, Any]) -> int:
    """The largest file the direct ``ops/upload``/``ops/download`` take on this system."""
    operation = system.get("dataOperation") or {}
    value = operation.get("max_ops_file_size", operation.get("maxOpsFileSize"))
    return int(value) if isinstance(value, int) and value > 0 else DEFAULT_MAX_OPS_FILE_SIZE


def largest_view(limit: int) -> int:
    """The largest ``size`` an ``ops/view`` answers on a system whose ``max_ops_file_size`` is
    ``limit``. The server runs ``dd bs=<size> count=2`` and refuses with 413 any command output
    that reaches the limit, so two blocks must stay under it."""
    return max(1, (limit - 1) // 2)


def largest_direct_download(limit: int) -> int:
    """The largest file ``ops/download`` sends on a system whose ``max_ops_file_size`` is
    ``limit``. The server reads the file as ``base64 --wrap=0`` text, which must stay under the
    limit (413 otherwise): about three quarters of it."""
    return 3 * ((limit - 1) // 4)


def default_directory(system: Mapping[str, Any], user: str | None) -> str | None:
    """The user's directory on the file system marked ``defaultWorkDir`` (``/users/<name>`` at CSCS)."""
    for filesystem in system.get("fileSystems") or []:
        if isinstance(filesystem, Mapping) and filesystem.get("defaultWorkDir") and filesystem.get("path"):
            base = str(filesystem["path"])
            return posixpath.join(base, user) if user and posixpath.basename(base) != user else base
    return None


def parse_outages(
    system: str, reservations: Iterable[Mapping[str, Any]], health: ResourceStatus | None
) -> list[Outage]:
    """Reservations as planned outages, plus an unplanned one while the system is DOWN."""
    outages = []
    for reservation in reservations:
        name = str(reservation.get("name") or "reservation")
        outages.append(
            Outage(
                id=f"{system}:{name}",
                name=name,
                start=_when(reservation.get("startTime")),
                end=_when(reservation.get("endTime")),
                planned=True,
                status=reservation.get("state"),
                description=f"reservation {name} on {reservation.get('nodeList') or 'nodes'}"
                + (f" ({reservation['features']})" if reservation.get("features") else ""),
                resources=(system,),
                raw=dict(reservation),
            )
        )
    if health is not None and health.state is ResourceState.DOWN:
        outages.append(
            Outage(
                id=f"{system}:health",
                name=f"{system} services unhealthy",
                start=health.updated_at,
                end=None,
                planned=False,
                status="down",
                description=health.description,
                resources=(system,),
                raw=dict(health.raw),
            )
        )
    return outages


# -- jobs ---------------------------------------------------------------------------------------


def _state_word(status: Mapping[str, Any]) -> str | None:
    state = status.get("state")
    if isinstance(state, list):
        state = ",".join(str(s) for s in state)
    return None if state is None else str(state)


def job_id_of(value: Any) -> str:
    """A job id as the API gives it (an integer or its text); :class:`APIError` for anything
    else (missing, a list, an object, a boolean), never the ``str()`` of a wrong value."""
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        kind = "nothing" if value is None else type(value).__name__
        raise _fail(f"a job id must be an integer or text, the answer gave {kind}")
    return str(value).strip()


def parse_job(
    data: Mapping[str, Any],
    resource: str,
    *,
    scheduler: str = "slurm",
    outputs: Mapping[str, Any] | None = None,
) -> Job:
    """A ``JobModel`` as a :class:`Job`: Slurm words through the Slurm table, PBS letters through
    the PBS one (``F``/``X`` settled by the exit code; a walltime kill there shows as a non-zero
    exit only). A Slurm ``COMPLETED`` with a non-zero exit code is FAILED too."""
    if not isinstance(data, Mapping) or data.get("jobId") in (None, ""):
        raise _fail("a job in the answer has no jobId")
    status = data.get("status") or {}
    word = _state_word(status)
    table = PBS_STATES if scheduler == "pbs" else SLURM_STATES
    if (
        word
        and scheduler != "pbs"
        and word.strip().upper() in PBS_STATES
        and word.strip().upper() not in SLURM_STATES
    ):
        table = PBS_STATES  # a single PBS letter from a system that did not say it runs PBS
    exit_code = status.get("exitCode")
    exit_code = exit_code if isinstance(exit_code, int) else None
    state = translate_state(table, word, facility=FACILITY)
    if word and "," in word and state.is_terminal:
        # pyfirecrest's rule: a list of states is finished only when all of them are.
        parts = [translate_state(table, w, facility=FACILITY) for w in word.split(",") if w.strip()]
        if not all(p.is_terminal for p in parts):
            state = next(p for p in parts if not p.is_terminal)
    state = settle_exit_code(state, exit_code)
    times = data.get("time") or {}
    outputs = outputs or {}
    reason = status.get("stateReason")
    return Job(
        id=job_id_of(data["jobId"]),
        resource=resource,
        state=state,
        native_state=word,
        exit_code=exit_code if state.is_terminal else None,
        message=str(reason) if reason not in (None, "", "None") else None,
        started_at=_when(times.get("start")),
        finished_at=_when(times.get("end")) if state.is_terminal else None,
        name=data.get("name"),
        stdout_path=outputs.get("standardOutput"),
        stderr_path=outputs.get("standardError"),
        raw=dict(data),
    )


def parse_jobs(
    jobs: Iterable[Mapping[str, Any]] | None,
    resource: str,
    *,
    scheduler: str = "slurm",
    outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Job]:
    """Every ``JobModel`` of a ``GetJobResponse.jobs`` list (``None`` is an empty list)."""
    outputs = outputs or {}
    return [
        parse_job(job, resource, scheduler=scheduler, outputs=outputs.get(str(job.get("jobId"))))
        for job in jobs or []
    ]


# -- files --------------------------------------------------------------------------------------


def parse_file_entry(entry: Mapping[str, Any], directory: str) -> FileEntry:
    """One ``File`` of ``ops/ls`` (its ``size`` is a decimal string, its ``type`` an ``ls`` letter)."""
    name = str(entry.get("name") or "")
    size = entry.get("size")
    try:
        size_value: int | None = int(size) if size is not None else None
    except (TypeError, ValueError):
        size_value = None
    path = name if name.startswith("/") else posixpath.join(directory, name)
    return FileEntry(
        name=posixpath.basename(name) or name,
        path=path,
        type=_LS_TYPES.get(str(entry.get("type") or ""), "other"),
        size=size_value,
        permissions=entry.get("permissions"),
        user=entry.get("user"),
        group=entry.get("group"),
        modified_at=_when(entry.get("lastModified")),
        link_target=entry.get("linkTarget"),
    )


def parse_stat(data: Mapping[str, Any], path: str) -> FileEntry:
    """A ``FileStat`` (``os.stat_result`` fields) as a :class:`FileEntry`."""
    try:
        mode = int(data["mode"])
    except (KeyError, TypeError, ValueError):
        raise _fail(f"stat of {path} has no mode") from None
    if stat_module.S_ISDIR(mode):
        kind = "directory"
    elif stat_module.S_ISLNK(mode):
        kind = "symlink"
    elif stat_module.S_ISREG(mode):
        kind = "file"
    else:
        kind = "other"
    return FileEntry(
        name=posixpath.basename(path.rstrip("/")) or path,
        path=path,
        type=kind,
        size=int(data.get("size", 0)),
        permissions=stat_module.filemode(mode)[1:],
        user=str(data["uid"]) if "uid" in data else None,
        group=str(data["gid"]) if "gid" in data else None,
        modified_at=_when(data.get("mtime")),
    )


def parse_checksum(data: Mapping[str, Any]) -> str:
    """``{"algorithm": "SHA-256", "checksum": hex}`` as ``sha256:<hex>``."""
    digest = data.get("checksum") if isinstance(data, Mapping) else None
    if not digest:
        raise _fail("checksum answer has no checksum")
    algorithm = str(data.get("algorithm") or "SHA-256").lower().replace("-", "")
    return f"{algorithm}:{digest}"


# -- answers' envelopes -------------------------------------------------------------------------


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _fail(f"the answer to {what} is not a JSON object")
    return data


def systems_of(data: Any) -> dict[str, dict[str, Any]]:
    """The systems of ``GET /status/systems`` by name."""
    systems = _object(data, "the systems query").get("systems")
    if not isinstance(systems, list):
        raise _fail("the answer to the systems query has no list of systems")
    return {str(s["name"]): dict(s) for s in systems if isinstance(s, Mapping) and s.get("name")}


def jobs_of(data: Any) -> list[Mapping[str, Any]]:
    """The ``JobModel`` list of a ``GetJobResponse`` (``null`` is an empty list)."""
    jobs = _object(data, "a job query").get("jobs")
    if jobs is None:
        return []
    if not isinstance(jobs, list) or not all(isinstance(j, Mapping) for j in jobs):
        raise _fail("the answer to a job query holds no list of jobs")
    return jobs


def metadata_of(data: Any, job_id: str) -> dict[str, Any] | None:
    """The ``JobMetadataModel`` of ``job_id`` (its script and output paths), or None."""
    entries = _object(data, "a job metadata query").get("jobs")
    if not isinstance(entries, list):
        return None
    chosen = next(
        (e for e in entries if isinstance(e, Mapping) and str(e.get("jobId")) == job_id),
        entries[0] if len(entries) == 1 else None,
    )
    return dict(chosen) if isinstance(chosen, Mapping) else None


def output_of(data: Any, what: str) -> Any:
    """The ``output`` member every ``ops`` answer wraps its data in."""
    return _object(data, what).get("output")


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """``"2.5.6"`` as ``(2, 5, 6)``; None for no version or a development one (``"2.x.x"``)."""
    if not text:
        return None
    parts = str(text).strip().lstrip("v").split(".")
    if not parts or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


# -- transfer jobs and staging ------------------------------------------------------------------


@dataclass(frozen=True)
class TransferJob:
    """The scheduler job a ``transfer/*`` call started: where it runs and where it logs."""

    job_id: str
    system: str
    output_log: str | None
    error_log: str | None


@dataclass(frozen=True)
class S3Upload:
    """Where the parts of a staged upload go: one presigned URL per ``part_size`` slice."""

    part_urls: tuple[str, ...]
    complete_url: str
    part_size: int

    def __repr__(self) -> str:  # the URLs are credentials
        return f"S3Upload(parts={len(self.part_urls)}, part_size={self.part_size})"


@dataclass(frozen=True)
class S3Download:
    """Where a staged download is read from (a presigned URL)."""

    url: str

    def __repr__(self) -> str:  # the URL is a credential
        return "S3Download(<presigned url>)"


def parse_transfer_job(data: Any, system: str, what: str) -> TransferJob:
    """The ``transferJob`` of a ``transfer/*`` answer (its job id, system and logs)."""
    job = _object(data, what).get("transferJob")
    if not isinstance(job, Mapping):
        raise _fail(f"the answer to {what} names no transfer job")
    logs = job.get("logs")
    if not isinstance(logs, Mapping):
        logs = {}
    output_log, error_log = logs.get("outputLog"), logs.get("errorLog")
    return TransferJob(
        job_id=job_id_of(job.get("jobId")),
        system=str(job.get("system") or system),
        output_log=str(output_log) if output_log else None,
        error_log=str(error_log) if error_log else None,
    )


def _directives(data: Any, what: str, expected: str = "s3") -> Mapping[str, Any]:
    directives = _object(data, what).get("transferDirectives")
    if not isinstance(directives, Mapping):
        raise _fail(f"the answer to {what} has no transfer directives")
    method = directives.get("transferMethod", directives.get("transfer_method", "s3"))
    if method != expected:
        raise _fail(f"the answer to {what} offers the {method!r} transfer method, not {expected!r}")
    return directives


def transfer_service(system: Mapping[str, Any]) -> str:
    """How the system moves files above ``max_ops_file_size``: its ``dataOperation``'s
    ``dataTransfer.serviceType`` (``s3``, ``streamer`` or ``wormhole``; ``s3`` when not said).
    The document spells these keys in camelCase or snake_case, both are read."""
    operation = system.get("dataOperation", system.get("data_operation")) or {}
    if not isinstance(operation, Mapping):
        return "s3"
    transfer = operation.get("dataTransfer", operation.get("data_transfer")) or {}
    if not isinstance(transfer, Mapping):
        return "s3"
    service = transfer.get("serviceType", transfer.get("service_type"))
    return str(service) if isinstance(service, str) and service else "s3"


def parse_streamer_coordinates(data: Any, what: str) -> Any:
    """The ``coordinates`` of a streamer transfer answer (decoded by :mod:`.streamer`)."""
    return _directives(data, what, "streamer").get("coordinates")


def streamer_received(log: str) -> bool:
    """Whether a streamer upload job's log says the file arrived whole: the streamer prints
    ``File received successfully.`` also after ``Hash mismatch!`` (and then deletes the file)."""
    lowered = log.lower()
    return "received successfully" in lowered and "hash mismatch" not in lowered and "error" not in lowered


def _field(directives: Mapping[str, Any], camel: str, snake: str) -> Any:
    return directives.get(camel, directives.get(snake))


def parse_s3_upload(data: Any, size: int) -> S3Upload:
    """The part URLs, completion URL and part size of a staged upload of ``size`` bytes."""
    what = "the staged upload"
    directives = _directives(data, what)
    urls = _field(directives, "partsUploadUrls", "parts_upload_urls")
    complete = _field(directives, "completeUploadUrl", "complete_upload_url")
    part_size = _field(directives, "maxPartSize", "max_part_size")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u for u in urls):
        raise _fail(f"the answer to {what} has no part upload URLs")
    if not isinstance(complete, str) or not complete:
        raise _fail(f"the answer to {what} has no completion URL")
    if isinstance(part_size, bool) or not isinstance(part_size, int) or part_size <= 0:
        raise _fail(f"the answer to {what} has no usable part size")
    if len(urls) * part_size < size:
        raise _fail(
            f"the answer to {what} has {len(urls)} parts of {part_size} bytes for a file of {size} bytes"
        )
    return S3Upload(tuple(urls), complete, part_size)


def parse_s3_download(data: Any) -> S3Download:
    """The presigned URL a staged download is read from once its transfer job is done."""
    what = "the staged download"
    url = _field(_directives(data, what), "downloadUrl", "download_url")
    if not isinstance(url, str) or not url:
        raise _fail(f"the answer to {what} has no download URL")
    return S3Download(url)


def transfer_succeeded(log: str) -> bool:
    """Whether a transfer job's output log says it did its work."""
    return any(marker in log for marker in SUCCESS_MARKERS)


def without_url_queries(text: str) -> str:
    """``text`` with the query string of every URL in it cut off (a presigned URL's query is
    its signature)."""
    return _URL_QUERY.sub(r"\1?…", text)


def storage_error_text(body: str, content_type: str) -> str | None:
    """The ``Code: Message`` of an object storage error answer (S3 XML, or the JSON of a
    FirecREST-like stage), never its other fields: S3 may echo the request's signature there."""
    if "json" in content_type:
        fields = re.findall(r'"message"\s*:\s*"([^"]{0,300})"', body)
        return without_url_queries(fields[0]) if fields else None
    found = dict(_XML_FIELD.findall(body))
    words = [found[k] for k in ("Code", "Message") if found.get(k)]
    return without_url_queries(": ".join(words)) if words else None

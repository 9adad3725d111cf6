"""Pure readers of the Superfacility API's answers, tested on recorded payloads without I/O.

Domain errors come back as HTTP 200 with ``{"status": "ERROR", "error": "..."}``: :func:`check_ok`
raises them as :class:`APIError`, or :class:`NotFoundError` when the message says so. Job rows
are squeue or sacct columns, all strings; their Slurm state words go through the shared table
(``"CANCELLED by 123"``, NODE_FAIL, BOOT_FAIL, DEADLINE, OUT_OF_MEMORY included), and the exit
code is sacct's ``exitcode`` ``"<code>:<signal>"``. A job's output files are read from the
``--comment`` its script carries (:mod:`.script`), else Slurm's default ``slurm-<id>.out``.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...errors import APIError, NotFoundError
from ...models import FileEntry, Job, JobState, Outage, ResourceState, ResourceStatus
from ..states import SLURM_STATES, settle_exit_code, translate_state
from .script import JobComment, parse_comment

__all__ = [
    "NOT_FOUND",
    "bad",
    "check_ok",
    "comment_tag",
    "id_or_none",
    "parse_download",
    "parse_job",
    "parse_jobs",
    "parse_ls",
    "parse_outages",
    "parse_status",
    "parse_time",
    "submitted_job",
]

FACILITY = "sfapi"
NOT_FOUND = re.compile(
    r"no\s+such\s+file|not\s+found|does\s+not\s+exist|invalid\s+job\s*id|cannot\s+access", re.IGNORECASE
)
"""Words of an error message that mean the job or path does not exist."""
_STATUS_WORDS: Mapping[str, ResourceState] = {
    "active": ResourceState.UP,
    "degraded": ResourceState.DEGRADED,
    "unavailable": ResourceState.DOWN,
    "other": ResourceState.UNKNOWN,
}


def bad(what: str, detail: str, resource: str | None = None) -> APIError:
    """The error of an answer whose shape is not the API's."""
    return APIError(f"{what}: unexpected answer ({detail})", facility=FACILITY, resource=resource)


def check_ok(data: Any, what: str, resource: str | None = None) -> dict[str, Any]:
    """The body as a dict, raising the API's own error for ``status: ERROR``."""
    if not isinstance(data, dict):
        raise bad(what, f"expected an object, got {type(data).__name__}", resource)
    if str(data.get("status", "OK")).upper() == "ERROR":
        message = str(data.get("error") or "no reason given")
        error = NotFoundError if NOT_FOUND.search(message) else APIError
        raise error(f"{what}: {message}", facility=FACILITY, resource=resource, body=message[:500])
    return data


def parse_time(value: Any) -> datetime | None:
    """An ISO time of an answer (UTC when it names no zone); None for Slurm's placeholders."""
    if not isinstance(value, str) or not value or value in ("Unknown", "None", "N/A"):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_status(data: Any) -> ResourceStatus:
    """One ``/status`` item: a machine or service and its state word."""
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise bad("GET /status", "a status needs a name")
    native = str(data.get("status") or "other")
    return ResourceStatus(
        id=data["name"],
        name=data["name"],
        state=_STATUS_WORDS.get(native.lower(), ResourceState.UNKNOWN),
        resource_type=data.get("system_type"),
        description=data.get("full_name") or data.get("description"),
        updated_at=parse_time(data.get("updated_at")),
        native_state=native,
        raw=data,
    )


def _flatten(data: Any) -> list[dict[str, Any]]:
    """Outage answers: one list for a machine, a list of lists for all machines."""
    if isinstance(data, dict):
        return [data]
    items: list[dict[str, Any]] = []
    if isinstance(data, list):
        for item in data:
            items.extend(_flatten(item))
    return items


def parse_outages(data: Any, planned: bool) -> list[Outage]:
    """The outages of a ``/status/outages[/planned]`` answer, of one machine or of all."""
    outages = []
    for item in _flatten(data):
        name = str(item.get("name") or "")
        start = parse_time(item.get("start_at"))
        ident = f"{name}:{item.get('swo') or ''}:{item.get('start_at') or ''}"
        outages.append(
            Outage(
                id=ident,
                name=str(item.get("description") or f"{name} outage"),
                start=start,
                end=parse_time(item.get("end_at")),
                planned=planned or str(item.get("status", "")).lower() == "planned",
                status=item.get("status"),
                description=item.get("notes") or item.get("description"),
                resources=(name,) if name else (),
                raw=item,
            )
        )
    return outages


def id_or_none(value: Any) -> str | None:
    """An id of an answer: a non-empty string or an integer, else None (never ``str()`` of a list)."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def _exit_code(value: Any) -> int | None:
    """sacct's ``exitcode`` ``"<code>:<signal>"``: the code part (the signal shows in the state)."""
    if not isinstance(value, str) or ":" not in value:
        return None
    try:
        return int(value.partition(":")[0])
    except ValueError:
        return None


def _expand(pattern: str, job_id: str, name: str, workdir: str | None) -> str:
    """An ``--output`` pattern with Slurm's ``%j``/``%x``/``%%`` filled in, under ``workdir``
    when relative (array placeholders get the job id: this API submits no arrays)."""
    path = re.sub(
        r"%(%|j|x|u|A|a)", lambda m: {"%": "%", "j": job_id, "x": name}.get(m.group(1), job_id), pattern
    )
    if not path.startswith("/") and workdir:
        path = posixpath.join(workdir, path)
    return path


def parse_job(row: Mapping[str, Any], machine: str) -> Job:
    """One squeue or sacct row (strings) as a Job."""
    job_id = id_or_none(row.get("jobid") or row.get("job_id"))
    if job_id is None:
        raise bad("GET /compute/jobs", "a row without a jobid string", machine)
    native = str(row.get("state") or "")
    state = translate_state(SLURM_STATES, native, facility=FACILITY)
    is_sacct = "exitcode" in row
    exit_code = _exit_code(row.get("exitcode")) if is_sacct and state.is_terminal else None
    state = settle_exit_code(state, exit_code)
    name = str(row.get("name") or row.get("jobname") or "")
    workdir = row.get("work_dir") or row.get("workdir")
    workdir = workdir if isinstance(workdir, str) else None
    comment = parse_comment(row.get("comment")) or JobComment(None, "slurm-%j.out", None)
    stdout = _expand(comment.stdout, job_id, name, workdir) if comment.stdout else None
    stderr = _expand(comment.stderr, job_id, name, workdir) if comment.stderr else stdout
    return Job(
        id=job_id,
        resource=machine,
        state=state,
        native_state=native or None,
        exit_code=exit_code,
        message=row.get("reason") if row.get("reason") not in (None, "None") else None,
        submitted_at=parse_time(row.get("submit_time") or row.get("submit")),
        started_at=parse_time(row.get("start_time") or row.get("start")),
        finished_at=parse_time(row.get("end")) if is_sacct else None,
        name=name or None,
        stdout_path=stdout,
        stderr_path=stderr,
        raw=dict(row),
    )


def comment_tag(job: Job) -> str | None:
    """The submit tag in a listed job's comment, if it carries one."""
    found = parse_comment(job.raw.get("comment") if job.raw else None)
    return found.tag if found is not None else None


def parse_jobs(data: Any, machine: str, what: str) -> list[Job]:
    """The jobs of a ``{status, output: [rows], error}`` answer (``what``: squeue or sacct)."""
    body = check_ok(data, what, machine)
    rows = body.get("output") or []
    if not isinstance(rows, list):
        raise bad(what, "output is not a list", machine)
    return [parse_job(row, machine) for row in rows if isinstance(row, dict)]


def _entry_type(perms: str) -> str:
    return {"d": "directory", "l": "symlink", "-": "file"}.get(perms[:1], "other")


def parse_ls(data: Any, path: str, machine: str) -> list[FileEntry]:
    """The entries of an ``ls`` answer (``ls -l`` columns); a single file's entry is the path."""
    body = check_ok(data, f"ls {path}", machine)
    entries = body.get("entries") or []
    result = []
    single = len(entries) == 1 and not str(entries[0].get("perms", "d")).startswith("d")
    for item in entries:
        raw_name = str(item.get("name") or "")
        if raw_name in (".", ".."):
            continue
        perms = str(item.get("perms") or "")
        link_target = None
        if perms.startswith("l") and " -> " in raw_name:
            raw_name, link_target = raw_name.split(" -> ", 1)
        name = posixpath.basename(raw_name.rstrip("/")) or raw_name
        full = raw_name if single and raw_name.startswith("/") else posixpath.join(path, name)
        if single and not raw_name.startswith("/"):
            full = path
        size = item.get("size")
        result.append(
            FileEntry(
                name=name,
                path=full.replace("//", "/"),
                type=_entry_type(perms),
                size=int(size) if isinstance(size, int | float) else None,
                permissions=perms[1:] if perms else None,
                user=item.get("user"),
                group=item.get("group"),
                modified_at=parse_time(item.get("date")),
                link_target=link_target,
            )
        )
    return result


def parse_download(data: Any, path: str, machine: str) -> bytes:
    """The content of a ``download`` answer: base64 when ``is_binary``, else text."""
    body = check_ok(data, f"download {path}", machine)
    content = body.get("file")
    if not isinstance(content, str):
        raise bad(f"download {path}", "no file content", machine)
    if body.get("is_binary"):
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise bad(f"download {path}", "file is not valid base64", machine) from None
    return content.encode("utf-8")


def submitted_job(machine: str, job_id: str, comment: JobComment) -> Job:
    """The job as known right after its submit (squeue may not show it yet): PENDING, with the
    output paths its comment names when they are absolute."""
    stdout = _expand(comment.stdout, job_id, "", None) if comment.stdout else None
    stderr = _expand(comment.stderr, job_id, "", None) if comment.stderr else stdout
    return Job(
        id=job_id,
        resource=machine,
        state=JobState.PENDING,
        native_state="PENDING",
        submitted_at=datetime.now(UTC),
        stdout_path=stdout if stdout and stdout.startswith("/") else None,
        stderr_path=stderr if stderr and stderr.startswith("/") else None,
    )

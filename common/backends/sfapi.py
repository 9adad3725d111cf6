"""Backend for the NERSC Superfacility API v1.2 (Perlmutter and the data transfer nodes).

``base_url`` is the API root with its version (``https://api.nersc.gov/api/v1.2``); resources
are the API's machine names (``perlmutter``, ``dtns``), which serve as ids too. Every operation
has a pure ``_build_<op>`` function returning an :class:`SFRequest` and a pure ``_parse_<op>``
function reading the answer, so both are tested on recorded payloads without I/O.

How the API's ways are handled (see ``specs/FINDINGS.md`` §2):

* **Errors in 200s.** Domain errors come back as HTTP 200 with ``{"status": "ERROR", "error"}``
  (or a failed task); they are raised as :class:`APIError`, :class:`NotFoundError` when the
  message says so, or :class:`JobSubmissionError` for a refused submit.
* **Submit is a task.** ``POST /compute/jobs/{machine}`` answers a task id; the backend polls
  ``GET /tasks/{id}`` (``task_poll_interval``, at most ``task_timeout``) and reads ``jobid`` from
  the task's ``result``, a JSON *string*.
* **Never twice.** The script carries ``#SBATCH --comment=facility:tag=<tag>,...`` and exports
  ``FACILITY_SUBMIT_TAG``. After an ambiguous failure (no answer, 502, 504) the backend looks for
  the tag in ``sacct`` and returns that job; only when none carries it is the script sent again,
  unless the server may still be at work on it (a read timeout, 504): then the submit raises
  :class:`JobSubmissionError` saying the outcome is unknown, and the next submit of the same tag
  looks in ``sacct`` first. An accepted submit whose answer or task cannot be read counts as a
  lost one (the job may exist), never as a refusal. ``find_job_by_tag`` offers the same look-up
  to a caller with a new client. A job just submitted that neither squeue nor sacct shows is
  PENDING.
* **Job state.** ``squeue`` answers for live jobs, ``sacct`` for finished ones (a job leaves
  ``squeue`` when it ends); both with ``cached=false`` (the cached answer misses fresh jobs,
  sfapi_client #93) and batched with ``kwargs=jobid=1,2,3``. Slurm words go through the shared
  table (``"CANCELLED by 123"``, NODE_FAIL, BOOT_FAIL, DEADLINE, OUT_OF_MEMORY included); the exit
  code is sacct's ``exitcode`` ``"<code>:<signal>"``.
* **Job output.** The API has no output call: the output file named in the job's comment (or
  Slurm's default ``slurm-<id>.out``) is read with ``/utilities/download``.
* **Files.** The API offers ``ls``, small ``upload``/``download`` and ``command`` only. ``stat`` is
  an ``ls`` of the parent; mkdir, rm, mv, cp, chmod, view, head and tail raise
  :class:`UnsupportedOperation` pointing at :meth:`SFAPIBackend.command` and Globus, unless the
  user opts in with ``shell_file_operations=True`` (then they run as shell commands through
  ``command``, or read through ``download``). The backend's declared capabilities leave out
  ``files`` accordingly.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import os
import posixpath
import re
import shlex
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import anyio
import anyio.to_thread
import httpx

from ..errors import (
    APIError,
    FacilityError,
    InvalidJobSpec,
    JobSubmissionError,
    NotFoundError,
    TransportError,
    WaitTimeout,
)
from ..models import FileEntry, Job, JobSpec, JobState, Outage, ResourceState, ResourceStatus
from ..options import BackendOptions, about
from .base import Capability, FacilityBackend, ProgressCallback
from .sfapi_script import (
    SUBMIT_TAG_VARIABLE,
    JobComment,
    WhitespacePolicy,
    parse_comment,
    render_script,
)
from .states import SLURM_STATES, settle_exit_code, translate_state
from .submit_guard import SubmitMemory, may_still_be_working, newest, outcome_unknown

__all__ = ["SFAPI_FILE_LIMIT", "SFAPIBackend", "SFAPIOptions", "SFRequest"]

logger = logging.getLogger("facility_common.backends.sfapi")

FACILITY = "sfapi"
SFAPI_FILE_LIMIT = 5 * 1024 * 1024
"""Largest file moved by the small upload/download utilities; larger ones go through Globus."""
SUBMIT_ATTEMPTS = 3
_AMBIGUOUS_STATUSES = frozenset({502, 504})
_TASK_DONE = frozenset({"completed", "failed", "cancelled"})
_NOT_FOUND = re.compile(
    r"no\s+such\s+file|not\s+found|does\s+not\s+exist|invalid\s+job\s*id|cannot\s+access", re.IGNORECASE
)
_STATUS_WORDS: Mapping[str, ResourceState] = {
    "active": ResourceState.UP,
    "degraded": ResourceState.DEGRADED,
    "unavailable": ResourceState.DOWN,
    "other": ResourceState.UNKNOWN,
}


# -- requests ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SFRequest:
    """One API call, as built by a ``_build_<op>`` function."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
    files: Any = None
    idempotent: bool | None = None


def _q(value: str) -> str:
    return quote(str(value), safe="")


def _qpath(path: str) -> str:
    """A remote path as the tail of a URL (slashes kept; absolute paths give ``machine//path``)."""
    return quote(path, safe="/")


def _build_status(machine: str | None = None) -> SFRequest:
    """:calls: GET /status | GET /status/{name}"""
    return SFRequest("GET", "status" if machine is None else f"status/{_q(machine)}")


def _build_outages(machine: str | None, planned: bool) -> SFRequest:
    """:calls: GET /status/outages[/planned][/{name}]"""
    path = "status/outages/planned" if planned else "status/outages"
    return SFRequest("GET", path if machine is None else f"{path}/{_q(machine)}")


def _build_submit(machine: str, script: str) -> SFRequest:
    """:calls: POST /compute/jobs/{machine} (form ``job=<script>``, ``isPath=false``)"""
    return SFRequest("POST", f"compute/jobs/{_q(machine)}", data={"job": script, "isPath": "false"})


def _build_submit_path(machine: str, path: str, args: Sequence[str]) -> SFRequest:
    """:calls: POST /compute/jobs/{machine} (form ``job=<path>``, ``isPath=true``, ``args``)"""
    data: dict[str, Any] = {"job": path, "isPath": "true"}
    if args:
        data["args"] = list(args)
    return SFRequest("POST", f"compute/jobs/{_q(machine)}", data=data)


def _build_task(task_id: str) -> SFRequest:
    """:calls: GET /tasks/{id}"""
    return SFRequest("GET", f"tasks/{_q(task_id)}")


def _build_jobs(machine: str, job_ids: Sequence[str] | None, *, sacct: bool) -> SFRequest:
    """:calls: GET /compute/jobs/{machine}?sacct=..&cached=false[&kwargs=jobid=1,2]"""
    params: dict[str, Any] = {"sacct": sacct, "cached": False}
    if job_ids:
        params["kwargs"] = ["jobid=" + ",".join(str(j) for j in job_ids)]
    return SFRequest("GET", f"compute/jobs/{_q(machine)}", params=params)


def _build_job(machine: str, job_id: str, *, sacct: bool) -> SFRequest:
    """:calls: GET /compute/jobs/{machine}/{jobid}?sacct=..&cached=false"""
    return SFRequest(
        "GET",
        f"compute/jobs/{_q(machine)}/{_q(job_id)}",
        params={"sacct": sacct, "cached": False},
    )


def _build_cancel(machine: str, job_id: str) -> SFRequest:
    """:calls: DELETE /compute/jobs/{machine}/{jobid}"""
    return SFRequest("DELETE", f"compute/jobs/{_q(machine)}/{_q(job_id)}")


def _build_ls(machine: str, path: str) -> SFRequest:
    """:calls: GET /utilities/ls/{machine}/{path}"""
    return SFRequest("GET", f"utilities/ls/{_q(machine)}/{_qpath(path)}")


def _build_download(machine: str, path: str, binary: bool = True) -> SFRequest:
    """:calls: GET /utilities/download/{machine}/{path}?binary=true"""
    return SFRequest(
        "GET",
        f"utilities/download/{_q(machine)}/{_qpath(path)}",
        params={"binary": binary},
    )


def _build_upload(machine: str, path: str, data: bytes) -> SFRequest:
    """:calls: PUT /utilities/upload/{machine}/{path} (multipart ``file``)"""
    name = posixpath.basename(path) or "upload"
    return SFRequest(
        "PUT",
        f"utilities/upload/{_q(machine)}/{_qpath(path)}",
        files={"file": (name, data, "application/octet-stream")},
    )


def _build_command(machine: str, command: str) -> SFRequest:
    """:calls: POST /utilities/command/{machine} (form ``executable``)"""
    return SFRequest("POST", f"utilities/command/{_q(machine)}", data={"executable": command})


# -- parsers ----------------------------------------------------------------------------------


def _bad(what: str, detail: str, resource: str | None = None) -> APIError:
    return APIError(f"{what}: unexpected answer ({detail})", facility=FACILITY, resource=resource)


def _check_ok(data: Any, what: str, resource: str | None = None) -> dict[str, Any]:
    """The body as a dict, raising the API's own error for ``status: ERROR``."""
    if not isinstance(data, dict):
        raise _bad(what, f"expected an object, got {type(data).__name__}", resource)
    if str(data.get("status", "OK")).upper() == "ERROR":
        message = str(data.get("error") or "no reason given")
        error = NotFoundError if _NOT_FOUND.search(message) else APIError
        raise error(f"{what}: {message}", facility=FACILITY, resource=resource, body=message[:500])
    return data


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or value in ("Unknown", "None", "N/A"):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse_status(data: Any) -> ResourceStatus:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise _bad("GET /status", "a status needs a name")
    native = str(data.get("status") or "other")
    return ResourceStatus(
        id=data["name"],
        name=data["name"],
        state=_STATUS_WORDS.get(native.lower(), ResourceState.UNKNOWN),
        resource_type=data.get("system_type"),
        description=data.get("full_name") or data.get("description"),
        updated_at=_parse_time(data.get("updated_at")),
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


def _parse_outages(data: Any, planned: bool) -> list[Outage]:
    outages = []
    for item in _flatten(data):
        name = str(item.get("name") or "")
        start = _parse_time(item.get("start_at"))
        ident = f"{name}:{item.get('swo') or ''}:{item.get('start_at') or ''}"
        outages.append(
            Outage(
                id=ident,
                name=str(item.get("description") or f"{name} outage"),
                start=start,
                end=_parse_time(item.get("end_at")),
                planned=planned or str(item.get("status", "")).lower() == "planned",
                status=item.get("status"),
                description=item.get("notes") or item.get("description"),
                resources=(name,) if name else (),
                raw=item,
            )
        )
    return outages


def _parse_task_submitted(data: Any, what: str, resource: str) -> str:
    """The task id of a ``{task_id, status, error}`` answer."""
    body = _check_ok(data, what, resource)
    task_id = body.get("task_id")
    if not isinstance(task_id, str | int) or task_id == "":
        raise _bad(what, "no task_id", resource)
    return str(task_id)


def _parse_task(data: Any) -> tuple[str, dict[str, Any] | None]:
    """A task's status word and its decoded ``result`` (a JSON string in the API)."""
    if not isinstance(data, dict):
        raise _bad("GET /tasks", "expected an object")
    status = str(data.get("status") or "new").lower()
    result = data.get("result")
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            result = {"status": "error" if status == "failed" else "ok", "output": result}
    return status, result if isinstance(result, dict) else None


def _task_error(
    task_id: str, status: str, result: dict[str, Any], what: str, resource: str
) -> APIError | None:
    """The error a finished task reports (its own words), or None when it completed well."""
    if status == "completed" and str(result.get("status", "ok")).lower() != "error":
        return None
    message = str(result.get("error") or f"task {task_id} ended {status}")
    error = NotFoundError if _NOT_FOUND.search(message) else APIError
    return error(f"{what}: {message}", facility=FACILITY, resource=resource, body=message[:500])


def _submit_task_id(data: Any, what: str, resource: str) -> str | None:
    """The task id of a submit's answer; None when the answer cannot be read. The API's own
    ``status: ERROR`` (a refusal) is raised."""
    if not isinstance(data, dict):
        return None
    if str(data.get("status", "OK")).upper() == "ERROR":
        _check_ok(data, what, resource)
    return _id_or_none(data.get("task_id"))


def _id_or_none(value: Any) -> str | None:
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
    path = re.sub(
        r"%(%|j|x|u|A|a)", lambda m: {"%": "%", "j": job_id, "x": name}.get(m.group(1), job_id), pattern
    )
    if not path.startswith("/") and workdir:
        path = posixpath.join(workdir, path)
    return path


def _parse_job(row: Mapping[str, Any], machine: str) -> Job:
    """One squeue or sacct row (strings) as a Job."""
    job_id = _id_or_none(row.get("jobid") or row.get("job_id"))
    if job_id is None:
        raise _bad("GET /compute/jobs", "a row without a jobid string", machine)
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
        submitted_at=_parse_time(row.get("submit_time") or row.get("submit")),
        started_at=_parse_time(row.get("start_time") or row.get("start")),
        finished_at=_parse_time(row.get("end")) if is_sacct else None,
        name=name or None,
        stdout_path=stdout,
        stderr_path=stderr,
        raw=dict(row),
    )


def _comment_tag(job: Job) -> str | None:
    """The submit tag in a listed job's comment, if it carries one."""
    found = parse_comment(job.raw.get("comment") if job.raw else None)
    return found.tag if found is not None else None


def _parse_jobs(data: Any, machine: str, what: str) -> list[Job]:
    body = _check_ok(data, what, machine)
    rows = body.get("output") or []
    if not isinstance(rows, list):
        raise _bad(what, "output is not a list", machine)
    return [_parse_job(row, machine) for row in rows if isinstance(row, dict)]


def _entry_type(perms: str) -> str:
    return {"d": "directory", "l": "symlink", "-": "file"}.get(perms[:1], "other")


def _parse_ls(data: Any, path: str, machine: str) -> list[FileEntry]:
    body = _check_ok(data, f"ls {path}", machine)
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
                modified_at=_parse_time(item.get("date")),
                link_target=link_target,
            )
        )
    return result


def _parse_download(data: Any, path: str, machine: str) -> bytes:
    body = _check_ok(data, f"download {path}", machine)
    content = body.get("file")
    if not isinstance(content, str):
        raise _bad(f"download {path}", "no file content", machine)
    if body.get("is_binary"):
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(f"download {path}", "file is not valid base64", machine) from None
    return content.encode("utf-8")


# -- the backend ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class SFAPIOptions(BackendOptions):
    """Options of the NERSC Superfacility API backend."""

    submit_lookup_delays: tuple[float, ...] = dataclasses.field(
        default=(0.0, 2.0),
        metadata=about("Pauses (s) before each look for a job whose submit answer was lost."),
    )
    task_timeout: float = dataclasses.field(
        default=300.0, metadata=about("Longest wait for one SF API task (submit, command), in seconds.")
    )
    task_poll_interval: float = dataclasses.field(
        default=1.0, metadata=about("Pause between looks at an SF API task, in seconds.")
    )
    sbatch_whitespace: WhitespacePolicy = dataclasses.field(
        default="fix",
        metadata=about("What to do with indented #SBATCH lines in a given script: fix or refuse."),
    )
    shell_file_operations: bool = dataclasses.field(
        default=False,
        metadata=about("Offer mkdir, rm, mv, cp and chmod through the API's shell command route."),
    )


class SFAPIBackend(FacilityBackend):
    """The NERSC Superfacility API v1.2.

    Options: ``task_timeout``/``task_poll_interval`` bound the wait for submit, cancel and
    command tasks; ``sbatch_whitespace`` says what to do with indented ``#SBATCH`` lines in a
    given script (``"fix"``, the default, or ``"refuse"``); ``submit_lookup_delays`` are the
    pauses before each search for a submit whose answer was lost. ``shell_file_operations=True``
    opts in to mkdir, rm, mv, cp, chmod run as shell commands through the ``command`` utility and
    view/head/tail read through ``download`` (off by default: the API itself has no such calls).
    No network call happens before the first operation.
    """

    name: ClassVar[str] = "sfapi"
    facility_label: ClassVar[str] = "NERSC Superfacility API"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {Capability.STATUS, Capability.OUTAGES, Capability.JOBS, Capability.JOB_OUTPUT}
    )
    unsupported_hint: ClassVar[str] = (
        "It offers ls, small (<= 5 MiB) upload/download and `command` (run a shell command on the "
        "machine, e.g. SFAPIBackend.command(resource, 'mkdir -p /path')); move larger data with Globus."
    )

    Options: ClassVar[type[BackendOptions]] = SFAPIOptions
    options: SFAPIOptions

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        options: SFAPIOptions | None = None,
        **values: Any,
    ) -> None:
        super().__init__(base_url=base_url, auth=auth, options=options, **values)
        self.facility = FACILITY
        self.shell_file_operations = self.options.shell_file_operations
        self.task_timeout = self.options.task_timeout
        self.task_poll_interval = self.options.task_poll_interval
        self.sbatch_whitespace: WhitespacePolicy = self.options.sbatch_whitespace
        self.submit_lookup_delays = self.options.submit_lookup_delays
        self._memory = SubmitMemory(
            visibility_grace=self.options.visibility_grace, settle_window=self.options.settle_window
        )
        self._session = self.options.session(FACILITY, base_url, auth)
        self.base_url = self._session.base_url

    def __repr__(self) -> str:
        return f"SFAPIBackend(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._session.aclose()

    def describe(self) -> dict[str, Any]:
        """Connection facts safe to show (no credentials)."""
        return {
            **super().describe(),
            "base_url": self.base_url,
            "shell_file_operations": self.shell_file_operations,
        }

    # -- plumbing -------------------------------------------------------------------------------

    async def _call(self, request: SFRequest, *, resource: str | None = None) -> Any:
        response = await self._session.request(
            request.method,
            request.path,
            resource=resource,
            params=request.params,
            data=request.data,
            files=request.files,
            idempotent=request.idempotent,
            ok=(200,),
        )
        return self._session.json(response, resource=resource)

    async def _await_task(self, task_id: str, what: str, resource: str) -> dict[str, Any]:
        """Poll a task until it ends; its decoded result, or the task's error raised."""
        status, result = await self._task_outcome(task_id, what, resource)
        error = _task_error(task_id, status, result, what, resource)
        if error is not None:
            raise error
        return result

    async def _task_outcome(self, task_id: str, what: str, resource: str) -> tuple[str, dict[str, Any]]:
        """Poll a task until it ends: its final status word and decoded result."""
        deadline = time.monotonic() + self.task_timeout
        while True:
            status, result = _parse_task(await self._call(_build_task(task_id), resource=resource))
            if status in _TASK_DONE:
                break
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"{what}: task {task_id} did not finish within {self.task_timeout:.0f} s",
                    facility=FACILITY,
                    resource=resource,
                )
            await anyio.sleep(self.task_poll_interval)
        return status, result or {}

    @staticmethod
    def _machine(resource: str) -> str:
        machine = str(resource).strip()
        if not machine or "/" in machine:
            raise InvalidJobSpec(f"resource: {resource!r} is not a machine name", field="resource")
        return machine

    # -- status ---------------------------------------------------------------------------------

    async def resources(self) -> list[ResourceStatus]:
        """Every machine and service with its status.

        :calls: GET /status
        """
        data = await self._call(_build_status())
        if not isinstance(data, list):
            raise _bad("GET /status", "expected a list")
        return [_parse_status(item) for item in data]

    async def resource(self, name_or_id: str) -> ResourceStatus:
        """One machine's status (its name is its id).

        :calls: GET /status/{name}
        """
        machine = self._machine(name_or_id)
        return _parse_status(await self._call(_build_status(machine), resource=machine))

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Current and planned outages, of one machine or all, overlapping ``start``..``end``.

        :calls: GET /status/outages[/{name}] and GET /status/outages/planned[/{name}]
        """
        machine = self._machine(resource) if resource is not None else None
        current = _parse_outages(await self._call(_build_outages(machine, False), resource=machine), False)
        planned = _parse_outages(await self._call(_build_outages(machine, True), resource=machine), True)
        found = current + [o for o in planned if o.id not in {c.id for c in current}]
        if start is None and end is None:
            return found
        window_start = start or datetime.min.replace(tzinfo=UTC)
        window_end = end or datetime.max.replace(tzinfo=UTC)
        return [o for o in found if o.overlaps(window_start, window_end)]

    # -- jobs -----------------------------------------------------------------------------------

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        """Render ``spec`` (or check its script), submit it and await the submit task.

        :calls: POST /compute/jobs/{machine}; GET /tasks/{id}; after a lost answer
            GET /compute/jobs/{machine}?sacct=true&cached=false
        """
        machine = self._machine(resource)
        tag = spec.environment.get(SUBMIT_TAG_VARIABLE) or uuid.uuid4().hex
        script, comment = render_script(spec, tag=tag, whitespace=self.sbatch_whitespace)
        return await self._submit_script(machine, _build_submit(machine, script), comment)

    async def submit_path(self, resource: str, path: str, args: Sequence[str] = ()) -> Job:
        """Submit a batch script that already lies on the machine, with command line ``args``.

        Such a script cannot be tagged, so a submit whose answer is lost raises
        :class:`JobSubmissionError` instead of being sent again.

        :calls: POST /compute/jobs/{machine} (``isPath=true``); GET /tasks/{id}
        """
        machine = self._machine(resource)
        return await self._submit_script(machine, _build_submit_path(machine, path, args), JobComment())

    async def _submit_script(self, machine: str, request: SFRequest, comment: JobComment) -> Job:
        if comment.tag is not None and self._memory.in_doubt(comment.tag):
            # An earlier submit of this tag may have created the job: look before sending.
            found = self._memory.settle(
                await self._find_submitted(machine, comment.tag),
                tag=comment.tag,
                facility=FACILITY,
                resource=machine,
                variable=SUBMIT_TAG_VARIABLE,
            )
            if found is not None:
                return self._memory.submitted(found)
        last_error: FacilityError | None = None
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                data = await self._call(request, resource=machine)
            except (TransportError, APIError) as exc:
                if isinstance(exc, APIError) and exc.status_code is not None and 200 <= exc.status_code < 300:
                    return await self._unreadable(machine, comment, exc.message)
                ambiguous = isinstance(exc, TransportError) or exc.status_code in _AMBIGUOUS_STATUSES
                if not ambiguous:
                    raise self._refused(machine, exc) from None
                if comment.tag is None:
                    raise JobSubmissionError(
                        f"submit to {machine} may or may not have created a job ({exc.message}); the "
                        "script carries no tag to look for, so it is not sent again",
                        facility=FACILITY,
                        resource=machine,
                        outcome_unknown=True,
                    ) from None
                logger.warning(
                    "submit to %s: %s (attempt %d of %d); looking for job tag %s",
                    machine,
                    exc.message,
                    attempt,
                    SUBMIT_ATTEMPTS,
                    comment.tag,
                )
                found = await self._find_submitted(machine, comment.tag)
                if found is not None:
                    return self._memory.submitted(found)
                if may_still_be_working(exc):
                    self._memory.doubt(comment.tag)
                    raise outcome_unknown(
                        facility=FACILITY,
                        resource=machine,
                        tag=comment.tag,
                        variable=SUBMIT_TAG_VARIABLE,
                        reason=exc.message,
                    ) from None
                last_error = exc
                continue
            return await self._follow_submit(machine, data, comment)
        raise JobSubmissionError(
            f"submit to {machine} got no usable answer after {SUBMIT_ATTEMPTS} attempts and no job "
            f"tagged {comment.tag} was found: {last_error.message if last_error else 'no answer'}",
            facility=FACILITY,
            resource=machine,
        )

    async def _follow_submit(self, machine: str, data: Any, comment: JobComment) -> Job:
        """The job of an accepted submit: its task awaited, the job id read from its result.

        A task that failed says why the job was refused; an answer or a task that cannot be read
        leaves the job possibly created (:meth:`_unreadable`)."""
        what = f"submit to {machine}"
        try:
            task_id = _submit_task_id(data, what, machine)
        except APIError as exc:
            raise self._refused(machine, exc) from None
        if task_id is None:
            return await self._unreadable(machine, comment, "the answer has no task_id")
        try:
            status, result = await self._task_outcome(task_id, what, machine)
        except FacilityError as exc:
            return await self._unreadable(
                machine, comment, f"following its task {task_id} failed: {exc.message}"
            )
        error = _task_error(task_id, status, result, what, machine)
        if error is not None:
            raise self._refused(machine, error)
        job_id = _id_or_none(result.get("jobid"))
        if job_id is None:
            return await self._unreadable(machine, comment, f"the result of task {task_id} has no job id")
        return self._memory.submitted(self._submitted(machine, job_id, comment))

    async def _unreadable(self, machine: str, comment: JobComment, detail: str) -> Job:
        """After a submit NERSC accepted but whose answer cannot be read: the job may exist, so
        it is looked for by its tag and, when not found, not sent again."""
        if comment.tag is None:
            raise JobSubmissionError(
                f"submit to {machine}: the answer to the submit could not be read ({detail}); the job "
                "may exist, and the script carries no tag to look for, so it is not sent again",
                facility=FACILITY,
                resource=machine,
                outcome_unknown=True,
            )
        reason = f"the answer to the submit could not be read: {detail}"
        found = await self._find_submitted(machine, comment.tag, reason)
        if found is not None:
            return self._memory.submitted(found)
        self._memory.doubt(comment.tag)
        raise outcome_unknown(
            facility=FACILITY, resource=machine, tag=comment.tag, variable=SUBMIT_TAG_VARIABLE, reason=reason
        )

    @staticmethod
    def _refused(machine: str, exc: FacilityError) -> FacilityError:
        if isinstance(exc, APIError) and (exc.status_code is None or 400 <= exc.status_code < 500):
            return JobSubmissionError(
                f"NERSC refused the job on {machine}: {exc.body or exc.message}",
                facility=FACILITY,
                resource=machine,
                status_code=exc.status_code,
                body=exc.body,
            )
        return exc

    @staticmethod
    def _submitted(machine: str, job_id: str, comment: JobComment) -> Job:
        """The job as known right after submit (squeue may not show it yet)."""
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

    async def _find_submitted(self, machine: str, tag: str, cause: str = "") -> Job | None:
        """The job carrying ``tag`` after a submit whose answer was lost, looked for over
        ``submit_lookup_delays``; raises an outcome-unknown error when sacct cannot be read."""
        for delay in self.submit_lookup_delays:
            if delay:
                await anyio.sleep(delay)
            try:
                found = await self._tagged(machine, tag)
            except FacilityError as exc:
                self._memory.doubt(tag)
                because = f" ({cause})" if cause else ""
                raise JobSubmissionError(
                    f"submit to {machine} may or may not have created a job{because}, and looking for it "
                    f"failed ({exc.message}); look for comment tag={tag} in sacct before submitting again",
                    facility=FACILITY,
                    resource=machine,
                    outcome_unknown=True,
                ) from None
            if found is not None:
                logger.info("submit to %s: found job %s by its tag after a lost answer", machine, found.id)
                return found
        return None

    async def _tagged(self, machine: str, tag: str) -> Job | None:
        """The newest job sacct reports whose comment carries ``tag``."""
        jobs = _parse_jobs(
            await self._call(_build_jobs(machine, None, sacct=True), resource=machine), machine, "sacct"
        )
        return newest(job for job in jobs if _comment_tag(job) == tag)

    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The newest job, live or finished, whose ``--comment`` carries ``tag``.

        :calls: GET /compute/jobs/{machine}?sacct=true&cached=false
        """
        return await self._tagged(self._machine(resource), tag)

    async def get_job(self, resource: str, job_id: str) -> Job:
        """One job: from squeue while it is live, from sacct once it has left the queue; PENDING for
        a job submitted here that neither shows yet.

        :calls: GET /compute/jobs/{machine}/{jobid}?sacct=false&cached=false, then ?sacct=true
        """
        machine = self._machine(resource)
        for sacct in (False, True):
            jobs = _parse_jobs(
                await self._call(_build_job(machine, job_id, sacct=sacct), resource=machine),
                machine,
                "sacct" if sacct else "squeue",
            )
            for job in jobs:
                if job.id == str(job_id):
                    return job
        pending = self._memory.pending_view(machine, str(job_id))
        if pending is not None:
            return pending
        raise NotFoundError(
            f"job {job_id} is neither in squeue nor in sacct on {machine}",
            facility=FACILITY,
            resource=machine,
        )

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """The given jobs in two batched calls at most: squeue for live ones, then sacct for the
        rest; without ids, every job sacct knows of.

        :calls: GET /compute/jobs/{machine}?sacct=false&cached=false&kwargs=jobid=1,2,3, then
            ?sacct=true for ids squeue did not report
        """
        machine = self._machine(resource)
        if job_ids is None:
            return _parse_jobs(
                await self._call(_build_jobs(machine, None, sacct=True), resource=machine), machine, "sacct"
            )
        wanted = [str(j) for j in dict.fromkeys(job_ids)]
        if not wanted:
            return []
        found: dict[str, Job] = {}
        for job in _parse_jobs(
            await self._call(_build_jobs(machine, wanted, sacct=False), resource=machine), machine, "squeue"
        ):
            if job.id in wanted:
                found[job.id] = job
        missing = [j for j in wanted if j not in found]
        if missing:
            for job in _parse_jobs(
                await self._call(_build_jobs(machine, missing, sacct=True), resource=machine),
                machine,
                "sacct",
            ):
                if job.id in missing:
                    found[job.id] = job
        return [found[j] for j in wanted if j in found]

    async def cancel(self, resource: str, job_id: str) -> None:
        """Cancel a job and wait for the cancel task.

        :calls: DELETE /compute/jobs/{machine}/{jobid}; GET /tasks/{id}
        """
        machine = self._machine(resource)
        data = await self._call(_build_cancel(machine, job_id), resource=machine)
        body = _check_ok(data, f"cancel job {job_id}", machine)
        task_id = body.get("task_id")
        if task_id:
            await self._await_task(str(task_id), f"cancel job {job_id}", machine)

    async def job_output(
        self, resource: str, job_id: str, stream: str = "stdout", tail: int | None = None
    ) -> str:
        """The job's stdout or stderr file, read with the download utility.

        :calls: the calls of :meth:`get_job`; GET /utilities/download/{machine}/{path}
        """
        machine = self._machine(resource)
        job = await self.get_job(machine, job_id)
        path = job.stdout_path if stream == "stdout" else job.stderr_path
        if not path:
            raise NotFoundError(
                f"job {job_id} on {machine} has no known {stream} file", facility=FACILITY, resource=machine
            )
        text = (await self._download_bytes(machine, path)).decode("utf-8", "replace")
        if tail is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:])
        return text

    # -- files and commands ---------------------------------------------------------------------

    async def ls(self, resource: str, path: str, *, show_hidden: bool = False) -> list[FileEntry]:
        """A directory's entries (or the file itself).

        :calls: GET /utilities/ls/{machine}/{path}
        """
        machine = self._machine(resource)
        entries = _parse_ls(await self._call(_build_ls(machine, path), resource=machine), path, machine)
        return [e for e in entries if show_hidden or not e.name.startswith(".") or e.path == path]

    async def stat(self, resource: str, path: str) -> FileEntry:
        """One path's entry, from an ``ls`` of its parent directory.

        :calls: GET /utilities/ls/{machine}/{parent}
        """
        machine = self._machine(resource)
        parent = posixpath.dirname(path.rstrip("/")) or "/"
        name = posixpath.basename(path.rstrip("/"))
        for entry in await self.ls(machine, parent, show_hidden=True):
            if entry.name == name:
                return entry
        raise NotFoundError(f"{path}: No such file or directory", facility=FACILITY, resource=machine)

    async def _download_bytes(self, machine: str, path: str) -> bytes:
        data = await self._call(_build_download(machine, path, binary=True), resource=machine)
        return _parse_download(data, path, machine)

    async def download(
        self,
        resource: str,
        remote_path: str,
        local_path: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Copy a small (<= 5 MiB) remote file to ``local_path`` (written only on success).

        :calls: GET /utilities/download/{machine}/{path}?binary=true
        """
        machine = self._machine(resource)
        content = await self._download_bytes(machine, remote_path)
        target = os.fspath(local_path)

        def write() -> None:
            partial = f"{target}.part-{uuid.uuid4().hex[:8]}"
            with open(partial, "wb") as handle:
                handle.write(content)
            os.replace(partial, target)

        await anyio.to_thread.run_sync(write)
        if progress is not None:
            progress(len(content), len(content))

    async def upload(
        self,
        resource: str,
        local_path: str | os.PathLike[str],
        remote_path: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Copy a small (<= 5 MiB) local file to ``remote_path``.

        :calls: PUT /utilities/upload/{machine}/{path}
        """
        machine = self._machine(resource)

        def read() -> bytes:
            with open(local_path, "rb") as handle:
                return handle.read(SFAPI_FILE_LIMIT + 1)

        content = await anyio.to_thread.run_sync(read)
        if len(content) > SFAPI_FILE_LIMIT:
            raise self._unsupported(f"upload of files over {SFAPI_FILE_LIMIT} bytes")
        _check_ok(
            await self._call(_build_upload(machine, remote_path, content), resource=machine),
            f"upload {remote_path}",
            machine,
        )
        if progress is not None:
            progress(len(content), len(content))

    async def command(self, resource: str, command: str | Sequence[str]) -> str:
        """Run a shell command on the machine (a login node) and return its output.

        A non-zero exit raises :class:`APIError` with the command's error text. A list is joined
        with shell quoting.

        :calls: POST /utilities/command/{machine}; GET /tasks/{id}
        """
        machine = self._machine(resource)
        text = command if isinstance(command, str) else shlex.join(command)
        data = await self._call(_build_command(machine, text), resource=machine)
        task_id = _parse_task_submitted(data, f"command on {machine}", machine)
        result = await self._await_task(task_id, f"command on {machine}", machine)
        output = result.get("output")
        return output if isinstance(output, str) else ""

    # -- opt-in file operations through `command` and `download` -------------------------------

    def _shell(self, operation: str) -> None:
        if not self.shell_file_operations:
            raise self._unsupported(operation)

    async def _run(self, resource: str, words: Sequence[str]) -> None:
        await self.command(resource, list(words))

    async def mkdir(self, resource: str, path: str, parents: bool = False) -> None:
        """:calls: POST /utilities/command/{machine} (``mkdir [-p] -- path``; opt-in)"""
        self._shell("mkdir")
        await self._run(resource, ["mkdir", *(["-p"] if parents else []), "--", path])

    async def rm(self, resource: str, path: str) -> None:
        """:calls: POST /utilities/command/{machine} (``rm -r -- path``; opt-in)"""
        self._shell("rm")
        await self._run(resource, ["rm", "-r", "--", path])

    async def mv(self, resource: str, source: str, target: str) -> None:
        """:calls: POST /utilities/command/{machine} (``mv -- source target``; opt-in)"""
        self._shell("mv")
        await self._run(resource, ["mv", "--", source, target])

    async def cp(self, resource: str, source: str, target: str) -> None:
        """:calls: POST /utilities/command/{machine} (``cp -r -- source target``; opt-in)"""
        self._shell("cp")
        await self._run(resource, ["cp", "-r", "--", source, target])

    async def chmod(self, resource: str, path: str, mode: str) -> None:
        """:calls: POST /utilities/command/{machine} (``chmod mode -- path``; opt-in)"""
        self._shell("chmod")
        if not re.fullmatch(r"[0-7]{3,4}|[ugoa]*[-+=][rwxXst]*(,[ugoa]*[-+=][rwxXst]*)*", mode):
            raise InvalidJobSpec(f"mode: {mode!r} is not a chmod mode", field="mode", facility=FACILITY)
        await self._run(resource, ["chmod", mode, "--", path])

    async def _text(self, resource: str, path: str) -> bytes:
        return await self._download_bytes(self._machine(resource), path)

    async def view(self, resource: str, path: str, offset: int = 0, size: int | None = None) -> str:
        """:calls: GET /utilities/download/{machine}/{path} (sliced here; opt-in)"""
        self._shell("view")
        data = await self._text(resource, path)
        end = None if size is None else offset + size
        return data[offset:end].decode("utf-8", "replace")

    async def head(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """:calls: GET /utilities/download/{machine}/{path} (first lines or bytes; opt-in)"""
        self._shell("head")
        data = await self._text(resource, path)
        if nbytes is not None:
            return data[:nbytes].decode("utf-8", "replace")
        return "".join(data.decode("utf-8", "replace").splitlines(keepends=True)[: lines or 10])

    async def tail(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """:calls: GET /utilities/download/{machine}/{path} (last lines or bytes; opt-in)"""
        self._shell("tail")
        data = await self._text(resource, path)
        if nbytes is not None:
            return data[-nbytes:].decode("utf-8", "replace")
        return "".join(data.decode("utf-8", "replace").splitlines(keepends=True)[-(lines or 10) :])

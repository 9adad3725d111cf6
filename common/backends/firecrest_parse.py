"""Pure request building and response parsing for the FirecREST v2 backend.

Every function here is free of I/O so it is tested on recorded payloads
(``tests/payloads/firecrest/``). :mod:`facility_common.backends.firecrest` wires them to
pyfirecrest's ``AsyncFirecrest``.
"""

from __future__ import annotations

import posixpath
import stat as stat_module
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import APIError, InvalidJobSpec
from ..models import FileEntry, Job, JobSpec, Outage, ResourceState, ResourceStatus
from .slurm_script import (
    SUBMIT_TAG_VARIABLE,
    SlurmSite,
    check_tag,
    directive_lines,
    given_script_options,
    insert_after_shebang,
    job_environment,
    render_batch_script,
    sbatch_options,
)
from .states import PBS_STATES, SLURM_STATES, settle_exit_code, translate_state

__all__ = [
    "SUBMIT_TAG_VARIABLE",
    "TAG_LINE_PREFIX",
    "build_submit",
    "default_directory",
    "job_id_of",
    "max_ops_file_size",
    "parse_checksum",
    "parse_file_entry",
    "parse_job",
    "parse_jobs",
    "parse_outages",
    "parse_stat",
    "parse_system",
    "render_script",
    "scheduler_type",
    "tag_of_script",
]

FACILITY = "firecrest"
TAG_LINE_PREFIX = "# facility-submit-tag: "
DEFAULT_MAX_OPS_FILE_SIZE = 5 * 1024 * 1024
"""FirecREST's default ``max_ops_file_size`` when a system does not say."""

_LS_TYPES = {"-": "file", "d": "directory", "l": "symlink"}
_BAD_SERVICES = frozenset({"scheduler", "ssh", "exception"})


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


SITE = SlurmSite(
    facility=FACILITY,
    queue_option=None,
    default_job_name="facility-job",
    files_before_attributes=True,
    reserved=frozenset({"job-name"}),
    tag_line=TAG_LINE_PREFIX,
)
"""FirecREST: the tag rides in a comment line (comments do not end Slurm's directive block);
queue, account, reservation, working directory and environment are fields of the API's submit
request. ``--job-name`` is reserved: a job is looked for by its name and tag."""


def render_script(spec: JobSpec, *, tag: str | None) -> str:
    """The batch script of ``spec``: the submit tag as a comment (comments do not end Slurm's
    directive block), ``#SBATCH`` lines for what the spec asks, then the command.

    A spec that brings its own ``script`` is sent as written, with the tag line and the spec's
    name and stdin/stdout/stderr paths added as directives right after its ``#!`` line (its own
    directives come later, so they win where both speak). ``custom_attributes`` become
    ``#SBATCH --<key>=<value>`` lines. The rendering is :mod:`.slurm_script`'s, with :data:`SITE`.
    """
    if spec.script is None:
        return render_batch_script(spec, SITE, sbatch_options(spec, SITE, tag=tag), tag=tag)
    if not spec.script.startswith("#!"):
        raise InvalidJobSpec(
            "script: a batch script must start with a #! line", field="script", facility=FACILITY
        )
    head = [TAG_LINE_PREFIX + check_tag(tag, FACILITY)] if tag is not None else []
    return insert_after_shebang(spec.script, head + directive_lines(given_script_options(spec, SITE)))


def build_submit(
    spec: JobSpec,
    *,
    tag: str | None,
    directory: str,
    account: str | None,
    partition: str | None,
) -> dict[str, Any]:
    """The keyword arguments of pyfirecrest's ``submit`` for ``spec`` (it posts them as the
    ``PostJobSubmitRequest`` body): script, working directory, environment (with the submit tag),
    account, partition and reservation."""
    script = render_script(spec, tag=tag)
    return {
        "script_str": script,
        "working_dir": spec.directory or directory,
        "env_vars": job_environment(spec, tag) or None,
        "account": spec.attributes.account or account,
        "partition": spec.attributes.queue_name or partition,
        "reservation": spec.attributes.reservation_id,
    }


def tag_of_script(script: str | None) -> str | None:
    """The submit tag a rendered script carries, if any."""
    for line in (script or "").splitlines()[:3]:
        if line.startswith(TAG_LINE_PREFIX):
            return line[len(TAG_LINE_PREFIX) :].strip()
    return None


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

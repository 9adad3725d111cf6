"""Pure request builders and answer parsers of the Flux RESTful API backend.

Nothing here does I/O: :mod:`facility_common.backends.flux` wires these functions to the HTTP
session, and the unit tests feed them recorded payloads.

How a :class:`~facility_common.models.JobSpec` becomes a submit (the server reads query
parameters, and only the environment from the JSON body):

======================================  =========================================================
JobSpec                                 Flux RESTful submit
======================================  =========================================================
``executable`` + ``arguments``          ``command`` (shell-quoted; the server ``shlex.split``\\ s it)
``script``                              ``command`` = ``/bin/bash -c <script>``
``directory``                           ``workdir``
``environment`` (+ the submit tag)      JSON body (``envars``)
``resources.node_count``                ``num_nodes``
``resources.process_count``             ``num_tasks`` (or node_count x processes_per_node)
``resources.cpu_cores_per_process``     ``cores_per_task``
``resources.gpu_cores_per_process``     ``gpus_per_task``
``resources.exclusive_node_use``        ``exclusive``
``attributes.duration``                 ``runtime`` (whole seconds, rounded up)
``attributes.custom_attributes``        ``option_flags`` (``key=value,...`` shell options)
``attributes.queue_name``/``account``   accepted only when they name this instance's own queue
                                        or bank (backend options ``queue``/``account``)
``name``                                not sent: Flux names a job after its command
======================================  =========================================================

Anything else (``stdin_path``, ``stdout_path``, ``stderr_path``, ``resources.memory``,
``attributes.reservation_id``) cannot be expressed and raises :class:`InvalidJobSpec` naming the
field before any request is made.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ..errors import InvalidJobSpec
from ..models import Job, JobSpec, ResourceState, ResourceStatus
from .states import settle_exit_code, translate_flux_state

__all__ = [
    "SUBMIT_TAG_VARIABLE",
    "FluxRequest",
    "build_cancel",
    "build_get_job",
    "build_list_jobs",
    "build_nodes",
    "build_output",
    "build_submit",
    "job_id_of",
    "job_items",
    "parse_job",
    "parse_output",
    "parse_resource",
    "parse_submit",
]

FACILITY = "flux"
SUBMIT_TAG_VARIABLE = "FACILITY_SUBMIT_TAG"
BASH = "/bin/bash"


@dataclasses.dataclass(frozen=True)
class FluxRequest:
    """One API call as built here: what ``ApiSession.request`` sends (paths relative to the root)."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    idempotent: bool | None = None


def _job_path(job_id: str) -> str:
    text = str(job_id).strip()
    if not text or "/" in text:
        raise InvalidJobSpec(f"job_id: {job_id!r} is not a Flux job id", field="job_id", facility=FACILITY)
    return f"v1/jobs/{quote(text, safe='')}"


def _fail(field: str, message: str) -> InvalidJobSpec:
    return InvalidJobSpec(f"{field}: {message}", field=field, facility=FACILITY)


def _num_tasks(spec: JobSpec) -> int | None:
    resources = spec.resources
    per_node = resources.processes_per_node
    if per_node is None:
        return resources.process_count
    if resources.node_count is None:
        raise _fail(
            "resources.processes_per_node",
            "Flux RESTful takes a task count and a node count, not tasks per node; "
            "give resources.node_count too (or resources.process_count instead)",
        )
    total = per_node * resources.node_count
    if resources.process_count is not None and resources.process_count != total:
        raise _fail(
            "resources.process_count",
            f"{resources.process_count} disagrees with node_count x processes_per_node = {total}",
        )
    return total


def _option_flags(custom: Mapping[str, str]) -> str | None:
    for key, value in custom.items():
        if not key or any(c in key for c in ",= ") or "," in value:
            raise _fail(
                "attributes.custom_attributes",
                f"{key!r}: Flux shell options are sent as key=value,... (no ',' or '=' in keys, "
                "no ',' in values)",
            )
    return ",".join(f"{key}={value}" for key, value in custom.items()) or None


def _check_named(field: str, value: str | None, allowed: str | None, what: str) -> None:
    if value is None or value == allowed:
        return
    hint = f"this instance is configured as {what} {allowed!r}" if allowed else f"no {what} is configured"
    raise _fail(
        field,
        f"Flux RESTful cannot choose a {what}; {value!r} is not this instance's ({hint}; "
        f"set the backend option to accept it)",
    )


def command_of(spec: JobSpec) -> list[str]:
    """The argv the job runs."""
    if spec.script is not None:
        return [BASH, "-c", spec.script]
    assert spec.executable is not None
    return [spec.executable, *spec.arguments]


def build_submit(
    spec: JobSpec, *, tag: str, queue: str | None = None, account: str | None = None
) -> FluxRequest:
    """The submit call for ``spec``; raises :class:`InvalidJobSpec` for what Flux cannot express.

    :calls: POST /v1/jobs/submit?command=...&num_tasks=... with the environment as JSON body
    """
    for field in ("stdin_path", "stdout_path", "stderr_path"):
        if getattr(spec, field) is not None:
            raise _fail(
                field,
                "Flux RESTful keeps a job's output in its event log; read it with job_output "
                "(stdout and stderr arrive merged) and redirect inside the command if a file is needed",
            )
    if spec.resources.memory is not None:
        raise _fail("resources.memory", "Flux RESTful has no memory request")
    if spec.attributes.reservation_id is not None:
        raise _fail("attributes.reservation_id", "Flux RESTful has no reservations")
    _check_named("attributes.queue_name", spec.attributes.queue_name, queue, "queue")
    _check_named("attributes.account", spec.attributes.account, account, "bank")
    duration = spec.attributes.duration
    params: dict[str, Any] = {
        "command": shlex.join(command_of(spec)),
        "num_tasks": _num_tasks(spec),
        "cores_per_task": spec.resources.cpu_cores_per_process,
        "gpus_per_task": spec.resources.gpu_cores_per_process,
        "num_nodes": spec.resources.node_count,
        "exclusive": spec.resources.exclusive_node_use,
        "option_flags": _option_flags(spec.attributes.custom_attributes),
        "workdir": spec.directory,
        "runtime": math.ceil(duration.total_seconds()) if duration is not None else None,
    }
    environment = {**spec.environment, SUBMIT_TAG_VARIABLE: tag}
    return FluxRequest(
        "POST",
        "v1/jobs/submit",
        params={k: v for k, v in params.items() if v is not None},
        json=environment,
        idempotent=False,
    )


def build_get_job(job_id: str) -> FluxRequest:
    """:calls: GET /v1/jobs/{jobid}"""
    return FluxRequest("GET", _job_path(job_id))


def build_list_jobs(limit: int | None = None) -> FluxRequest:
    """Every job with its details in one call.

    :calls: GET /v1/jobs?details=true&listing=true
    """
    params: dict[str, Any] = {"details": True, "listing": True}
    if limit is not None:
        params["limit"] = limit
    return FluxRequest("GET", "v1/jobs", params=params)


def build_cancel(job_id: str) -> FluxRequest:
    """:calls: POST /v1/jobs/{jobid}/cancel (repeating a cancel is harmless)"""
    return FluxRequest("POST", _job_path(job_id) + "/cancel", idempotent=True)


def build_output(job_id: str, *, stream: bool = False) -> FluxRequest:
    """:calls: GET /v1/jobs/{jobid}/output or GET /v1/jobs/{jobid}/output/stream"""
    return FluxRequest("GET", _job_path(job_id) + ("/output/stream" if stream else "/output"))


def build_nodes() -> FluxRequest:
    """:calls: GET /v1/nodes"""
    return FluxRequest("GET", "v1/nodes")


def job_id_of(value: Any) -> str:
    """A job id as the API gives it (an integer, or its text); raises ValueError for anything
    else (a list, an object, a boolean, empty text) rather than making an id of its ``str()``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"a job id must be an integer or text, not {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ValueError("a job id is empty")
    return text


def parse_submit(data: Any) -> str:
    """The job id of a submit answer ``{"Message": "Job submit.", "id": <int>}``."""
    if not isinstance(data, Mapping) or data.get("id") in (None, ""):
        raise ValueError("the submit answer holds no job id")
    return job_id_of(data["id"])


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(float(value), tz=UTC)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _message(data: Mapping[str, Any]) -> str | None:
    exception = data.get("exception")
    if isinstance(exception, Mapping) and exception.get("occurred"):
        kind = exception.get("type") or "exception"
        note = exception.get("note") or ""
        return f"{kind}: {note}".strip().rstrip(":")
    return None


def parse_job(data: Any, resource: str) -> Job:
    """A Flux jobinfo document as a :class:`Job`.

    INACTIVE jobs are judged by ``result`` (COMPLETED, FAILED, CANCELED, TIMEOUT); a COMPLETED
    result with a non-zero ``returncode`` is FAILED.
    """
    if not isinstance(data, Mapping) or data.get("id") in (None, ""):
        raise ValueError("a job document needs an id")
    job_id = job_id_of(data["id"])
    native = data.get("state")
    result = data.get("result") or None
    state = translate_flux_state(
        str(native) if native is not None else None,
        str(result) if result is not None else None,
        facility=FACILITY,
    )
    exit_code = _int(data.get("returncode")) if state.is_terminal else None
    state = settle_exit_code(state, exit_code)
    native_word = str(native) if native is not None else None
    if native_word and native_word.upper() == "INACTIVE" and result:
        native_word = f"INACTIVE ({result})"
    return Job(
        id=job_id,
        resource=resource,
        state=state,
        native_state=native_word,
        exit_code=exit_code,
        message=_message(data),
        submitted_at=_time(data.get("t_submit")),
        started_at=_time(data.get("t_run")),
        finished_at=_time(data.get("t_inactive")),
        name=str(data["name"]) if data.get("name") else None,
        raw=dict(data),
    )


def job_items(data: Any) -> list[Mapping[str, Any]]:
    """The job documents of a listing, in any of the server's shapes.

    ``{"jobs": [...]}``, a bare list, or ``{"<id>": jobinfo, ...}`` (``details`` without
    ``listing``).
    """
    if isinstance(data, Mapping) and isinstance(data.get("jobs"), list):
        items: Sequence[Any] = data["jobs"]
    elif isinstance(data, list):
        items = data
    elif isinstance(data, Mapping):
        items = [
            {"id": key, **value} if isinstance(value, Mapping) and "id" not in value else value
            for key, value in data.items()
        ]
    else:
        raise ValueError("a job listing must be a list or an object")
    if not all(isinstance(item, Mapping) for item in items):
        raise ValueError("every listed job must be an object")
    return list(items)


def parse_output(data: Any) -> str | None:
    """The text of ``{"Output": [chunks]}``; None for ``{"Message": "...does not exist yet..."}``."""
    if isinstance(data, Mapping) and "Output" in data:
        chunks = data["Output"]
        if not isinstance(chunks, list):
            raise ValueError("Output must be a list of text chunks")
        return "".join(str(chunk) for chunk in chunks)
    if isinstance(data, Mapping) and "Message" in data:
        return None
    raise ValueError("an output answer holds Output or Message")


def last_lines(text: str, count: int) -> str:
    """The last ``count`` lines of ``text`` (line ends kept)."""
    lines = text.splitlines(keepends=True)
    return "".join(lines[-count:]) if count > 0 else ""


def parse_resource(data: Any, name: str) -> ResourceStatus:
    """The Flux instance as one resource; ``{"nodes": [...]}`` lists its free nodes.

    Free nodes mean UP; none free (every node busy) is DEGRADED: jobs queue but are accepted.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), list):
        raise ValueError("a nodes answer is {'nodes': [...]}")
    nodes = [str(node) for node in data["nodes"]]
    state = ResourceState.UP if nodes else ResourceState.DEGRADED
    return ResourceStatus(
        id=name,
        name=name,
        state=state,
        resource_type="compute",
        description=f"Flux instance, {len(nodes)} free node(s)",
        native_state="free nodes" if nodes else "no free nodes",
        raw={"nodes": nodes},
    )


def down_resource(name: str, reason: str) -> ResourceStatus:
    """The instance when the server answers 503 (Flux is stopped or unreachable)."""
    return ResourceStatus(
        id=name,
        name=name,
        state=ResourceState.DOWN,
        resource_type="compute",
        description=reason,
        native_state="unavailable",
    )

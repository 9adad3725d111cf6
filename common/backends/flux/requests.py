"""Pure request builders of the Flux RESTful API backend.

Nothing here does I/O: :mod:`facility_common.backends.flux.backend` sends what these functions
build through its :class:`~facility_common.http.ApiSession`, and the unit tests check them without
a server. Paths are relative to the server root (``v1/...``); the API answers 200 on success.

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

import math
import re
import shlex
from collections.abc import Mapping
from typing import Any

from ...errors import InvalidJobSpec
from ...http import ApiRequest
from ...models import JobSpec
from ...url_paths import path_segment
from ..submit import tagged_environment

__all__ = [
    "build_auth_info",
    "build_cancel",
    "build_get_job",
    "build_list_jobs",
    "build_nodes",
    "build_output",
    "build_search",
    "build_stop_service",
    "build_submit",
    "command_of",
]

FACILITY = "flux"
BASH = "/bin/bash"
#: The API answers every successful call with 200.
OK = (200,)


def _job_path(job_id: str) -> str:
    """``v1/jobs/{jobid}``, the id written as one segment (:mod:`facility_common.url_paths`)."""
    return "v1/jobs/" + path_segment(str(job_id).strip(), field="job_id", facility=FACILITY)


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
) -> ApiRequest:
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
    return ApiRequest(
        "POST",
        "v1/jobs/submit",
        params={k: v for k, v in params.items() if v is not None},
        json=tagged_environment(tag, spec.environment),
        idempotent=False,
        ok=OK,
    )


def build_get_job(job_id: str) -> ApiRequest:
    """:calls: GET /v1/jobs/{jobid}"""
    return ApiRequest("GET", _job_path(job_id), ok=OK)


def build_list_jobs(limit: int | None = None) -> ApiRequest:
    """Every job with its details in one call.

    :calls: GET /v1/jobs?details=true&listing=true
    """
    params: dict[str, Any] = {"details": True, "listing": True}
    if limit is not None:
        params["limit"] = limit
    return ApiRequest("GET", "v1/jobs", params=params, ok=OK)


def build_cancel(job_id: str) -> ApiRequest:
    """:calls: POST /v1/jobs/{jobid}/cancel (repeating a cancel is harmless)"""
    return ApiRequest("POST", _job_path(job_id) + "/cancel", idempotent=True, ok=OK)


def build_output(job_id: str, *, stream: bool = False) -> ApiRequest:
    """:calls: GET /v1/jobs/{jobid}/output or GET /v1/jobs/{jobid}/output/stream"""
    return ApiRequest("GET", _job_path(job_id) + ("/output/stream" if stream else "/output"), ok=OK)


def build_nodes() -> ApiRequest:
    """:calls: GET /v1/nodes"""
    return ApiRequest("GET", "v1/nodes", ok=OK)


def build_auth_info() -> ApiRequest:
    """:calls: GET /v1/auth (public: how the server authenticates)"""
    return ApiRequest("GET", "v1/auth", ok=OK)


def build_search(query: str | None = None, *, start: int = 0, length: int | None = None) -> ApiRequest:
    """One page of the job search: the jobs whose details match ``query`` (a regular expression
    the server applies to each job's values joined together), from the ``start``-th on, at most
    ``length`` of them.

    :calls: GET /v1/jobs/search?search=&start=&length=
    """
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise InvalidJobSpec("start: must be a whole number >= 0", field="start", facility=FACILITY)
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
        raise InvalidJobSpec("length: must be a whole number >= 1", field="length", facility=FACILITY)
    if query:
        try:
            re.compile(query)
        except re.error as exc:
            raise InvalidJobSpec(
                f"query: not a regular expression the server can use ({exc})",
                field="query",
                facility=FACILITY,
            ) from None
    params: dict[str, Any] = {"search": query or None, "start": start or None, "length": length}
    return ApiRequest(
        "GET", "v1/jobs/search", params={k: v for k, v in params.items() if v is not None}, ok=OK
    )


def build_stop_service() -> ApiRequest:
    """Stop the Flux instance (the server runs ``flux shutdown``; a superuser's call). Never
    repeated blindly: a dropped answer is what a stopping server gives.

    :calls: POST /v1/service/stop
    """
    return ApiRequest("POST", "v1/service/stop", idempotent=False, ok=OK)

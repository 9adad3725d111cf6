"""The Superfacility API's calls as :class:`~facility_common.http.ApiRequest` values.

Each ``build_<op>`` function is pure: it quotes the path, chooses the parameters and the form
fields, and returns the request :meth:`ApiSession.call <facility_common.http.ApiSession.call>`
sends. Paths are relative to the API root with its version (``.../api/v1.2``). The API answers
every success with ``200`` (domain errors included, as ``{"status": "ERROR"}`` bodies), so only
``200`` counts as success.

Remote paths keep their slashes, so an absolute path gives ``utilities/ls/perlmutter//home/x``:
the API reads the part after the machine as the path. Ids and names are written as one segment
each and remote paths as a URL tail by :mod:`facility_common.url_paths`, so no value changes the
route (a ``..`` in a remote path is refused).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from ...errors import InvalidJobSpec
from ...http import ApiRequest
from ...url_paths import path_segment, path_tail

__all__ = [
    "build_cancel",
    "build_command",
    "build_download",
    "build_job",
    "build_jobs",
    "build_ls",
    "build_outages",
    "build_status",
    "build_submit",
    "build_submit_path",
    "build_task",
    "build_upload",
    "machine_name",
]

FACILITY = "sfapi"
OK = (200,)
"""The one status the API answers a success with."""


def machine_name(resource: str) -> str:
    """``resource`` as a machine name of the API (``perlmutter``, ``dtns``), which is its id too.

    Raises :class:`InvalidJobSpec` naming the field before any request for an empty name or one
    with a slash (which would change the path of the call).
    """
    machine = str(resource).strip()
    if not machine or "/" in machine:
        raise InvalidJobSpec(
            f"resource: {resource!r} is not a machine name", field="resource", facility=FACILITY
        )
    return machine


def _q(value: str, field: str = "resource") -> str:
    """One path segment (a machine name, a job or task id)."""
    return path_segment(value, field=field, facility=FACILITY)


def _qpath(path: str) -> str:
    """A remote path as the tail of a URL (slashes kept; absolute paths give ``machine//path``)."""
    return path_tail(path, field="path", facility=FACILITY)


def build_status(machine: str | None = None) -> ApiRequest:
    """:calls: GET /status | GET /status/{name}"""
    return ApiRequest("GET", "status" if machine is None else f"status/{_q(machine)}", ok=OK)


def build_outages(machine: str | None, planned: bool) -> ApiRequest:
    """:calls: GET /status/outages[/planned][/{name}]"""
    path = "status/outages/planned" if planned else "status/outages"
    return ApiRequest("GET", path if machine is None else f"{path}/{_q(machine)}", ok=OK)


def build_submit(machine: str, script: str) -> ApiRequest:
    """:calls: POST /compute/jobs/{machine} (form ``job=<script>``, ``isPath=false``)"""
    return ApiRequest("POST", f"compute/jobs/{_q(machine)}", data={"job": script, "isPath": "false"}, ok=OK)


def build_submit_path(machine: str, path: str, args: Sequence[str]) -> ApiRequest:
    """:calls: POST /compute/jobs/{machine} (form ``job=<path>``, ``isPath=true``, ``args``)"""
    data: dict[str, Any] = {"job": path, "isPath": "true"}
    if args:
        data["args"] = list(args)
    return ApiRequest("POST", f"compute/jobs/{_q(machine)}", data=data, ok=OK)


def build_task(task_id: str) -> ApiRequest:
    """:calls: GET /tasks/{id}"""
    return ApiRequest("GET", f"tasks/{_q(task_id, 'task_id')}", ok=OK)


def build_jobs(machine: str, job_ids: Sequence[str] | None, *, sacct: bool) -> ApiRequest:
    """:calls: GET /compute/jobs/{machine}?sacct=..&cached=false[&kwargs=jobid=1,2]

    ``cached=false`` always: the cached answer misses jobs submitted moments ago (sfapi_client
    issue #93).
    """
    params: dict[str, Any] = {"sacct": sacct, "cached": False}
    if job_ids:
        params["kwargs"] = ["jobid=" + ",".join(str(j) for j in job_ids)]
    return ApiRequest("GET", f"compute/jobs/{_q(machine)}", params=params, ok=OK)


def build_job(machine: str, job_id: str, *, sacct: bool) -> ApiRequest:
    """:calls: GET /compute/jobs/{machine}/{jobid}?sacct=..&cached=false"""
    return ApiRequest(
        "GET",
        f"compute/jobs/{_q(machine)}/{_q(job_id, 'job_id')}",
        params={"sacct": sacct, "cached": False},
        ok=OK,
    )


def build_cancel(machine: str, job_id: str) -> ApiRequest:
    """:calls: DELETE /compute/jobs/{machine}/{jobid}"""
    return ApiRequest("DELETE", f"compute/jobs/{_q(machine)}/{_q(job_id, 'job_id')}", ok=OK)


def build_ls(machine: str, path: str) -> ApiRequest:
    """:calls: GET /utilities/ls/{machine}/{path}"""
    return ApiRequest("GET", f"utilities/ls/{_q(machine)}/{_qpath(path)}", ok=OK)


def build_download(machine: str, path: str, binary: bool = True) -> ApiRequest:
    """:calls: GET /utilities/download/{machine}/{path}?binary=true"""
    return ApiRequest(
        "GET",
        f"utilities/download/{_q(machine)}/{_qpath(path)}",
        params={"binary": binary},
        ok=OK,
    )


def build_upload(machine: str, path: str, data: bytes) -> ApiRequest:
    """:calls: PUT /utilities/upload/{machine}/{path} (multipart ``file``)"""
    name = posixpath.basename(path) or "upload"
    return ApiRequest(
        "PUT",
        f"utilities/upload/{_q(machine)}/{_qpath(path)}",
        files={"file": (name, data, "application/octet-stream")},
        ok=OK,
    )


def build_command(machine: str, command: str) -> ApiRequest:
    """:calls: POST /utilities/command/{machine} (form ``executable``)"""
    return ApiRequest("POST", f"utilities/command/{_q(machine)}", data={"executable": command}, ok=OK)

"""The slurmrestd calls the backend makes, as :class:`~facility_common.http.ApiRequest` values.

Every builder is a pure function of the call's path prefix (``slurm/v0.0.38`` for slurmrestd,
``slurm/{enclave}/{version}/{cluster}`` behind S3M) and its arguments. Some calls count error
statuses as answers because slurmrestd puts its verdict in the body (``errors[]``): the backend
reads it there (an unknown job is a 404 or a 500 with error 2017, a refused submit a 500 with
slurmctld's error number, a submit slurmrestd could not read a 400 with its own).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ...http import ApiRequest
from .versions import script_at_top

__all__ = [
    "SUBMIT_REFUSALS",
    "build_accounted_job",
    "build_cancel",
    "build_get_job",
    "build_list_jobs",
    "build_nodes",
    "build_openapi",
    "build_partitions",
    "build_ping",
    "build_reservations",
    "build_submit",
    "submit_body",
]


def _q(value: str) -> str:
    return quote(str(value), safe="")


def build_openapi() -> ApiRequest:
    """:calls: GET openapi/v3 (the daemon's description of every route it serves)"""
    return ApiRequest("GET", "openapi/v3", ok=(200,))


def build_ping(prefix: str) -> ApiRequest:
    """:calls: GET {prefix}/ping (only a 200 means the version is served)"""
    return ApiRequest("GET", f"{prefix}/ping", ok=(200,))


def build_partitions(prefix: str) -> ApiRequest:
    """:calls: GET {prefix}/partitions"""
    return ApiRequest("GET", f"{prefix}/partitions")


def build_nodes(prefix: str) -> ApiRequest:
    """:calls: GET {prefix}/nodes"""
    return ApiRequest("GET", f"{prefix}/nodes")


def build_reservations(prefix: str) -> ApiRequest:
    """:calls: GET {prefix}/reservations"""
    return ApiRequest("GET", f"{prefix}/reservations")


def build_get_job(prefix: str, job_id: str) -> ApiRequest:
    """:calls: GET {prefix}/job/{job_id}"""
    return ApiRequest("GET", f"{prefix}/job/{_q(job_id)}", ok=(200, 404, 500))


def build_accounted_job(prefix: str, job_id: str) -> ApiRequest:
    """:calls: GET {prefix}/job/{job_id} with the accounting prefix (``slurmdb/v0.0.38``): the job
    as slurmdbd recorded it, also after slurmctld forgot it"""
    return ApiRequest("GET", f"{prefix}/job/{_q(job_id)}", ok=(200, 404, 500))


def build_list_jobs(prefix: str, *, update_time: int | None = None) -> ApiRequest:
    """:calls: GET {prefix}/jobs (every job slurmctld knows, in one call)

    With ``update_time`` slurmctld answers *all* jobs when any job changed since then, and
    nothing otherwise (v0.0.38: HTTP 304 with no body; later versions: no jobs and a warning).
    """
    if update_time is None:
        return ApiRequest("GET", f"{prefix}/jobs")
    return ApiRequest("GET", f"{prefix}/jobs", params={"update_time": update_time}, ok=(200, 304))


def build_cancel(prefix: str, job_id: str) -> ApiRequest:
    """:calls: DELETE {prefix}/job/{job_id} (SIGKILL: the job ends CANCELLED)"""
    return ApiRequest("DELETE", f"{prefix}/job/{_q(job_id)}", ok=(200, 204, 404, 500))


def submit_body(version: str, job: dict[str, Any], script: str) -> dict[str, Any]:
    """The submit body: v0.0.38 puts the script beside the job, later versions inside it."""
    if script_at_top(version):
        return {"script": script, "job": job}
    return {"job": {**job, "script": script}}


SUBMIT_REFUSALS = (400, 422)
"""Statuses of a submit that slurmrestd read and refused before it reached slurmctld (a field it
could not parse): the job does not exist."""


def build_submit(prefix: str, version: str, job: dict[str, Any], script: str) -> ApiRequest:
    """:calls: POST {prefix}/job/submit (400, 422 and 500 are read: slurmrestd sends its own
    refusals and slurmctld's so, with the reasons in ``errors[]``)"""
    return ApiRequest(
        "POST",
        f"{prefix}/job/submit",
        json=submit_body(version, job, script),
        ok=(200, 201, 202, 204, *SUBMIT_REFUSALS, 500),
    )

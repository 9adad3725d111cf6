"""What a finished job means for its task: success, or a failure that shows the job's stderr.

Shared by the submit operator and the job sensor, inline or after deferral.
"""

from __future__ import annotations

from typing import Any, Protocol

from airflow.sdk.exceptions import AirflowException

from facility_common import FacilityClient, FacilityError, Job, JobState

from .payloads import job_payload

__all__ = ["JobFailedError", "TaskLog", "finish_job"]


class TaskLog(Protocol):
    """The logging calls used here (a task's ``self.log`` or a ``logging.Logger``)."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...
    def warning(self, msg: Any, /, *args: Any) -> Any: ...
    def error(self, msg: Any, /, *args: Any) -> Any: ...


class JobFailedError(AirflowException):
    """The facility job ended in a state other than COMPLETED."""

    def __init__(self, message: str, *, job: Job) -> None:
        super().__init__(message)
        self.job = job


def _stderr_tail(client: FacilityClient, job: Job, lines: int, log: TaskLog) -> str | None:
    try:
        return client.job_output(job.resource, job.id, "stderr", tail=lines)
    except FacilityError as exc:
        log.warning("the stderr of job %s could not be read: %s", job.id, exc)
        return None


def finish_job(client: FacilityClient, job: Job, *, tail_lines: int, log: TaskLog) -> dict[str, Any]:
    """Return the job's payload if it COMPLETED; otherwise log its stderr tail and raise."""
    if job.state == JobState.COMPLETED:
        log.info("job %s on %s completed (exit code %s)", job.id, job.resource, job.exit_code)
        return job_payload(job)
    description = (
        f"job {job.id} on {job.resource} ended {job.state.value} "
        f"(native state {job.native_state!r}, exit code {job.exit_code}"
        + (f", {job.message}" if job.message else "")
        + ")"
    )
    log.error("%s", description)
    tail = _stderr_tail(client, job, tail_lines, log) if tail_lines > 0 else None
    if tail:
        log.error("last %d lines of the job's stderr:\n%s", tail_lines, tail.rstrip("\n"))
    else:
        log.error("the job's stderr is empty or unavailable")
    raise JobFailedError(description, job=job)

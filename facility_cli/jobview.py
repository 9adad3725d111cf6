"""How the command shows a job: one line with its end and reason, a detail block, JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .output import fmt_time, out, state_styled, table

if TYPE_CHECKING:
    from facility_common import Job

__all__ = ["job_dict", "job_line", "native_suffix", "print_job_detail", "print_jobs", "reason_of"]


def job_dict(job: Job, *, raw: bool = False) -> dict[str, Any]:
    """The job as JSON; the API's own record only with ``raw``."""
    data = job.to_dict()
    if not raw:
        data["raw"] = None
    return data


def reason_of(job: Job) -> str:
    """Why the job is in its state, as the facility said it (empty when it said nothing new:
    ``job completed`` says no more than the state)."""
    reason = (job.message or "").strip()
    state = job.state.value.lower()
    if reason.lower() in (
        state,
        f"job {state}",
        (job.native_state or "").lower(),
        f"job {(job.native_state or '').lower()}",
    ):
        return ""
    return reason


def native_suffix(job: Job) -> str:
    """`` (the API's word)`` when it says more than the state."""
    native = job.native_state or ""
    return f" ({native})" if native and native.lower() != job.state.value.lower() else ""


def job_line(job: Job) -> str:
    """``job 1006: FAILED (exit code 1): launch failed: No such file or directory: '/no/such'``."""
    line = f"job {job.id}: {state_styled(job.state.value)}"
    if job.exit_code is not None:
        line += f" (exit code {job.exit_code})"
    reason = reason_of(job)
    if reason:
        line += f": {reason}"
    return line


def print_job_detail(job: Job) -> None:
    """Every fact the command has about one job, one per line."""
    native = native_suffix(job)
    rows = [
        ("job", job.id),
        ("name", job.name or ""),
        ("resource", job.resource),
        ("state", state_styled(job.state.value) + native),
        ("exit code", "" if job.exit_code is None else str(job.exit_code)),
        ("reason", reason_of(job)),
        ("submitted", fmt_time(job.submitted_at)),
        ("started", fmt_time(job.started_at)),
        ("finished", fmt_time(job.finished_at)),
        ("updated", fmt_time(job.updated_at)),
        ("stdout", job.stdout_path or ""),
        ("stderr", job.stderr_path or ""),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        if value:
            out(f"{name.ljust(width)}  {value}")


def print_jobs(jobs: list[Job]) -> None:
    """The jobs as a table, with the facility's reason for each one's state."""
    table(
        ["job", "name", "state", "exit", "submitted", "reason"],
        [
            (
                job.id,
                job.name,
                state_styled(job.state.value),
                job.exit_code,
                fmt_time(job.submitted_at),
                reason_of(job),
            )
            for job in jobs
        ],
    )

"""Why a pilot failed, in words Parsl's error report can show.

Parsl's report of failed blocks prints each ``JobStatus.message``, ``EXIT CODE`` and the output
summaries. A bare ``EXIT CODE: 127`` says nothing to most users: it is the shell's "command not
found", and on APIs that give a job only the environment sent with it (slurmrestd, OLCF S3M)
it nearly always means the worker pool, ``process_worker_pool.py``, was not on PATH because
``worker_init`` did not activate the Python environment that has Parsl. :func:`failure_message`
says so, with the tail of the pilot's stderr and what to do.
"""

from __future__ import annotations

__all__ = ["COMMAND_NOT_FOUND", "failure_message", "stderr_excerpt"]

COMMAND_NOT_FOUND = 127
"""The shell's exit code for a command it could not find."""

EXCERPT_LINES = 5

_ADVICE = (
    "The pilot's environment is only what the API sends (slurmrestd and OLCF S3M pass no login "
    "environment of their own), so worker_init must put Parsl's worker pool on PATH: activate the "
    "Python environment that has Parsl, e.g. worker_init='source /path/to/venv/bin/activate' or "
    "'module load python; conda activate myenv', or set PATH in the provider's environment"
)


def stderr_excerpt(text: str | None, lines: int = EXCERPT_LINES) -> str:
    """The last ``lines`` non-empty lines of ``text``, joined with `` | `` (one line for a log)."""
    if not text:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def failure_message(
    job_id: str, resource: str, reason: str | None, exit_code: int | None, stderr_tail: str | None
) -> str:
    """The message of a failed pilot: the facility's reason, and for a command that was not
    found (exit 127, or the shell saying so) what that means and what ``worker_init`` must do."""
    message = f"pilot job {job_id} on {resource} failed: {reason or 'no reason given'}"
    excerpt = stderr_excerpt(stderr_tail)
    not_found = exit_code == COMMAND_NOT_FOUND or "command not found" in (stderr_tail or "")
    if not_found:
        message += (
            f"; exit code {exit_code if exit_code is not None else COMMAND_NOT_FOUND}: "
            "the worker command was not found"
        )
    if excerpt:
        message += f"; stderr ends: {excerpt}"
    if not_found:
        message += f". {_ADVICE}"
    return message

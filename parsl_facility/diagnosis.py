"""Why a pilot failed, or why Parsl cannot start, in words a user can act on.

Parsl's report of failed blocks prints each ``JobStatus.message``, ``EXIT CODE`` and the output
summaries. A bare ``EXIT CODE: 127`` says nothing to most users: it is the shell's "command not
found". A pilot starts Parsl's worker pool, ``process_worker_pool.py``, through ``PATH``, so it
nearly always means that ``worker_init`` did not activate the Python environment that has Parsl:
on APIs that give a job only the environment sent with it (slurmrestd, OLCF S3M), or under a local
emulator started from a shell that had not activated it. :func:`failure_message` names the
command the pilot's shell could not find (from its stderr), with what to do.

The process that runs Parsl has the same need: HighThroughputExecutor starts ``interchange.py``
through ``PATH`` and fails with a bare ``FileNotFoundError`` when it is not there.
:func:`missing_local_commands` tells the provider, before the executor starts, so it can say so.
"""

from __future__ import annotations

import re
import shutil

__all__ = [
    "COMMAND_NOT_FOUND",
    "INTERCHANGE_COMMAND",
    "WORKER_COMMAND",
    "failure_message",
    "local_commands_advice",
    "missing_commands",
    "missing_local_commands",
    "stderr_excerpt",
]

COMMAND_NOT_FOUND = 127
"""The shell's exit code for a command it could not find."""

WORKER_COMMAND = "process_worker_pool.py"
"""The command a pilot runs to start Parsl's workers (HighThroughputExecutor's launch command)."""

INTERCHANGE_COMMAND = "interchange.py"
"""The command HighThroughputExecutor runs beside the DataFlowKernel."""

EXCERPT_LINES = 5

#: bash: ``name: command not found``; dash and other shells: ``name: not found``.
_NOT_FOUND = re.compile(r"(?:^|[\s:])([^\s:]+): (?:command )?not found\s*$")

_ADVICE = (
    "A pilot's PATH is what the facility gives a job plus what worker_init sets (slurmrestd and "
    "OLCF S3M give a job only what the API sends; a local emulator gives the environment it was "
    "started from), so worker_init must put Parsl's worker pool on PATH: activate the Python "
    "environment that has Parsl, e.g. worker_init='source /path/to/venv/bin/activate' or "
    "'module load python; conda activate myenv', or set PATH in the provider's environment"
)


def stderr_excerpt(text: str | None, lines: int = EXCERPT_LINES) -> str:
    """The last ``lines`` non-empty lines of ``text``, joined with `` | `` (one line for a log)."""
    if not text:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def missing_commands(stderr: str | None) -> list[str]:
    """The commands a shell said it could not find, in the order of ``stderr``, each once."""
    found: list[str] = []
    for line in (stderr or "").splitlines():
        match = _NOT_FOUND.search(line.strip())
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def failure_message(
    job_id: str, resource: str, reason: str | None, exit_code: int | None, stderr_tail: str | None
) -> str:
    """The message of a failed pilot: the facility's reason, the end of its stderr, and, when a
    command was not found, which one and what to do."""
    message = f"pilot job {job_id} on {resource} failed: {reason or 'no reason given'}"
    missing = missing_commands(stderr_tail)
    worker_missing = WORKER_COMMAND in missing
    if worker_missing:
        message += (
            f"; exit code {exit_code if exit_code is not None else COMMAND_NOT_FOUND}: the worker "
            f"command was not found: {WORKER_COMMAND} is not on the pilot's PATH"
        )
    elif exit_code == COMMAND_NOT_FOUND:
        shown = f"not found: {', '.join(missing)}" if missing else "its stderr does not say which"
        message += (
            f"; exit code {COMMAND_NOT_FOUND}: a command was not found ({shown}), most often "
            f"the worker command, {WORKER_COMMAND}"
        )
    elif missing:
        message += f"; command not found: {', '.join(missing)}"
    excerpt = stderr_excerpt(stderr_tail)
    if excerpt:
        message += f"; stderr ends: {excerpt}"
    if worker_missing or (exit_code == COMMAND_NOT_FOUND and not missing):
        message += f". {_ADVICE}"
    elif missing:
        message += (
            f". worker_init or the launcher runs {', '.join(missing)}, which the pilot's PATH "
            "does not have: load the module or activate the environment that provides it first"
        )
    return message


def missing_local_commands() -> list[str]:
    """Parsl's commands that this process cannot find on its PATH (HighThroughputExecutor
    starts ``interchange.py`` by name beside the DataFlowKernel)."""
    return [command for command in (INTERCHANGE_COMMAND,) if shutil.which(command) is None]


def local_commands_advice(missing: list[str]) -> str:
    """What to tell a user whose process cannot find Parsl's ``missing`` commands."""
    return (
        f"{', '.join(missing)} is not on this process's PATH: HighThroughputExecutor starts it by "
        "name, so starting the DataFlowKernel fails with FileNotFoundError. Run Parsl from the "
        "activated Python environment that has it (source /path/to/venv/bin/activate), or put "
        "that environment's bin directory first on PATH"
    )

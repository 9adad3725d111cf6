"""Batch scripts the way Slurm reads them, for the script-based flavours (SF API, FirecREST, S3M).

A flavour hands the submitted script to :func:`batch_plan` and gets a :class:`LaunchPlan` for the
shared scheduler, plus what the script asked for. Slurm's own reading rules are kept on purpose,
including the ones that surprise people: ``#SBATCH`` lines count only at the very start of a line
and only before the first command, so an indented ``#SBATCH`` is silently ignored, exactly as on a
real cluster. :func:`slurm_state` gives the Slurm word (``PENDING``, ``TIMEOUT``...) for a job
record of the scheduler.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from facility_emulator.scheduler import JobRecord, LaunchPlan

__all__ = [
    "BatchDirectives",
    "BatchScriptError",
    "batch_plan",
    "parse_directives",
    "slurm_state",
    "slurm_time",
]


class BatchScriptError(ValueError):
    """The script cannot be run (no shebang, a malformed directive)."""


@dataclass
class BatchDirectives:
    """What the ``#SBATCH`` lines of a script ask for (only the options the emulator acts on are
    kept apart; every option is in ``options``)."""

    job_name: str | None = None
    time_limit: float | None = None
    output: str | None = None
    error: str | None = None
    chdir: str | None = None
    partition: str | None = None
    account: str | None = None
    nodes: str | None = None
    options: dict[str, str] = field(default_factory=dict)


_SHORT_OPTIONS = {
    "J": "job-name",
    "t": "time",
    "o": "output",
    "e": "error",
    "D": "chdir",
    "p": "partition",
    "A": "account",
    "N": "nodes",
    "n": "ntasks",
    "c": "cpus-per-task",
    "q": "qos",
}


def slurm_time(text: str) -> float:
    """Seconds in a Slurm time limit: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``."""
    value = text.strip()
    days = 0
    if "-" in value:
        day_text, value = value.split("-", 1)
        days = int(day_text)
        parts = [int(p) for p in value.split(":")]
        hours, minutes, seconds = [*parts, 0, 0][:3]
    else:
        parts = [int(p) for p in value.split(":")]
        if len(parts) == 1:
            hours, minutes, seconds = 0, parts[0], 0
        elif len(parts) == 2:
            hours, minutes, seconds = 0, parts[0], parts[1]
        elif len(parts) == 3:
            hours, minutes, seconds = parts
        else:
            raise BatchScriptError(f"time limit {text!r} is not a Slurm time")
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise BatchScriptError(f"time limit {text!r} must be positive")
    return float(total)


def _directive_words(line: str) -> list[str]:
    try:
        return shlex.split(line[len("#SBATCH") :], comments=True)
    except ValueError as exc:
        raise BatchScriptError(f"malformed directive {line!r}: {exc}") from None


def parse_directives(script: str) -> BatchDirectives:
    """Read the ``#SBATCH`` block at the top of ``script`` as Slurm does."""
    directives = BatchDirectives()
    for number, line in enumerate(script.splitlines()):
        if number == 0 and line.startswith("#!"):
            continue
        if line.startswith("#SBATCH"):
            words = _directive_words(line)
            index = 0
            while index < len(words):
                word = words[index]
                if word.startswith("--"):
                    name, _, value = word[2:].partition("=")
                    if not value and index + 1 < len(words) and not words[index + 1].startswith("-"):
                        index += 1
                        value = words[index]
                elif word.startswith("-") and len(word) >= 2:
                    name = _SHORT_OPTIONS.get(word[1], word[1])
                    value = word[2:]
                    if not value and index + 1 < len(words):
                        index += 1
                        value = words[index]
                else:
                    raise BatchScriptError(f"malformed directive {line!r}")
                directives.options[name] = value
                index += 1
            continue
        stripped = line.strip()
        if stripped == "" or stripped.startswith("#"):
            continue
        break  # the first command ends the directive block
    options = directives.options
    directives.job_name = options.get("job-name")
    directives.time_limit = slurm_time(options["time"]) if "time" in options else None
    directives.output = options.get("output")
    directives.error = options.get("error")
    directives.chdir = options.get("chdir")
    directives.partition = options.get("partition")
    directives.account = options.get("account")
    directives.nodes = options.get("nodes")
    return directives


def _expand(pattern: str, job_id: str, name: str, cwd: Path) -> Path:
    expanded = re.sub(
        r"%(%|j|x|u|A|a)", lambda m: {"%": "%", "j": job_id, "x": name}.get(m.group(1), job_id), pattern
    )
    path = Path(expanded)
    return path if path.is_absolute() else cwd / path


def batch_plan(
    script: str,
    *,
    job_id: str,
    default_cwd: Path,
    env: dict[str, str],
    script_dir: Path | None = None,
) -> tuple[LaunchPlan, BatchDirectives]:
    """The launch plan for ``script`` as job ``job_id``.

    The script is written to ``script_dir`` (default: the working directory) and run with bash.
    Output goes where ``--output``/``--error`` say (``%j`` and ``%x`` expanded), by default both
    to ``slurm-<job_id>.out`` in the working directory, as Slurm does. The caller checks that
    every path lies inside the sandbox.
    """
    if not script.startswith("#!"):
        raise BatchScriptError("a batch script must start with a #! line")
    directives = parse_directives(script)
    cwd = Path(directives.chdir) if directives.chdir else default_cwd
    name = directives.job_name or "script"
    stdout = _expand(directives.output or "slurm-%j.out", job_id, name, cwd)
    stderr = _expand(directives.error, job_id, name, cwd) if directives.error else stdout
    folder = script_dir or cwd
    script_path = folder / f".batch-{job_id}.sh"
    folder.mkdir(parents=True, exist_ok=True)
    script_path.write_text(script)
    plan = LaunchPlan(
        argv=["/bin/bash", str(script_path)],
        cwd=cwd,
        env={**env, "SLURM_JOB_ID": job_id, "SLURM_JOB_NAME": name},
        stdout=stdout,
        stderr=stderr,
        walltime=directives.time_limit,
    )
    return plan, directives


def slurm_state(job: JobRecord) -> str:
    """The Slurm state word for a scheduler job record."""
    if job.state in ("new", "queued"):
        return "PENDING"
    if job.state == "active":
        return "RUNNING"
    if job.state == "completed":
        return "COMPLETED"
    if job.state == "canceled":
        return "CANCELLED"
    if job.reason == "walltime":
        return "TIMEOUT"
    return "FAILED"

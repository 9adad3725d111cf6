"""Flux jobs on the shared scheduler: the submit's launch plan and the jobinfo the API reports.

The scheduler's IRI-style words map to Flux states: ``new`` is DEPEND, ``queued`` is SCHED,
``active`` is RUN and every end is INACTIVE with a ``result``: COMPLETED, FAILED, CANCELED or
TIMEOUT (a walltime kill). Like Flux, a job runs ``num_tasks`` copies of its command (tasks get
``FLUX_TASK_RANK``), in the server's own environment plus the submitted ``envars``, with stdout
and stderr recorded together as the job's output.
"""

from __future__ import annotations

import os
import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facility_emulator.scheduler import JobRecord, LaunchPlan

# Runs "$@" N times in parallel and exits with the last non-zero status.
_TASKS_WRAPPER = (
    'n="$1"; shift; pids=""; i=0; '
    'while [ "$i" -lt "$n" ]; do FLUX_TASK_RANK="$i" "$@" & pids="$pids $!"; i=$((i+1)); done; '
    'rc=0; for p in $pids; do wait "$p" || rc=$?; done; exit $rc'
)


@dataclass(frozen=True)
class SubmitRequest:
    """What a submit asked for, after the server's validation."""

    command: list[str]
    num_tasks: int
    cores_per_task: int
    gpus_per_task: int | None
    num_nodes: int
    exclusive: bool
    option_flags: str | None
    workdir: Path
    runtime: int
    envars: dict[str, str]

    @property
    def name(self) -> str:
        return posixpath.basename(self.command[0])

    def as_spec(self) -> dict[str, Any]:
        """The record kept with the scheduler's job (shown by ``/_emulator/jobs``)."""
        return {
            "name": self.name,
            "command": shlex.join(self.command),
            "num_tasks": self.num_tasks,
            "cores_per_task": self.cores_per_task,
            "gpus_per_task": self.gpus_per_task,
            "num_nodes": self.num_nodes,
            "exclusive": self.exclusive,
            "option_flags": self.option_flags,
            "workdir": str(self.workdir),
            "runtime": self.runtime,
            "environment": dict(self.envars),
        }


def launch_plan(request: SubmitRequest, job_id: str, output: Path, home: Path | None = None) -> LaunchPlan:
    """How the scheduler runs the job (``HOME`` is the instance user's sandbox home when given)."""
    env = {
        **os.environ,
        **({"HOME": str(home)} if home is not None else {}),
        **request.envars,
        "FLUX_JOB_ID": job_id,
        "FLUX_JOB_SIZE": str(request.num_tasks),
        "FLUX_JOB_NNODES": str(request.num_nodes),
    }
    if request.num_tasks == 1:
        argv = list(request.command)
        env["FLUX_TASK_RANK"] = "0"
    else:
        argv = ["/bin/sh", "-c", _TASKS_WRAPPER, "flux-tasks", str(request.num_tasks), *request.command]
    return LaunchPlan(
        argv=argv,
        cwd=request.workdir,
        env=env,
        stdout=output,
        stderr=output,
        walltime=float(request.runtime) if request.runtime > 0 else None,
    )


def flux_state(job: JobRecord) -> str:
    """The Flux state word of a scheduler job."""
    return {"new": "DEPEND", "queued": "SCHED", "active": "RUN"}.get(job.state, "INACTIVE")


def flux_result(job: JobRecord) -> str:
    """The Flux result of an ended job ("" while it has not ended)."""
    if not job.terminal:
        return ""
    if job.state == "completed":
        return "COMPLETED"
    if job.state == "canceled":
        return "CANCELED"
    if job.reason == "walltime":
        return "TIMEOUT"
    return "FAILED"


def _exception(job: JobRecord, result: str) -> dict[str, Any]:
    if result == "CANCELED":
        return {"occurred": True, "severity": 0, "type": "cancel", "note": ""}
    if result == "TIMEOUT":
        return {"occurred": True, "severity": 0, "type": "timeout", "note": "resource allocation expired"}
    if result == "FAILED" and job.started is None:
        return {"occurred": True, "severity": 0, "type": "exec", "note": job.message}
    return {"occurred": False, "severity": "", "type": "", "note": ""}


def jobinfo(job: JobRecord, nodes: tuple[str, ...]) -> dict[str, Any]:
    """The jobinfo document of ``GET /v1/jobs/{id}``, as flux-restful 1.1.0 builds it."""
    spec = job.spec
    state = flux_state(job)
    result = flux_result(job)
    nnodes = int(spec.get("num_nodes") or 1)
    ntasks = int(spec.get("num_tasks") or 1)
    if job.exit_code is not None:
        returncode: int | str = job.exit_code
    elif result in ("CANCELED", "TIMEOUT") and job.started is not None:
        returncode = 143  # killed by SIGTERM
    else:
        returncode = ""
    runtime = 0.0
    if job.started is not None:
        runtime = (job.finished or job.time) - job.started if job.terminal else 0.0
    info: dict[str, Any] = {
        "id": int(job.id),
        "userid": os.getuid(),
        "urgency": 16,
        "priority": 16,
        "t_submit": job.submitted,
        "t_depend": job.submitted,
        "state": state,
        "name": spec.get("name", ""),
        "cwd": spec.get("workdir", ""),
        "ntasks": ntasks,
        "ncores": ntasks * int(spec.get("cores_per_task") or 1),
        "duration": float(spec.get("runtime") or 0),
        "nnodes": nnodes,
        "ranks": f"[0-{nnodes - 1}]" if nnodes > 1 else "0",
        "nodelist": _nodelist(nodes[:nnodes]) if job.started is not None else "",
        "result": result,
        "returncode": returncode,
        "runtime": runtime,
        "waitstatus": (returncode << 8) if isinstance(returncode, int) and returncode < 128 else "",
        "exception": _exception(job, result),
    }
    if job.started is not None:
        info["t_run"] = job.started
    if job.terminal and job.finished is not None:
        info["t_cleanup"] = job.finished
        info["t_inactive"] = job.finished
        info["success"] = result == "COMPLETED"
    return info


def _nodelist(names: tuple[str, ...]) -> str:
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    stem = names[0].rsplit("-", 1)[0]
    numbers = [name.rsplit("-", 1)[1] for name in names]
    return f"{stem}-[{numbers[0]}-{numbers[-1]}]"

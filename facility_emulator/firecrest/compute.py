"""FirecREST ``/compute`` routes: submit, list, get, metadata and cancel jobs on the local scheduler.

A submitted job is a batch script run the way Slurm runs it (:mod:`facility_emulator.batch`):
``#SBATCH`` directives, ``slurm-<id>.out`` by default, ``--time`` enforced as walltime (TIMEOUT).

Decisions where the spec is silent:

* The job environment is the emulator's own, plus ``HOME`` (sandbox home) and the request's
  ``env``; ``standardOutput``/``standardError``/``standardInput`` override the script's directives.
* A job hidden by the "invisible after submit" fault answers 404 ``"Job not found"`` (as Slurm
  does for a few seconds after ``sbatch``) and is missing from the list.
* Cancelling a job that already ended answers 204 and changes nothing (``scancel`` of a finished
  job does not fail the call).
* ``status.state`` is the Slurm word; ``stateReason`` is ``TimeLimit`` after a walltime kill;
  ``time`` fields are epoch seconds (``limit`` in minutes, as Slurm reports it).

In reference mode the routes answer as the FirecREST v2 server in SSH mode over Slurm with
accounting (``lib/scheduler_clients/slurm/slurm_cli_client.py`` and its ``cli_commands``):

* an unknown or hidden job is 404 ``"Job not found."``; an id that is not alphanumeric is a 400
  validation error (the routes' ``job_id`` pattern);
* a job cancelled by its user is ``"CANCELLED by <uid>"`` (``sacct``'s word), ``exitCode`` and
  ``interruptSignal`` are the job line's ``0:0``, ``time.limit`` is in seconds (whole minutes);
* cancelling a job that has ended, or one Slurm does not know, is 500 (``scancel --verbose``
  writes ``error:`` for both, and the server reads any ``error:`` as a failure);
* a submit ``sbatch`` refuses (an unknown partition, a bad directive) is 500 with sbatch's words;
* every call is 503 while the system's scheduler is unhealthy, not only a submit.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facility_emulator.batch import BatchScriptError, batch_plan, slurm_state
from facility_emulator.firecrest.common import (
    PREFIX,
    FirecrestError,
    SystemConfig,
    empty_response,
    endpoint,
    field,
    is_reference,
    json_body,
    json_response,
    query_flag,
    sandbox_path,
    system_of,
)
from facility_emulator.firecrest.reference import slurm_failure, unhealthy
from facility_emulator.firecrest.site import site_of
from facility_emulator.scheduler import JobRecord, JobStateError
from facility_emulator.state import EmulatorState

JOB_NOT_FOUND = "Job not found"
JOB_ID_PATTERN = re.compile(r"^[a-zA-Z0-9]+$")


def job_environment(state: EmulatorState, extra: dict[str, str]) -> dict[str, str]:
    """The environment a job runs with."""
    env = dict(os.environ)
    env["HOME"] = str(state.sandbox.home)
    env["USER"] = state.config.user
    env.update(extra)
    return env


def submit_script(
    state: EmulatorState,
    system: SystemConfig,
    script: str,
    *,
    workdir: Path,
    env: dict[str, str],
    details: dict[str, Any],
    stdout: str | None = None,
    stderr: str | None = None,
    stdin: str | None = None,
) -> JobRecord:
    """Run ``script`` as a batch job of ``system`` and return its record (also for transfer jobs)."""
    if site_of(state).health_problem(system.name) is not None:
        raise FirecrestError(
            503,
            f"The scheduler of system '{system.name}' is not available",
            reference=unhealthy(system, "scheduler"),
        )
    if not workdir.is_dir():
        raise FirecrestError(400, f"Working directory {workdir}: No such file or directory")
    scheduler = state.scheduler
    job_id = scheduler.allocate_id()
    try:
        plan, directives = batch_plan(
            script, job_id=job_id, default_cwd=workdir, env=job_environment(state, env)
        )
    except BatchScriptError as exc:
        words = f"sbatch: error: {exc}"
        raise FirecrestError(400, words, reference=slurm_failure(255, words + "\n")) from exc
    name = str(details.get("name") or directives.job_name or "script")

    def place(pattern: str) -> Path:
        expanded = pattern.replace("%j", job_id).replace("%x", name)
        return sandbox_path(state, expanded if os.path.isabs(expanded) else str(plan.cwd / expanded))

    if stdout:
        plan.stdout = place(stdout)
    if stderr:
        plan.stderr = place(stderr)
    elif stdout:
        plan.stderr = plan.stdout
    if stdin:
        plan.stdin = place(stdin)
    for path in (plan.cwd, plan.stdout, plan.stderr):
        if not state.sandbox.contains(Path(os.path.normpath(path))):
            raise FirecrestError(403, f"path {path} is outside the user's file systems")
    record = {
        **details,
        "name": name,
        "account": details.get("account") or directives.account,
        "partition": details.get("partition") or directives.partition or system.partitions[0],
        "workingDirectory": str(plan.cwd),
        "script": script,
        "standardInput": str(plan.stdin) if plan.stdin else None,
        "standardOutput": str(plan.stdout),
        "standardError": str(plan.stderr),
        "timeLimit": plan.walltime,
    }
    try:
        return scheduler.submit(
            system.name, plan, record, invisible_for=state.faults.invisible_seconds, job_id=job_id
        )
    except JobStateError as exc:
        raise FirecrestError(503, str(exc)) from exc


def job_view(state: EmulatorState, job: JobRecord) -> dict[str, Any]:
    """The ``JobModel`` of a scheduler job."""
    snap = state.scheduler.snapshot(job)
    spec = snap["spec"]
    meta = snap["meta_data"]
    word = slurm_state(job)
    started = meta.get("started")
    finished = meta.get("finished")
    elapsed = int((finished or time.time()) - started) if started else 0
    limit = spec.get("timeLimit")
    minutes = math.ceil(limit / 60) if limit else None
    signal = 9 if word in ("TIMEOUT", "CANCELLED") else None
    if is_reference(state):
        # sacct's job line: "CANCELLED by <uid>", no signal in its ExitCode, TimelimitRaw in seconds.
        word = f"CANCELLED by {os.getuid()}" if word == "CANCELLED" else word
        signal = 0
        limit_value = minutes * 60 if minutes else None
    else:
        limit_value = int(limit // 60) if limit else None
    return {
        "jobId": job.id,
        "name": spec.get("name") or "script",
        "status": {
            "state": word,
            "stateReason": "TimeLimit"
            if word == "TIMEOUT"
            else ("None" if word != "PENDING" else "Priority"),
            "exitCode": snap["exit_code"] if snap["exit_code"] is not None else 0,
            "interruptSignal": signal,
        },
        "time": {
            "elapsed": elapsed,
            "start": int(started) if started else None,
            "end": int(finished) if finished else None,
            "suspended": 0,
            "limit": limit_value,
        },
        "account": spec.get("account"),
        "allocationNodes": 1,
        "cluster": job.resource,
        "group": state.config.user,
        "nodes": "nid000000" if started else "",
        "partition": spec.get("partition") or "normal",
        "priority": 1,
        "killRequestUser": state.config.user if word == "CANCELLED" else None,
        "user": state.config.user,
        "workingDirectory": spec.get("workingDirectory") or str(state.sandbox.home),
        "tasks": [],
    }


class ComputeRoutes:
    """The ``/compute/{system}/jobs`` routes."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        wrap = endpoint(self.state)
        p = f"{PREFIX}/compute/{{system_name}}/jobs"
        return [
            Route(p, wrap(self.list_jobs), methods=["GET"]),
            Route(p, wrap(self.submit), methods=["POST"]),
            Route(f"{p}/{{job_id}}", wrap(self.get_job), methods=["GET"]),
            Route(f"{p}/{{job_id}}", wrap(self.cancel), methods=["DELETE"]),
            Route(f"{p}/{{job_id}}/metadata", wrap(self.metadata), methods=["GET"]),
        ]

    def _system(self, request: Request) -> SystemConfig:
        """The path's system; in reference mode 503 while its scheduler is unhealthy, as for
        every call the server makes through the scheduler."""
        system = system_of(request)
        if is_reference(self.state) and site_of(self.state).health_problem(system.name) is not None:
            raise unhealthy(system, "scheduler")
        return system

    def _job_id(self, request: Request) -> str:
        job_id = str(request.path_params["job_id"])
        if is_reference(self.state) and not JOB_ID_PATTERN.match(job_id):
            raise FirecrestError(
                422, f"String should match pattern '{JOB_ID_PATTERN.pattern}': job_id", "validation"
            )
        return job_id

    def _find(self, request: Request, system: SystemConfig) -> JobRecord:
        job = self.state.scheduler.get(self._job_id(request))
        if job is None or job.resource != system.name or not job.visible():
            raise FirecrestError(404, JOB_NOT_FOUND, reference=FirecrestError(404, f"{JOB_NOT_FOUND}."))
        return job

    async def submit(self, request: Request) -> Response:
        system = self._system(request)
        body = await json_body(request)
        job = field(body, "job", required=True)
        if not isinstance(job, dict):
            raise FirecrestError(422, "job must be an object", "validation")
        workdir = sandbox_path(self.state, str(field(job, "workingDirectory", required=True)))
        script = field(job, "script")
        script_path = field(job, "scriptPath")
        if (script is None) == (script_path is None):
            raise FirecrestError(422, "exactly one of script and scriptPath is required", "validation")
        if script_path is not None:
            script = sandbox_path(self.state, str(script_path)).read_text()
        env = field(job, "env") or {}
        if isinstance(env, list):
            env = dict(str(item).split("=", 1) for item in env if "=" in str(item))
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise FirecrestError(422, "env must map names to strings", "validation")
        details = {
            "name": field(job, "name"),
            "account": field(job, "account"),
            "partition": field(job, "partition"),
            "reservation": field(job, "reservation"),
            "constraints": field(job, "constraints"),
        }
        if details["partition"] and details["partition"] not in system.partitions:
            words = f"sbatch: error: invalid partition specified: {details['partition']}"
            refused = (
                f"{words}\nsbatch: error: Batch job submission failed: Invalid partition name specified\n"
            )
            raise FirecrestError(400, words, reference=slurm_failure(1, refused))
        record = submit_script(
            self.state,
            system,
            str(script),
            workdir=workdir,
            env=env,
            details=details,
            stdout=field(job, "standardOutput"),
            stderr=field(job, "standardError"),
            stdin=field(job, "standardInput"),
        )
        return json_response({"jobId": record.id}, 201)

    async def list_jobs(self, request: Request) -> Response:
        system = self._system(request)
        query_flag(request, "allusers")
        account = request.query_params.get("account")
        now = time.time()
        jobs = [
            job_view(self.state, job)
            for job in self.state.scheduler.jobs()
            if job.resource == system.name
            and job.visible(now)
            and (not account or job.spec.get("account") == account)
        ]
        return json_response({"jobs": jobs})

    async def get_job(self, request: Request) -> Response:
        system = self._system(request)
        return json_response({"jobs": [job_view(self.state, self._find(request, system))]})

    async def metadata(self, request: Request) -> Response:
        system = self._system(request)
        job = self._find(request, system)
        spec = job.spec
        return json_response(
            {
                "jobs": [
                    {
                        "jobId": job.id,
                        "script": spec.get("script"),
                        "standardInput": spec.get("standardInput") or "/dev/null",
                        "standardOutput": spec.get("standardOutput"),
                        "standardError": spec.get("standardError"),
                    }
                ]
            }
        )

    async def cancel(self, request: Request) -> Response:
        system = self._system(request)
        if is_reference(self.state):
            return await self._scancel(request, system)
        job = self._find(request, system)
        if not job.terminal:
            with contextlib.suppress(JobStateError):  # it ended meanwhile; scancel does not fail either
                await anyio.to_thread.run_sync(self.state.scheduler.cancel, job)
        return empty_response()

    async def _scancel(self, request: Request, system: SystemConfig) -> Response:
        """Cancel as ``scancel --verbose`` does behind the server: an ended or unknown job makes
        it write an error (exit status 0), which the server answers with 500."""
        job_id = self._job_id(request)
        job = self.state.scheduler.get(job_id)
        said = f"scancel: Terminating job {job_id}\nscancel: error: Kill job error on job id {job_id}: "
        if job is None or job.resource != system.name:
            raise slurm_failure(0, f"{said}Invalid job id specified\n")
        if job.terminal:
            raise slurm_failure(0, f"{said}Job/step already completing or completed\n")
        try:
            await anyio.to_thread.run_sync(self.state.scheduler.cancel, job)
        except JobStateError:
            raise slurm_failure(0, f"{said}Job/step already completing or completed\n") from None
        return empty_response()

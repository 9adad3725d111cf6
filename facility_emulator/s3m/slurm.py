"""slurmrestd v0.0.43 job routes as S3M exposes them, per resource and enclave.

``/slurm/{enclave}/v0.0.43/{resource}/{call}`` (OLCF's current docs) and
``/olcf/v1/slurm/{enclave}/v0.0.43/{resource}/{call}`` (older docs) serve the same calls: ping,
partitions, nodes, reservations, job/submit, jobs, job/{id} (GET, DELETE). Jobs run on the shared
scheduler (local processes, or the local Slurm with ``--scheduler slurm``).

Decisions where S3M is silent:

* A submit with a job field outside S3M's ``JobDescription`` message is refused with 400 and a
  slurmrestd-style error naming the fields (the gateway would not pass them on).
* Paths must lie in the emulator's sandbox; the working directory defaults to the user's home.
* ``GET job/{id}`` answers slurmctld's ``job_info`` (what the official v0.0.43 document
  specifies); an unknown id answers 404 with error 2017, as slurmrestd does.
* Cancelling a finished job answers 200 and changes nothing.
* Reservations: an incident on the resource is shown as a ``MAINT`` reservation.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facility_emulator.batch import BatchScriptError, batch_plan, slurm_state
from facility_emulator.s3m.common import S3MToken, slurm_answer, slurm_error
from facility_emulator.s3m.status import compute_resources
from facility_emulator.sandbox import SandboxError
from facility_emulator.scheduler import JobRecord, JobStateError
from facility_emulator.slurmrestd.common import SlurmClock, environment
from facility_emulator.state import EmulatorState

PREFIXES = ("/slurm/{enclave}/v0.0.43/{resource}", "/olcf/v1/slurm/{enclave}/v0.0.43/{resource}")

ACCEPTED_FIELDS = frozenset(
    {
        "account", "begin_time", "comment", "environment", "licenses", "name", "tasks", "partition",
        "distribution_plane_size", "priority", "qos", "reservation", "script", "time_limit",
        "time_minimum", "wait_all_nodes", "current_working_directory", "cpus_per_task",
        "minimum_cpus", "maximum_cpus", "nodes", "minimum_nodes", "maximum_nodes",
        "minimum_boards_per_node", "minimum_sockets_per_board", "sockets_per_node",
        "threads_per_core", "tasks_per_node", "tasks_per_socket", "tasks_per_core",
        "tasks_per_board", "ntasks_per_tres", "minimum_cpus_per_node", "memory_per_cpu",
        "memory_per_node", "standard_input", "standard_output", "standard_error",
    }
)  # fmt: skip
"""The fields of S3M's ``JobSubmitReq.JobDescription`` (a subset of ``job_desc_msg``)."""

Handler = Callable[[Request], Awaitable[Response]]


def _no_val(number: float | int | None) -> dict[str, Any]:
    if number is None:
        return {"set": False, "infinite": False, "number": 0}
    return {"set": True, "infinite": False, "number": int(number)}


def _struct_number(value: Any) -> int | None:
    if isinstance(value, dict):
        return int(value["number"]) if value.get("set", True) and not value.get("infinite") else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


class SlurmRoutes:
    """The v0.0.43 calls of one S3M gateway, over the shared scheduler."""

    def __init__(self, state: EmulatorState, token: S3MToken, clock: SlurmClock) -> None:
        self.state = state
        self.token = token
        self.clock = clock

    def routes(self) -> list[Route]:
        calls: list[tuple[str, Handler, str]] = [
            ("/ping", self.ping, "GET"),
            ("/partitions", self.partitions, "GET"),
            ("/nodes", self.nodes, "GET"),
            ("/reservations", self.reservations, "GET"),
            ("/job/submit", self.submit, "POST"),
            ("/jobs", self.list_jobs, "GET"),
            ("/job/{job_id}", self.get_job, "GET"),
            ("/job/{job_id}", self.cancel, "DELETE"),
        ]
        return [Route(p + path, self._guarded(h), methods=[m]) for p in PREFIXES for path, h, m in calls]

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            refusal = self.token.check(request)
            if refusal is not None:
                return refusal
            name = request.path_params["resource"]
            if name not in {r.name for r in compute_resources(self.state)}:
                return slurm_error(404, f"unknown resource {name}", 2, "s3m")
            return await handler(request)

        return guarded

    # -- status ----------------------------------------------------------------------------

    async def ping(self, request: Request) -> Response:
        host = request.path_params["resource"]
        pings = [
            {
                "hostname": f"{host}-ctld",
                "pinged": "UP",
                "responding": True,
                "latency": 100,
                "mode": "primary",
                "primary": True,
            }
        ]
        return slurm_answer({"pings": pings})

    async def partitions(self, request: Request) -> Response:
        record = self._resource(request)
        state = "UP" if self.state.facility.effective_status(record) in ("up", "degraded") else "DOWN"
        partition = {
            "name": "batch",
            "cluster": record.name,
            "nodes": {"configured": f"{record.name}[001-004]", "total": 4},
            "partition": {"state": [state]},
        }
        return slurm_answer({"partitions": [partition], "last_update": _no_val(time.time())})

    async def nodes(self, request: Request) -> Response:
        name = request.path_params["resource"]
        nodes = [
            {"name": f"{name}{i:03d}", "state": ["IDLE"], "partitions": ["batch"], "cpus": 64}
            for i in range(1, 5)
        ]
        return slurm_answer({"nodes": nodes, "last_update": _no_val(time.time())})

    async def reservations(self, request: Request) -> Response:
        name = request.path_params["resource"]
        reservations = []
        for incident in self.state.facility.incident_list():
            if name not in incident.resources or incident.resolution in ("completed", "cancelled"):
                continue
            end = incident.end or incident.start + timedelta(hours=4)
            reservations.append(
                {
                    "name": f"maint-{incident.id[:8]}",
                    "node_list": f"{name}[001-004]",
                    "flags": ["MAINT", "IGNORE_JOBS"],
                    "start_time": _no_val(incident.start.timestamp()),
                    "end_time": _no_val(end.timestamp()),
                    "partition": "batch",
                }
            )
        return slurm_answer({"reservations": reservations, "last_update": _no_val(time.time())})

    def _resource(self, request: Request) -> Any:
        name = request.path_params["resource"]
        return next(r for r in compute_resources(self.state) if r.name == name)

    # -- jobs ------------------------------------------------------------------------------

    async def submit(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return slurm_error(400, "the body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("job"), dict):
            return slurm_error(400, "the body needs a 'job' object")
        job = body["job"]
        refused = sorted(set(job) - ACCEPTED_FIELDS)
        if refused:
            return slurm_error(400, f"S3M does not accept the job field(s) {', '.join(refused)}")
        script = job.get("script") or body.get("script")
        if not isinstance(script, str) or not script:
            return slurm_error(400, "the job has no script")
        record = self._resource(request)
        if self.state.facility.effective_status(record) == "down":
            return slurm_error(503, f"resource {record.name} is down", 9000)
        try:
            env = environment(job.get("environment"))
            sandbox = self.state.sandbox
            # Slurm gives a batch job the submitting user's HOME and USER unless the job sets them.
            env.setdefault("HOME", str(sandbox.home))
            env.setdefault("USER", self.state.config.user)
            cwd = sandbox.resolve(job.get("current_working_directory") or sandbox.home)
            job_id = self.state.scheduler.allocate_id()
            plan, directives = batch_plan(script, job_id=job_id, default_cwd=cwd, env=env)
            name = job.get("name") or directives.job_name or "script"
            plan.env["SLURM_JOB_NAME"] = name
            for key, attribute in (("standard_output", "stdout"), ("standard_error", "stderr")):
                if job.get(key):
                    pattern = str(job[key]).replace("%j", job_id).replace("%x", name)
                    setattr(plan, attribute, sandbox.resolve(pattern, base=cwd))
            if job.get("standard_output") and not job.get("standard_error"):
                plan.stderr = plan.stdout
            if job.get("standard_input"):
                plan.stdin = sandbox.resolve(job["standard_input"], base=cwd)
            minutes = _struct_number(job.get("time_limit"))
            if minutes is not None:
                plan.walltime = self.clock.scaled(minutes * 60.0)
        except (ValueError, BatchScriptError, SandboxError) as exc:
            return slurm_error(400, str(exc))
        spec = {
            "name": name,
            "comment": job.get("comment", ""),
            "partition": job.get("partition") or directives.partition or "batch",
            "account": job.get("account") or directives.account or "",
            "time_limit": minutes,
            "cwd": str(cwd),
            "stdout": str(plan.stdout),
            "stderr": str(plan.stderr),
            "user_name": f"{self.token.project}_auser",
        }
        self.state.scheduler.submit(
            record.name, plan, spec, invisible_for=self.state.faults.invisible_seconds, job_id=job_id
        )
        return slurm_answer({"job_id": int(job_id), "step_id": "batch", "job_submit_user_msg": ""})

    def _job_info(self, job: JobRecord) -> dict[str, Any]:
        snap = self.state.scheduler.snapshot(job)
        spec = snap["spec"]
        word = slurm_state(job)
        code = snap["exit_code"]
        signalled = word in ("CANCELLED", "TIMEOUT")
        meta = snap["meta_data"]
        return {
            "job_id": int(job.id),
            "name": spec.get("name", ""),
            "comment": spec.get("comment", ""),
            "partition": spec.get("partition", ""),
            "account": spec.get("account", ""),
            "user_name": spec.get("user_name", ""),
            "cluster": job.resource,
            "job_state": [word],
            "state_reason": "None" if word != "FAILED" else "NonZeroExitCode",
            "exit_code": {
                "status": [
                    "SIGNALED"
                    if signalled
                    else ("SUCCESS" if code == 0 else ("ERROR" if code else "PENDING"))
                ],
                "return_code": _no_val(code if code is not None else (0 if job.terminal else None)),
                "signal": {"id": _no_val(9 if signalled else None), "name": "KILL" if signalled else ""},
            },
            "submit_time": _no_val(meta.get("submitted")),
            "start_time": _no_val(meta.get("started")),
            "end_time": _no_val(meta.get("finished")),
            "time_limit": _no_val(spec.get("time_limit")),
            "current_working_directory": spec.get("cwd", ""),
            "standard_output": spec.get("stdout", ""),
            "standard_error": spec.get("stderr", ""),
            "stdout_expanded": spec.get("stdout", ""),
            "stderr_expanded": spec.get("stderr", ""),
        }

    def _visible_jobs(self, resource: str) -> list[JobRecord]:
        now = time.time()
        return [j for j in self.state.scheduler.jobs() if j.resource == resource and j.visible(now)]

    def _jobs_answer(self, jobs: list[JobRecord]) -> Response:
        now = _no_val(time.time())
        return slurm_answer(
            {"jobs": [self._job_info(j) for j in jobs], "last_backfill": now, "last_update": now}
        )

    async def list_jobs(self, request: Request) -> Response:
        return self._jobs_answer(self._visible_jobs(request.path_params["resource"]))

    def _find(self, request: Request) -> JobRecord | None:
        job_id = request.path_params["job_id"]
        for job in self._visible_jobs(request.path_params["resource"]):
            if job.id == job_id:
                return job
        return None

    async def get_job(self, request: Request) -> Response:
        job = self._find(request)
        if job is None:
            now = _no_val(time.time())
            empty = {"jobs": [], "last_backfill": now, "last_update": now}
            job_id = request.path_params["job_id"]
            return slurm_error(404, f"Unable to find JobId={job_id}", 2017, "slurm_load_job", empty)
        return self._jobs_answer([job])

    async def cancel(self, request: Request) -> Response:
        job = self._find(request)
        job_id = request.path_params["job_id"]
        if job is None:
            return slurm_error(404, f"Unable to find JobId={job_id}", 2017, "slurm_kill_job", {"status": []})
        if not job.terminal:
            with contextlib.suppress(JobStateError):
                await anyio.to_thread.run_sync(self.state.scheduler.cancel, job)
        status = [
            {
                "error": {"string": "", "code": 0, "message": ""},
                "step_id": "batch",
                "job_id": _no_val(int(job_id)),
                "federation": {"sibling": ""},
            }
        ]
        return slurm_answer({"status": status})


def slurm_routes(state: EmulatorState, token: S3MToken, clock: SlurmClock) -> list[Route]:
    return SlurmRoutes(state, token, clock).routes()

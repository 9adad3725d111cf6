"""slurmrestd v0.0.43 calls of one emulated Slurm cluster, over the shared scheduler.

``/slurm/v0.0.43/{ping, diag, partitions, nodes, reservations, jobs, job/submit, job/{id}}`` (the
collection calls also with the trailing slash the official document writes) and the accounting
call ``/slurmdb/v0.0.43/job/{id}`` (:mod:`.accounting`). Other data-parser versions answer 404,
so a client probing for its version settles on v0.0.43; ``GET /openapi/v3`` lists the routes.

Decisions where a real cluster would differ:

* **Partitions** are the emulator's compute resources (``polaris``, ``aurora``) plus ``debug``,
  a partition on the first compute resource's nodes. A job's partition picks the resource it
  runs on; an unknown partition is refused (500, error 2000), as slurmctld does.
* **Outages.** A planned incident on a resource (not completed or cancelled, not yet over) is a
  ``MAINT`` reservation on each of its partitions; while an incident holds the resource down, its
  partitions and nodes are ``DOWN`` and a job submitted there stays ``PENDING`` until it is up.
* **Jobs** are every job the emulator's scheduler runs on the cluster's resources, whichever API
  submitted it. Time limits are minutes of :class:`~.common.SlurmClock` (60 s unless shortened).
  As in slurmctld, a job finished more than ``MinJobAge`` ago is gone from the ``slurm`` routes
  (:class:`~.common.ControllerSettings`, 300 s unless changed); accounting still has it.
  ``GET jobs`` also lists the ``other_jobs`` of other users (:mod:`.crowd`), and with
  ``update_time`` answers no jobs (and a warning) when none changed since, else all of them.
* An unknown job id answers 404 with error 2017; cancelling a finished job answers 500 with error
  2021 ("already completing or completed"), as slurmrestd does.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facility_emulator.batch import BatchScriptError, batch_plan, slurm_state
from facility_emulator.facility import ResourceRecord
from facility_emulator.sandbox import SandboxError
from facility_emulator.scheduler import JobRecord, JobStateError
from facility_emulator.slurmrestd.accounting import ESLURM_REST_EMPTY_RESULT, accounting_record
from facility_emulator.slurmrestd.common import (
    CLUSTER,
    ESLURM_ALREADY_DONE,
    ESLURM_INVALID_JOB_ID,
    ESLURM_INVALID_PARTITION_NAME,
    ESLURM_REST_FAIL_PARSING,
    VERSION,
    ControllerSettings,
    SlurmAuth,
    SlurmClock,
    environment,
    no_val,
    slurm_answer,
    slurm_error,
    struct_number,
)
from facility_emulator.slurmrestd.common import meta as slurm_meta
from facility_emulator.slurmrestd.crowd import other_jobs_json
from facility_emulator.state import EmulatorState

Handler = Callable[[Request], Awaitable[Response]]
NODES_PER_PARTITION = 4
DEBUG_PARTITION = "debug"
HOLD_POLL_SECONDS = 0.2
DEFAULT_MAINT_HOURS = 4


@dataclass(frozen=True)
class Partition:
    """A partition and the emulator resource whose nodes it uses."""

    name: str
    resource: ResourceRecord

    @property
    def node_names(self) -> list[str]:
        return [f"{self.resource.name}{i:03d}" for i in range(1, NODES_PER_PARTITION + 1)]

    @property
    def node_list(self) -> str:
        return f"{self.resource.name}[001-{NODES_PER_PARTITION:03d}]"


def partitions(state: EmulatorState) -> list[Partition]:
    """The cluster's partitions: one per compute resource, and ``debug`` on the first one."""
    compute = [r for r in state.facility.resource_list() if r.resource_type == "compute"]
    found = [Partition(r.name, r) for r in compute]
    if compute and DEBUG_PARTITION not in {p.name for p in found}:
        found.append(Partition(DEBUG_PARTITION, compute[0]))
    return found


class SlurmRestdRoutes:
    """The v0.0.43 calls of one emulated slurmrestd."""

    def __init__(
        self,
        state: EmulatorState,
        auth: SlurmAuth,
        clock: SlurmClock,
        prefix: str,
        controller: ControllerSettings | None = None,
    ) -> None:
        self.state = state
        self.auth = auth
        self.clock = clock
        self.prefix = prefix
        self.controller = controller or ControllerSettings()

    def routes(self) -> list[Route]:
        collections: list[tuple[str, Handler]] = [
            ("ping", self.ping),
            ("diag", self.diag),
            ("partitions", self.partitions),
            ("nodes", self.nodes),
            ("reservations", self.reservations),
            ("jobs", self.list_jobs),
        ]
        base = f"{self.prefix}/slurm/{VERSION}"
        routes = [
            Route(f"{base}/{name}{slash}", self._guarded(handler), methods=["GET"])
            for name, handler in collections
            for slash in ("", "/")
        ]
        routes += [
            Route(f"{base}/job/submit", self._guarded(self.submit), methods=["POST"]),
            Route(f"{base}/job/{{job_id}}", self._guarded(self.get_job), methods=["GET"]),
            Route(f"{base}/job/{{job_id}}", self._guarded(self.cancel), methods=["DELETE"]),
            Route(
                f"{self.prefix}/slurmdb/{VERSION}/job/{{job_id}}",
                self._guarded(self.accounted_job),
                methods=["GET"],
            ),
        ]
        return routes

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            refusal = self.auth.check(request)
            if refusal is not None:
                return refusal
            return await handler(request)

        return guarded

    def _answer(self, body: dict[str, Any]) -> Response:
        return slurm_answer(body, user_name=self.auth.user_name)

    def _down(self, resource: ResourceRecord) -> bool:
        return self.state.facility.effective_status(resource) == "down"

    # -- cluster ---------------------------------------------------------------------------

    async def ping(self, request: Request) -> Response:
        pings = [
            {
                "hostname": f"{CLUSTER}-ctld",
                "pinged": "UP",
                "responding": True,
                "latency": 100,
                "mode": "primary",
                "primary": True,
            }
        ]
        return self._answer({"pings": pings})

    async def diag(self, request: Request) -> Response:
        jobs = self._jobs()
        now = no_val(time.time())
        statistics = {
            "parts_packed": 1,
            "req_time": now,
            "req_time_start": no_val(self.state.facility.created.timestamp()),
            "server_thread_count": 1,
            "jobs_submitted": len(jobs),
            "jobs_started": sum(1 for j in jobs if j.started is not None),
            "jobs_completed": sum(1 for j in jobs if j.state == "completed"),
            "jobs_canceled": sum(1 for j in jobs if j.state == "canceled"),
            "jobs_failed": sum(1 for j in jobs if j.state == "failed"),
            "jobs_pending": sum(1 for j in jobs if j.state in ("new", "queued")),
            "jobs_running": sum(1 for j in jobs if j.state == "active"),
            "job_states_ts": now,
        }
        return self._answer({"statistics": statistics})

    async def partitions(self, request: Request) -> Response:
        answers = []
        for partition in partitions(self.state):
            answers.append(
                {
                    "name": partition.name,
                    "cluster": CLUSTER,
                    "nodes": {"configured": partition.node_list, "total": NODES_PER_PARTITION},
                    "partition": {"state": ["DOWN" if self._down(partition.resource) else "UP"]},
                    "maximums": {"time": no_val(None)},
                }
            )
        return self._answer({"partitions": answers, "last_update": no_val(time.time())})

    async def nodes(self, request: Request) -> Response:
        by_resource: dict[str, list[str]] = {}
        records: dict[str, ResourceRecord] = {}
        for partition in partitions(self.state):
            by_resource.setdefault(partition.resource.name, []).append(partition.name)
            records[partition.resource.name] = partition.resource
        nodes = []
        for name, names in by_resource.items():
            word = "DOWN" if self._down(records[name]) else "IDLE"
            for node in Partition(name, records[name]).node_names:
                nodes.append(
                    {"name": node, "hostname": node, "state": [word], "partitions": names, "cpus": 64}
                )
        return self._answer({"nodes": nodes, "last_update": no_val(time.time())})

    async def reservations(self, request: Request) -> Response:
        now = datetime.now(UTC)
        found = []
        for incident in self.state.facility.incident_list():
            if incident.type not in ("planned", "reservation"):
                continue
            if incident.resolution in ("completed", "cancelled"):
                continue
            end = incident.end or incident.start + timedelta(hours=DEFAULT_MAINT_HOURS)
            if end <= now:
                continue
            for partition in partitions(self.state):
                if partition.resource.name not in incident.resources:
                    continue
                found.append(
                    {
                        "name": f"maint-{partition.name}-{incident.id[:8]}",
                        "node_list": partition.node_list,
                        "node_count": NODES_PER_PARTITION,
                        "flags": ["MAINT", "IGNORE_JOBS"],
                        "start_time": no_val(incident.start.timestamp()),
                        "end_time": no_val(end.timestamp()),
                        "partition": partition.name,
                        "users": "root",
                    }
                )
        return self._answer({"reservations": found, "last_update": no_val(time.time())})

    # -- jobs ------------------------------------------------------------------------------

    async def submit(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return slurm_error(400, "the body is not JSON", ESLURM_REST_FAIL_PARSING, "openapi/slurmctld")
        if not isinstance(body, dict) or not isinstance(body.get("job"), dict):
            return slurm_error(
                400, "the body needs a 'job' object", ESLURM_REST_FAIL_PARSING, "openapi/slurmctld"
            )
        job = body["job"]
        script = job.get("script") or body.get("script")
        if not isinstance(script, str) or not script:
            return slurm_error(400, "the job has no script", ESLURM_REST_FAIL_PARSING, "openapi/slurmctld")
        try:
            env = environment(job.get("environment"))
            sandbox = self.state.sandbox
            # Slurm gives a batch job the submitting user's HOME and USER unless the job sets them.
            env.setdefault("HOME", str(sandbox.home))
            env.setdefault("USER", self.state.config.user)
            cwd = sandbox.resolve(job.get("current_working_directory") or sandbox.home)
            job_id = self.state.scheduler.allocate_id()
            plan, directives = batch_plan(script, job_id=job_id, default_cwd=cwd, env=env)
        except (ValueError, BatchScriptError, SandboxError) as exc:
            return slurm_error(400, str(exc), ESLURM_REST_FAIL_PARSING, "openapi/slurmctld")
        wanted = job.get("partition") or directives.partition or partitions(self.state)[0].name
        partition = next((p for p in partitions(self.state) if p.name == wanted), None)
        if partition is None:
            return slurm_error(
                500,
                "Invalid partition name specified",
                ESLURM_INVALID_PARTITION_NAME,
                "slurm_submit_batch_job()",
            )
        try:
            name = str(job.get("name") or directives.job_name or "script")
            plan.env["SLURM_JOB_NAME"] = name
            plan.env["SLURM_JOB_PARTITION"] = partition.name
            for key, attribute in (("standard_output", "stdout"), ("standard_error", "stderr")):
                if job.get(key):
                    pattern = str(job[key]).replace("%j", job_id).replace("%x", name)
                    setattr(plan, attribute, sandbox.resolve(pattern, base=cwd))
            if job.get("standard_output") and not job.get("standard_error"):
                plan.stderr = plan.stdout
            if job.get("standard_input"):
                plan.stdin = sandbox.resolve(job["standard_input"], base=cwd)
        except SandboxError as exc:
            return slurm_error(400, str(exc), ESLURM_REST_FAIL_PARSING, "openapi/slurmctld")
        minutes = struct_number(job.get("time_limit"))
        if minutes is not None:
            plan.walltime = self.clock.scaled(minutes * 60.0)
        elif plan.walltime is not None:
            minutes = max(1, math.ceil(plan.walltime / 60.0))
            plan.walltime = self.clock.scaled(plan.walltime)
        spec = {
            "name": name,
            "comment": str(job.get("comment") or ""),
            "partition": partition.name,
            "account": str(job.get("account") or directives.account or ""),
            "nodes": job.get("minimum_nodes") or job.get("nodes") or directives.nodes or 1,
            "time_limit": minutes,
            "cwd": str(cwd),
            "stdout": str(plan.stdout),
            "stderr": str(plan.stderr),
            "user_name": self.auth.user_name,
        }
        held = self._down(partition.resource)
        record = self.state.scheduler.submit(
            partition.resource.name,
            plan,
            spec,
            invisible_for=self.state.faults.invisible_seconds,
            job_id=job_id,
            start=not held,
        )
        if held:
            self._start_when_up(record, partition.resource)
        return self._answer({"job_id": int(job_id), "step_id": "batch", "job_submit_user_msg": ""})

    def _start_when_up(self, job: JobRecord, resource: ResourceRecord) -> None:
        """Keep a job submitted to a down partition pending until the partition is up again."""

        def wait() -> None:
            while not job.terminal and self._down(resource):
                time.sleep(HOLD_POLL_SECONDS)
            if not job.terminal:
                with contextlib.suppress(JobStateError):
                    self.state.scheduler.start(job)

        threading.Thread(target=wait, name=f"slurmrestd-hold-{job.id}", daemon=True).start()

    def _accounted(self) -> list[JobRecord]:
        """Every visible job on the cluster's resources, the purged ones too (accounting's)."""
        now = time.time()
        names = {p.resource.name for p in partitions(self.state)}
        return [j for j in self.state.scheduler.jobs() if j.resource in names and j.visible(now)]

    def _jobs(self) -> list[JobRecord]:
        """The jobs slurmctld still holds: those not finished longer than ``MinJobAge`` ago."""
        now = time.time()
        return [j for j in self._accounted() if not self.controller.purged(j.finished, now)]

    def _last_job_update(self) -> float:
        """When a job of the cluster last changed (slurmctld's ``last_job_update``): a state
        change, or the purge of a finished job."""
        latest = self.state.facility.created.timestamp()
        age = self.controller.min_job_age
        for job in self._accounted():
            latest = max(latest, job.time)
            if job.finished is not None and age > 0 and job.finished + age <= time.time():
                latest = max(latest, job.finished + age)
        return latest

    def _reason(self, job: JobRecord, word: str) -> str:
        if word == "PENDING":
            record = self.state.facility.find(job.resource)
            return "PartitionDown" if record is not None and self._down(record) else "None"
        return "NonZeroExitCode" if word == "FAILED" else "None"

    def _job_info(self, job: JobRecord) -> dict[str, Any]:
        snap = self.state.scheduler.snapshot(job)
        spec = snap["spec"]
        word = slurm_state(job)
        code = snap["exit_code"]
        signalled = word in ("CANCELLED", "TIMEOUT")
        meta = snap["meta_data"]

        def text(key: str, default: str = "") -> str:
            value = spec.get(key)
            return value if isinstance(value, str) else default

        if signalled:
            status, return_code = "SIGNALED", no_val(0)
        elif code is None:
            status, return_code = "PENDING", no_val(0 if job.terminal else None)
        else:
            status, return_code = ("SUCCESS" if code == 0 else "ERROR"), no_val(code)
        limit = spec.get("time_limit")
        return {
            "job_id": int(job.id) if job.id.isdigit() else 0,
            "name": text("name"),
            "comment": text("comment"),
            "partition": text("partition", job.resource),
            "account": text("account"),
            "user_name": text("user_name", self.auth.user_name),
            "cluster": CLUSTER,
            "batch_flag": True,
            "job_state": [word],
            "state_reason": self._reason(job, word),
            "exit_code": {
                "status": [status],
                "return_code": return_code,
                "signal": {"id": no_val(9 if signalled else None), "name": "KILL" if signalled else ""},
            },
            "submit_time": no_val(meta.get("submitted")),
            "start_time": no_val(meta.get("started")),
            "end_time": no_val(meta.get("finished")),
            "time_limit": no_val(limit if isinstance(limit, int) and not isinstance(limit, bool) else None),
            "current_working_directory": text("cwd"),
            "standard_output": text("stdout"),
            "standard_error": text("stderr"),
            "stdout_expanded": text("stdout"),
            "stderr_expanded": text("stderr"),
        }

    def _jobs_answer(self, jobs: list[JobRecord]) -> Response:
        now = no_val(time.time())
        return self._answer(
            {"jobs": [self._job_info(j) for j in jobs], "last_backfill": now, "last_update": now}
        )

    async def list_jobs(self, request: Request) -> Response:
        last_update = self._last_job_update()
        changed = no_val(last_update)
        data: dict[str, Any] = {"meta": slurm_meta(self.auth.user_name), "errors": [], "warnings": []}
        since = request.query_params.get("update_time")
        if since is not None:
            try:
                asked = int(since)
            except ValueError:
                return slurm_error(
                    400, 'Unable to parse "update_time" field', ESLURM_REST_FAIL_PARSING, "_op_handler_jobs()"
                )
            if asked - 1 >= int(last_update):  # slurmctld's test: nothing changed since then
                warning = {
                    "description": f"No job changes since update_time={asked}",
                    "source": "_op_handler_jobs()",
                }
                data.update(warnings=[warning], last_backfill=changed, last_update=changed, jobs=[])
                return Response(json.dumps(data), media_type="application/json")
        own = [self._job_info(j) for j in self._jobs()]
        data.update(last_backfill=changed, last_update=changed, jobs=own)
        body = json.dumps(data, separators=(",", ":")).encode()
        others = self.controller.other_jobs
        if others:  # splice the other users' jobs, rendered once, into the list (it comes last)
            head = body[: -len(b"]}")]
            body = head + (b"," if own else b"") + other_jobs_json(others) + b"]}"
        return Response(body, media_type="application/json")

    def _find(self, job_id: str) -> JobRecord | None:
        return next((job for job in self._jobs() if job.id == job_id), None)

    async def get_job(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        job = self._find(job_id)
        if job is None:
            now = no_val(time.time())
            empty = {"jobs": [], "last_backfill": now, "last_update": now}
            return slurm_error(
                404, f"Unable to find JobId={job_id}", ESLURM_INVALID_JOB_ID, "_handle_job_get()", empty
            )
        return self._jobs_answer([job])

    async def accounted_job(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        job = next((j for j in self._accounted() if j.id == job_id), None)
        if job is None:
            error = {
                "description": "Nothing found",
                "error_number": ESLURM_REST_EMPTY_RESULT,
                "error": "Nothing found with query",
                "source": "slurmdb_jobs_get",
            }
            return slurm_answer({"jobs": []}, errors=[error], user_name=self.auth.user_name)
        return self._answer({"jobs": [accounting_record(self._job_info(job))]})

    async def cancel(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        job = self._find(job_id)
        if job is None:
            return slurm_error(
                404,
                f"Unable to find JobId={job_id}",
                ESLURM_INVALID_JOB_ID,
                "slurm_kill_job()",
                {"status": []},
            )
        done = job.terminal
        if not done:
            try:
                await anyio.to_thread.run_sync(self.state.scheduler.cancel, job)
            except JobStateError:
                done = True
        if done:
            message = "Job/step already completing or completed"
            status = [self._kill_status(job_id, message, ESLURM_ALREADY_DONE)]
            return slurm_error(500, message, ESLURM_ALREADY_DONE, "slurm_kill_job()", {"status": status})
        return self._answer({"status": [self._kill_status(job_id, "", 0)]})

    @staticmethod
    def _kill_status(job_id: str, message: str, code: int) -> dict[str, Any]:
        return {
            "error": {"string": message, "code": code, "message": message},
            "step_id": "batch",
            "job_id": no_val(int(job_id) if job_id.isdigit() else None),
            "federation": {"sibling": ""},
        }

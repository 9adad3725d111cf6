"""The ``/v1`` routes of one emulated Flux RESTful server, as flux-restful 1.1.0 serves them.

Decisions where the server's behaviour is not pinned down by its spec:

* Every ``/v1`` route but ``/v1/auth``, ``/v1/token`` and ``/v1/login/access-token`` checks
  authentication first, then answers 503 ``{"detail": "Flux is not available"}`` while the
  instance is stopped (``POST /v1/service/stop`` or the admin switch).
* ``GET /v1/jobs`` answers ``{"jobs": [{"id": ...}]}``; with ``details=true`` an object of jobinfo
  keyed by id; with ``details=true&listing=true`` ``{"jobs": [jobinfo, ...]}``. ``limit`` keeps the
  newest jobs.
* An unknown job id is 404 ``{"detail": "Job <id> not found"}``; a malformed one 400.
* ``GET /v1/jobs/search`` answers DataTables' shape ``{"data", "draw", "recordsTotal",
  "recordsFiltered"}`` as the 1.1.0 server does: ``search`` (or ``search[value]``) is a regular
  expression matched against each job's values joined into one string (an invalid one is a 500),
  ``recordsTotal`` counts the jobs before that filter and ``recordsFiltered`` the page; a ``start``
  of 0, or at or past the last match, is ignored (the first page comes again).
* ``GET /v1/nodes`` lists the nodes that are up (Flux's ``up`` set, busy or not); the admin
  switch ``nodes-down`` takes them all down.
* ``POST /v1/service/stop`` answers ``null`` (the server's handler returns nothing) and stops the
  instance.
* ``GET /v1/jobs/{id}/output`` answers ``{"Message": "The output does not exist yet..."}`` until
  the job has started, then ``{"Output": [lines]}``; ``/output/stream`` sends the text as it
  grows and ends when the job has ended.
* Cancelling a job that has ended is 400 ``{"Message": "Job cannot be cancelled: ..."}``.
* ``workdir`` must lie in the sandbox (400 otherwise); a missing one makes the job fail at
  launch, as Flux's exec exception does. The default is the user's home.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from facility_emulator.flux.auth import FluxAuthenticator
from facility_emulator.flux.errors import FluxHTTPError, answers_errors, validation_error
from facility_emulator.flux.instance import FluxInstance
from facility_emulator.flux.jobs import SubmitRequest, jobinfo, launch_plan
from facility_emulator.sandbox import SandboxError
from facility_emulator.scheduler import JobRecord, JobStateError
from facility_emulator.state import EmulatorState

NOT_YET = "The output does not exist yet, or the jobid is incorrect."
STREAM_POLL = 0.05


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise validation_error("query", name, "Input should be a valid integer", raw) from None


def _bool(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise validation_error("query", name, "Input should be a valid boolean", raw)


class FluxRoutes:
    """Routes of one instance under its prefix."""

    def __init__(self, state: EmulatorState, instance: FluxInstance) -> None:
        self.state = state
        self.instance = instance
        self.auth = FluxAuthenticator(instance, state.config.token_lifetime)
        self.resource = f"flux-{instance.label}"
        self.output_dir = state.sandbox.root / "flux" / instance.label

    def routes(self) -> list[Route]:
        p = self.instance.prefix + "/v1"
        handlers = [
            (f"{p}/auth", self.auth_info, "GET"),
            (f"{p}/token", self.token, "POST"),
            (f"{p}/login/access-token", self.login, "POST"),
            (f"{p}/service/stop", self.stop, "POST"),
            (f"{p}/nodes", self.nodes, "GET"),
            (f"{p}/jobs", self.list_jobs, "GET"),
            (f"{p}/jobs/search", self.search_jobs, "GET"),
            (f"{p}/jobs/submit", self.submit, "POST"),
            (f"{p}/jobs/{{jobid}}", self.get_job, "GET"),
            (f"{p}/jobs/{{jobid}}/cancel", self.cancel, "POST"),
            (f"{p}/jobs/{{jobid}}/output", self.output, "GET"),
            (f"{p}/jobs/{{jobid}}/output/stream", self.stream, "GET"),
        ]
        return [Route(path, answers_errors(handler), methods=[method]) for path, handler, method in handlers]

    # -- helpers -------------------------------------------------------------------------

    def _guard(self, request: Request) -> str:
        user = self.auth.check(request)
        if not self.instance.running:
            raise FluxHTTPError(503, "Flux is not available")
        return user

    def _job(self, request: Request) -> JobRecord:
        raw = request.path_params["jobid"]
        if not raw.isdigit():
            raise FluxHTTPError(400, f"Invalid job id {raw}")
        job = self.state.scheduler.get(raw)
        if job is None or not self.instance.owns(raw) or not job.visible():
            raise FluxHTTPError(404, f"Job {raw} not found")
        return job

    def _info(self, job: JobRecord) -> dict[str, Any]:
        return jobinfo(job, self.instance.nodes)

    def _visible_jobs(self) -> list[JobRecord]:
        jobs = []
        for job_id in self.instance.own_jobs():
            job = self.state.scheduler.get(job_id)
            if job is not None and job.visible():
                jobs.append(job)
        return jobs

    # -- auth ----------------------------------------------------------------------------

    async def auth_info(self, request: Request) -> Response:
        return JSONResponse(self.auth.info())

    async def token(self, request: Request) -> Response:
        return JSONResponse(self.auth.handshake(request))

    async def login(self, request: Request) -> Response:
        return JSONResponse(await self.auth.login(request))

    async def stop(self, request: Request) -> Response:
        self._guard(request)
        self.instance.running = False
        return JSONResponse(None)

    # -- resources -----------------------------------------------------------------------

    async def nodes(self, request: Request) -> Response:
        self._guard(request)
        return JSONResponse({"nodes": list(self.instance.up_nodes())})

    # -- jobs ----------------------------------------------------------------------------

    async def list_jobs(self, request: Request) -> Response:
        self._guard(request)
        details = _bool(request, "details")
        listing = _bool(request, "listing")
        limit = _int(request, "limit")
        jobs = list(reversed(self._visible_jobs()))  # newest first, as flux job-list
        if limit is not None:
            jobs = jobs[: max(limit, 0)]
        if not details:
            return JSONResponse({"jobs": [{"id": int(job.id)} for job in jobs]})
        infos = [self._info(job) for job in jobs]
        if listing:
            return JSONResponse({"jobs": infos})
        return JSONResponse({str(info["id"]): info for info in infos})

    async def search_jobs(self, request: Request) -> Response:
        self._guard(request)
        q = request.query_params
        query = q.get("search[value]") or q.get("search")
        jobs = [self._info(job) for job in reversed(self._visible_jobs())]
        total = len(jobs)
        if query:
            try:
                pattern = re.compile(query)
            except re.error:
                return Response("Internal Server Error", status_code=500, media_type="text/plain")
            jobs = [info for info in jobs if pattern.search("".join(str(v) for v in info.values()))]
        start, length = _int(request, "start"), _int(request, "length")
        if start and start < len(jobs):
            jobs = jobs[start:]
        if length and length < len(jobs):
            jobs = jobs[:length]
        return JSONResponse(
            {"data": jobs, "draw": q.get("draw") or 1, "recordsTotal": total, "recordsFiltered": len(jobs)}
        )

    async def _envars(self, request: Request) -> dict[str, str]:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise FluxHTTPError(
                422,
                [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid", "input": {}}],
            ) from None
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise validation_error("body", "envars", "Input should be a valid dictionary", body)
        return {
            str(key): value if isinstance(value, str) else json.dumps(value) for key, value in body.items()
        }

    def _parse_submit(self, request: Request, envars: dict[str, str]) -> SubmitRequest:
        errors: list[str] = []
        command_text = request.query_params.get("command") or ""
        try:
            command = shlex.split(command_text)
        except ValueError as exc:
            command = []
            errors.append(f"'command' cannot be split: {exc}")
        if not command_text.strip():
            errors.append("'command' is required.")
        num_tasks = _int(request, "num_tasks")
        cores = _int(request, "cores_per_task")
        gpus = _int(request, "gpus_per_task")
        num_nodes = _int(request, "num_nodes")
        runtime = _int(request, "runtime")
        exclusive = _bool(request, "exclusive")
        _bool(request, "is_launcher")
        total = len(self.instance.nodes)
        if num_nodes is not None and num_nodes > total:
            errors.append(f"The server only has {total} nodes, you requested {num_nodes}")
        if gpus is not None and not self.instance.has_gpus:
            errors.append("This server does not support gpus: gpus_per_task cannot be set.")
        if runtime is not None and runtime < 0:
            errors.append(f"Runtime must be >= 0, found {runtime}")
        for key, value in (("num_tasks", num_tasks), ("cores_per_task", cores), ("gpus_per_task", gpus)):
            if value is not None and value < 1:
                errors.append(f"Parameter {key} must be >= 1")
        if num_nodes is not None and num_nodes < 1:
            errors.append("Parameter num_nodes must be >= 1")
        if cores is not None and cores > self.instance.cores_per_node:
            errors.append(f"Each node has {self.instance.cores_per_node} cores, you requested {cores}")
        workdir_text = request.query_params.get("workdir")
        workdir = self.state.sandbox.home
        if workdir_text:
            try:
                workdir = self.state.sandbox.resolve(workdir_text)
            except SandboxError as exc:
                errors.append(f"workdir: {exc}")
        if errors:
            raise FluxHTTPError(400, None, body={"Message": "Invalid submit request", "Errors": errors})
        nodes = num_nodes or 1
        tasks = num_tasks or nodes
        return SubmitRequest(
            command=command,
            num_tasks=tasks,
            cores_per_task=cores or 1,
            gpus_per_task=gpus,
            num_nodes=nodes,
            exclusive=exclusive,
            option_flags=request.query_params.get("option_flags") or None,
            workdir=workdir,
            runtime=runtime or 0,
            envars=envars,
        )

    async def submit(self, request: Request) -> Response:
        self._guard(request)
        submit = self._parse_submit(request, await self._envars(request))
        scheduler = self.state.scheduler
        job_id = scheduler.allocate_id()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        plan = launch_plan(submit, job_id, self.output_dir / f"{job_id}.out", home=self.state.sandbox.home)
        try:
            job = scheduler.submit(
                self.resource,
                plan,
                submit.as_spec(),
                invisible_for=self.state.faults.invisible_seconds,
                job_id=job_id,
                start=False,
            )
        except JobStateError as exc:
            raise FluxHTTPError(503, str(exc)) from None
        self.instance.add_job(job.id)
        scheduler.start(job)
        return JSONResponse({"Message": "Job submit.", "id": int(job.id)})

    async def get_job(self, request: Request) -> Response:
        self._guard(request)
        return JSONResponse(self._info(self._job(request)))

    async def cancel(self, request: Request) -> Response:
        self._guard(request)
        job = self._job(request)
        try:
            await anyio.to_thread.run_sync(self.state.scheduler.cancel, job)
        except JobStateError as exc:
            raise FluxHTTPError(400, None, body={"Message": f"Job cannot be cancelled: {exc}"}) from None
        return JSONResponse({"Message": "Job is requested to cancel.", "id": int(job.id)})

    async def output(self, request: Request) -> Response:
        self._guard(request)
        job = self._job(request)
        path = job.plan.stdout
        if job.started is None or not path.exists():
            return JSONResponse({"Message": NOT_YET})
        text = path.read_text(errors="replace")
        return JSONResponse({"Output": text.splitlines(keepends=True)})

    async def stream(self, request: Request) -> Response:
        self._guard(request)
        job = self._job(request)
        path = job.plan.stdout

        async def chunks() -> AsyncIterator[bytes]:
            offset = 0
            while True:
                ended = job.terminal
                if path.exists():
                    with path.open("rb") as handle:
                        handle.seek(offset)
                        data = handle.read()
                    if data:
                        offset += len(data)
                        yield data
                if ended or not self.instance.running:
                    return
                await anyio.sleep(STREAM_POLL)

        return StreamingResponse(chunks(), media_type="text/plain; charset=utf-8")

"""The SF API v1.2 routes: status and outages, compute jobs, tasks and utilities.

Shapes follow the reconstructed spec and what ``sfapi_client`` 0.6.0 reads:

* Submit (``POST /compute/jobs/{machine}``, form ``job``, ``isPath``, ``args``) answers a task id;
  the task's ``result`` is a JSON *string* holding ``{"status", "error", "jobid"}``.
* Jobs are read from ``squeue`` (live jobs only) or ``sacct`` (every job, ``"CANCELLED by <uid>"``
  for cancelled ones) as lists of string columns; ``kwargs=jobid=1,2`` filters.
* Domain errors are HTTP 200 with ``{"status": "ERROR", "error": ...}``, as on the real API; an
  unknown machine is FastAPI's 422.
* Scripts are read as Slurm reads them (:mod:`facility_emulator.batch`): an indented ``#SBATCH``
  line is ignored, exactly the trap NERSC users hit.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import threading
import uuid
import weakref
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.batch import BatchScriptError, batch_plan, slurm_state
from facility_emulator.fsops import MAX_TRANSFER
from facility_emulator.sandbox import SandboxError
from facility_emulator.scheduler import JobRecord, JobStateError
from facility_emulator.state import EmulatorState
from facility_emulator.tasks import TaskFailure, TaskRecord

PREFIX = "/sfapi/api/v1.2"
MACHINES = ("perlmutter", "dtns")
BATCH_MACHINES = ("perlmutter",)
COMMAND_TIMEOUT = 60.0
ROUTER = "sfapi"

_FULL_NAMES = {
    "perlmutter": ("Perlmutter", "HPE Cray EX with NVIDIA A100 GPUs and AMD EPYC CPUs", "compute"),
    "dtns": ("Data Transfer Nodes", "Data transfer nodes for moving data in and out of NERSC", "service"),
}


def _ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body)


def _error(message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": "ERROR", "error": message, **extra})


def _bad_machine(value: str) -> JSONResponse:
    return JSONResponse(
        {
            "detail": [
                {
                    "loc": ["path", "machine"],
                    "msg": f"value is not a valid enumeration member; permitted: {', '.join(MACHINES)}",
                    "type": "type_error.enum",
                    "input": value,
                }
            ]
        },
        status_code=422,
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _stamp(epoch: float | None) -> str:
    if epoch is None:
        return "Unknown"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "UNLIMITED"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


class Outages:
    """The flavour's outage calendar: a completed one and a planned one, as on the NERSC page,
    plus those tests announce with :meth:`announce` (their status follows the clock)."""

    def __init__(self) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()
        self._announced: dict[str, tuple[str, datetime, datetime]] = {}
        self.items: list[dict[str, Any]] = [
            {
                "name": "perlmutter",
                "start_at": _iso(now - timedelta(days=7, hours=4)),
                "end_at": _iso(now - timedelta(days=7)),
                "description": "Scheduled maintenance (emulated)",
                "notes": "System software upgrade",
                "status": "Completed",
                "swo": "swo",
                "update_at": _iso(now - timedelta(days=7)),
            },
            {
                "name": "perlmutter",
                "start_at": _iso(now + timedelta(days=14)),
                "end_at": _iso(now + timedelta(days=14, hours=8)),
                "description": "Scheduled maintenance (emulated)",
                "notes": "Lustre and Slurm upgrade",
                "status": "Planned",
                "swo": "swo",
                "update_at": _iso(now),
            },
        ]

    def announce(self, name: str, start: datetime, end: datetime) -> str:
        """Add a maintenance of machine ``name``; returns its id for :meth:`withdraw`."""
        if name not in MACHINES:
            raise ValueError(f"unknown machine {name!r}")
        outage_id = uuid.uuid4().hex
        with self._lock:
            self._announced[outage_id] = (name, start, end)
        return outage_id

    def withdraw(self, outage_id: str) -> bool:
        """Remove an announced outage; False when unknown."""
        with self._lock:
            return self._announced.pop(outage_id, None) is not None

    def _all(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        with self._lock:
            announced = list(self._announced.values())
        views = list(self.items)
        for name, start, end in announced:
            status = "Planned" if now < start else ("Active" if now < end else "Completed")
            views.append(
                {
                    "name": name,
                    "start_at": _iso(start),
                    "end_at": _iso(end),
                    "description": "Scheduled maintenance (emulated)",
                    "notes": "announced outage",
                    "status": status,
                    "swo": "swo",
                    "update_at": _iso(now),
                }
            )
        return views

    def current(self, name: str | None) -> list[dict[str, Any]]:
        return [o for o in self._all() if o["status"] != "Planned" and (name is None or o["name"] == name)]

    def planned(self, name: str | None) -> list[dict[str, Any]]:
        return [o for o in self._all() if o["status"] == "Planned" and (name is None or o["name"] == name)]

    def active(self, name: str) -> bool:
        now = _iso(datetime.now(UTC))
        return any(
            o["name"] == name and o["status"] in ("Active", "Extended") and o["start_at"] <= now
            for o in self._all()
        )


_CALENDARS: weakref.WeakKeyDictionary[EmulatorState, Outages] = weakref.WeakKeyDictionary()


def outages_of(state: EmulatorState) -> Outages:
    """The SF API outage calendar of an emulator (created on first use)."""
    calendar = _CALENDARS.get(state)
    if calendar is None:
        calendar = _CALENDARS[state] = Outages()
    return calendar


class SFAPIRoutes:
    """Route handlers bound to one emulator state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.outages = outages_of(state)
        self.statuses = dict.fromkeys(MACHINES, "active")
        self.uid = os.getuid()

    def routes(self) -> list[Route]:
        p = PREFIX
        return [
            Route(f"{p}/status", self.status_all, methods=["GET"]),
            Route(f"{p}/status/outages", self.outages_all, methods=["GET"]),
            Route(f"{p}/status/outages/planned", self.planned_all, methods=["GET"]),
            Route(f"{p}/status/outages/planned/{{name}}", self.planned_one, methods=["GET"]),
            Route(f"{p}/status/outages/{{name}}", self.outages_one, methods=["GET"]),
            Route(f"{p}/status/notes", self.notes_all, methods=["GET"]),
            Route(f"{p}/status/notes/{{name}}", self.notes_one, methods=["GET"]),
            Route(f"{p}/status/{{name}}", self.status_one, methods=["GET"]),
            Route(f"{p}/compute/jobs/{{machine}}", self.submit, methods=["POST"]),
            Route(f"{p}/compute/jobs/{{machine}}", self.list_jobs, methods=["GET"]),
            Route(f"{p}/compute/jobs/{{machine}}/{{jobid}}", self.get_job, methods=["GET"]),
            Route(f"{p}/compute/jobs/{{machine}}/{{jobid}}", self.cancel, methods=["DELETE"]),
            Route(f"{p}/tasks", self.tasks, methods=["GET"]),
            Route(f"{p}/tasks/{{id}}", self.task, methods=["GET"]),
            Route(f"{p}/tasks/{{id}}", self.delete_task, methods=["DELETE"]),
            Route(f"{p}/utilities/ls/{{machine}}/{{path:path}}", self.ls, methods=["GET"]),
            Route(f"{p}/utilities/download/{{machine}}/{{path:path}}", self.download, methods=["GET"]),
            Route(f"{p}/utilities/upload/{{machine}}/{{path:path}}", self.upload, methods=["PUT"]),
            Route(f"{p}/utilities/command/{{machine}}", self.command, methods=["POST"]),
        ]

    # -- status ----------------------------------------------------------------------------

    def _status(self, name: str) -> dict[str, Any]:
        full_name, description, system_type = _FULL_NAMES[name]
        status = "unavailable" if self.outages.active(name) else self.statuses[name]
        return {
            "name": name,
            "full_name": full_name,
            "description": description,
            "system_type": system_type,
            "notes": [],
            "status": status,
            "updated_at": _iso(datetime.now(UTC).replace(microsecond=0)),
        }

    async def status_all(self, request: Request) -> Response:
        return JSONResponse([self._status(name) for name in MACHINES])

    async def status_one(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in MACHINES:
            return JSONResponse({"detail": f"{name} not found"}, status_code=404)
        return JSONResponse(self._status(name))

    async def outages_all(self, request: Request) -> Response:
        return JSONResponse([self.outages.current(name) for name in MACHINES])

    async def outages_one(self, request: Request) -> Response:
        return JSONResponse(self.outages.current(request.path_params["name"]))

    async def planned_all(self, request: Request) -> Response:
        return JSONResponse([self.outages.planned(name) for name in MACHINES])

    async def planned_one(self, request: Request) -> Response:
        return JSONResponse(self.outages.planned(request.path_params["name"]))

    async def notes_all(self, request: Request) -> Response:
        return JSONResponse([[] for _ in MACHINES])

    async def notes_one(self, request: Request) -> Response:
        return JSONResponse([])

    # -- tasks -----------------------------------------------------------------------------

    @staticmethod
    def _task_view(view: dict[str, Any]) -> dict[str, Any]:
        """A task in SF API words: ``new`` until done, ``result`` a JSON string."""
        status = {"pending": "new", "active": "new", "canceled": "cancelled"}.get(
            view["status"], view["status"]
        )
        result = view.get("result")
        text: str | None = None
        if status == "completed" and result is not None:
            text = json.dumps(result.get("output"))
        elif status == "failed" and result is not None:
            text = json.dumps({"status": "error", "error": result.get("error"), "jobid": None})
        return {"id": view["id"], "status": status, "result": text}

    def _own(self, task: TaskRecord | None) -> TaskRecord | None:
        return task if task is not None and task.router == ROUTER else None

    async def tasks(self, request: Request) -> Response:
        self.state.require_auth(request)
        queue = self.state.tasks
        return JSONResponse(
            {"tasks": [self._task_view(queue.view(t)) for t in queue.list() if t.router == ROUTER]}
        )

    async def task(self, request: Request) -> Response:
        self.state.require_auth(request)
        task = self._own(self.state.tasks.get(request.path_params["id"]))
        if task is None:
            return JSONResponse({"detail": "task not found"}, status_code=404)
        return JSONResponse(self._task_view(self.state.tasks.view(task)))

    async def delete_task(self, request: Request) -> Response:
        self.state.require_auth(request)
        task = self._own(self.state.tasks.get(request.path_params["id"]))
        if task is None:
            return JSONResponse({"detail": "task not found"}, status_code=404)
        self.state.tasks.delete(task.id)
        return JSONResponse({})

    # -- compute ---------------------------------------------------------------------------

    def _machine(self, request: Request) -> str | None:
        name = str(request.path_params["machine"])
        return name if name in MACHINES else None

    def _start_job(self, machine: str, script: str, args: list[str]) -> dict[str, Any]:
        """What the submit task does: the ``sbatch`` of the script, as job id or an error."""
        scheduler = self.state.scheduler
        job_id = scheduler.allocate_id()
        home = self.state.sandbox.home
        env = {
            "HOME": str(home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "USER": self.state.config.user,
            "NERSC_HOST": machine,
        }
        try:
            plan, directives = batch_plan(
                script, job_id=job_id, default_cwd=home, env=env, script_dir=home / ".sfapi-scripts"
            )
            for path in (plan.cwd, plan.stdout, plan.stderr):
                self.state.sandbox.resolve(str(path))
        except (BatchScriptError, SandboxError) as exc:
            raise TaskFailure(f"sbatch: error: {exc}") from None
        plan.argv = [*plan.argv, *args]
        spec = {
            "name": directives.job_name or "script",
            "account": directives.account or "",
            "partition": directives.partition or "regular",
            "comment": directives.options.get("comment", ""),
            "reservation": directives.options.get("reservation", ""),
            "time_limit": directives.time_limit,
            "nodes": directives.nodes or "1",
            "work_dir": str(plan.cwd),
            "stdout": str(plan.stdout),
            "stderr": str(plan.stderr),
        }
        try:
            scheduler.submit(
                machine, plan, spec, invisible_for=self.state.faults.invisible_seconds, job_id=job_id
            )
        except JobStateError as exc:
            raise TaskFailure(f"sbatch: error: {exc}") from None
        return {"status": "ok", "error": None, "jobid": job_id}

    async def submit(self, request: Request) -> Response:
        self.state.require_auth(request)
        machine = self._machine(request)
        if machine is None:
            return _bad_machine(request.path_params["machine"])
        form = await request.form()
        job = form.get("job")
        is_path = str(form.get("isPath", "")).lower()
        if not isinstance(job, str) or is_path not in ("true", "false"):
            return JSONResponse(
                {
                    "detail": [
                        {"loc": ["body", "job"], "msg": "field required", "type": "value_error.missing"}
                    ]
                },
                status_code=422,
            )
        args = [str(a) for a in form.getlist("args") if isinstance(a, str) and a != "[]"]
        if machine not in BATCH_MACHINES:
            return _error(f"{machine} has no batch system; submit to perlmutter", task_id=None)
        if is_path == "false" and args:
            return _error("args can only be given with isPath=true", task_id=None)
        script = job
        if is_path == "true":
            try:
                script = self.state.sandbox.resolve(job).read_text()
            except (OSError, SandboxError, UnicodeDecodeError) as exc:
                return _error(f"sbatch: error: cannot read {job}: {exc}", task_id=None)
        task = self.state.tasks.submit(
            ROUTER, "submit_job", {"machine": machine}, lambda: self._start_job(machine, script, args)
        )
        return _ok({"task_id": task.id, "status": "OK", "error": None})

    def _visible_jobs(self, machine: str) -> list[JobRecord]:
        return [j for j in self.state.scheduler.jobs() if j.resource == machine and j.visible()]

    def _squeue_row(self, job: JobRecord) -> dict[str, str]:
        snap = self.state.scheduler.snapshot(job)
        spec = snap["spec"]
        meta = snap["meta_data"]
        return {
            "account": spec.get("account", ""),
            "jobid": job.id,
            "name": spec.get("name", ""),
            "partition": spec.get("partition", ""),
            "state": slurm_state(job),
            "user": self.state.config.user,
            "time_limit": _duration(spec.get("time_limit")),
            "submit_time": _stamp(meta.get("submitted")),
            "start_time": _stamp(meta.get("started")),
            "nodes": str(spec.get("nodes", "1")),
            "reason": "None" if job.state == "active" else "Priority",
            "reservation": spec.get("reservation", ""),
            "comment": spec.get("comment", ""),
            "work_dir": spec.get("work_dir", ""),
            "command": spec.get("work_dir", ""),
        }

    def _sacct_row(self, job: JobRecord) -> dict[str, str]:
        snap = self.state.scheduler.snapshot(job)
        spec = snap["spec"]
        meta = snap["meta_data"]
        state = slurm_state(job)
        exit_code = snap["exit_code"]
        signal = 0
        if state == "CANCELLED":
            state = f"CANCELLED by {self.uid}"
            signal = 15
        elif state == "TIMEOUT":
            signal = 15
        code = exit_code if exit_code is not None and exit_code < 128 else 0
        if exit_code is not None and exit_code >= 128:
            signal = exit_code - 128
        started, finished = meta.get("started"), meta.get("finished")
        elapsed = (finished or datetime.now(UTC).timestamp()) - started if started else 0
        return {
            "account": spec.get("account", ""),
            "jobid": job.id,
            "jobname": spec.get("name", ""),
            "partition": spec.get("partition", ""),
            "state": state,
            "exitcode": f"{code}:{signal}" if job.terminal else "0:0",
            "derivedexitcode": "0:0",
            "user": self.state.config.user,
            "submit": _stamp(meta.get("submitted")),
            "start": _stamp(started),
            "end": _stamp(finished),
            "elapsed": _duration(elapsed),
            "timelimit": _duration(spec.get("time_limit")),
            "reservation": spec.get("reservation", ""),
            "comment": spec.get("comment", ""),
            "workdir": spec.get("work_dir", ""),
            "nnodes": str(spec.get("nodes", "1")),
        }

    def _rows(self, machine: str, request: Request, jobids: list[str] | None) -> dict[str, Any]:
        sacct = str(request.query_params.get("sacct", "false")).lower() == "true"
        filters: dict[str, str] = {}
        for item in request.query_params.getlist("kwargs"):
            key, _, value = item.partition("=")
            filters[key.strip()] = value.strip()
        if "jobid" in filters:
            wanted = {j for j in filters["jobid"].split(",") if j}
            jobids = [j for j in (jobids or wanted) if j in wanted]
        jobs = self._visible_jobs(machine)
        if jobids is not None:
            jobs = [j for j in jobs if j.id in set(jobids)]
        if "user" in filters and filters["user"] != self.state.config.user:
            jobs = []
        if sacct:
            rows = [self._sacct_row(j) for j in jobs]
        else:
            rows = [self._squeue_row(j) for j in jobs if not j.terminal]
        if "partition" in filters:
            rows = [r for r in rows if r.get("partition") == filters["partition"]]
        index = int(request.query_params.get("index", "0") or 0)
        limit = request.query_params.get("limit")
        rows = rows[index : index + int(limit)] if limit else rows[index:]
        return {"status": "OK", "output": rows, "error": None}

    async def list_jobs(self, request: Request) -> Response:
        self.state.require_auth(request)
        machine = self._machine(request)
        if machine is None:
            return _bad_machine(request.path_params["machine"])
        return _ok(self._rows(machine, request, None))

    async def get_job(self, request: Request) -> Response:
        self.state.require_auth(request)
        machine = self._machine(request)
        if machine is None:
            return _bad_machine(request.path_params["machine"])
        return _ok(self._rows(machine, request, [str(request.path_params["jobid"])]))

    async def cancel(self, request: Request) -> Response:
        self.state.require_auth(request)
        machine = self._machine(request)
        if machine is None:
            return _bad_machine(request.path_params["machine"])
        job_id = str(request.path_params["jobid"])
        job = self.state.scheduler.get(job_id)
        if job is None or job.resource != machine or not job.visible():
            return _error(f"scancel: error: Invalid job id specified: {job_id}", task_id=None)

        def work() -> dict[str, Any]:
            try:
                self.state.scheduler.cancel(job)
            except JobStateError:
                return {"status": "ok", "error": None, "output": f"job {job_id} already finished"}
            return {"status": "ok", "error": None, "output": ""}

        task = self.state.tasks.submit(ROUTER, "cancel_job", {"jobid": job_id}, work)
        return _ok({"task_id": task.id, "status": "OK", "error": None})

    # -- utilities -------------------------------------------------------------------------

    def _path(self, request: Request) -> Path:
        return self.state.sandbox.resolve(str(request.path_params["path"]) or "/")

    @staticmethod
    def _entry(path: Path, name: str) -> dict[str, Any]:
        import grp
        import pwd
        import stat as stat_module

        info = path.lstat()
        try:
            user = pwd.getpwuid(info.st_uid).pw_name
        except KeyError:
            user = str(info.st_uid)
        try:
            group = grp.getgrgid(info.st_gid).gr_name
        except KeyError:
            group = str(info.st_gid)
        shown = name
        if path.is_symlink():
            shown = f"{name} -> {os.readlink(path)}"
        return {
            "perms": stat_module.filemode(info.st_mode),
            "hardlinks": info.st_nlink,
            "user": user,
            "group": group,
            "size": info.st_size,
            "date": datetime.fromtimestamp(info.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "name": shown,
        }

    async def ls(self, request: Request) -> Response:
        self.state.require_auth(request)
        if self._machine(request) is None:
            return _bad_machine(request.path_params["machine"])
        raw = str(request.path_params["path"])
        try:
            path = self._path(request)
        except SandboxError as exc:
            return _error(f"ls: cannot access '{raw}': {exc}", entries=[], file=None, is_binary=False)
        if not path.exists() and not path.is_symlink():
            return _error(
                f"ls: cannot access '{raw}': No such file or directory",
                entries=[],
                file=None,
                is_binary=False,
            )
        if path.is_dir() and not path.is_symlink():
            entries = [self._entry(path, "."), self._entry(path.parent, "..")]
            entries += [self._entry(child, child.name) for child in sorted(path.iterdir())]
        else:
            entries = [self._entry(path, raw)]
        return _ok({"status": "OK", "entries": entries, "error": None, "file": None, "is_binary": False})

    async def download(self, request: Request) -> Response:
        self.state.require_auth(request)
        if self._machine(request) is None:
            return _bad_machine(request.path_params["machine"])
        raw = str(request.path_params["path"])
        binary = str(request.query_params.get("binary", "false")).lower() == "true"
        try:
            path = self._path(request)
            if path.is_dir():
                return _error(f"{raw} is a directory", file=None, is_binary=False)
            size = path.stat().st_size
            if size > MAX_TRANSFER:
                return _error(
                    f"{raw} is {size} bytes; files over {MAX_TRANSFER} bytes must move with Globus",
                    file=None,
                    is_binary=False,
                )
            data = path.read_bytes()
        except FileNotFoundError:
            return _error(f"{raw}: No such file or directory", file=None, is_binary=False)
        except (OSError, SandboxError) as exc:
            return _error(f"{raw}: {exc}", file=None, is_binary=False)
        if not binary:
            try:
                return _ok({"status": "OK", "file": data.decode("utf-8"), "is_binary": False, "error": None})
            except UnicodeDecodeError:
                pass
        return _ok(
            {"status": "OK", "file": base64.b64encode(data).decode("ascii"), "is_binary": True, "error": None}
        )

    async def upload(self, request: Request) -> Response:
        self.state.require_auth(request)
        if self._machine(request) is None:
            return _bad_machine(request.path_params["machine"])
        raw = str(request.path_params["path"])
        form = await request.form(max_part_size=MAX_TRANSFER + 1)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return JSONResponse(
                {
                    "detail": [
                        {"loc": ["body", "file"], "msg": "field required", "type": "value_error.missing"}
                    ]
                },
                status_code=422,
            )
        data = await upload.read()
        if len(data) > MAX_TRANSFER:
            return _error(f"upload is over {MAX_TRANSFER} bytes; use Globus for large files", output=None)
        try:
            target = self._path(request)
            if target.is_dir():
                target = target / (upload.filename or "upload")
                self.state.sandbox.resolve(str(target))
            if not target.parent.is_dir():
                return _error(f"{raw}: No such file or directory", output=None)
            target.write_bytes(data)
        except (OSError, SandboxError) as exc:
            return _error(f"{raw}: {exc}", output=None)
        return _ok({"status": "OK", "output": f"uploaded {len(data)} bytes to {raw}", "error": None})

    def _run_command(self, executable: str) -> dict[str, Any]:
        home = self.state.sandbox.home
        try:
            argv = shlex.split(executable)
        except ValueError as exc:
            raise TaskFailure(f"cannot parse command: {exc}") from None
        if not argv:
            raise TaskFailure("empty command")
        env = {
            "HOME": str(home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "USER": self.state.config.user,
        }
        try:
            done = subprocess.run(
                argv, cwd=home, env=env, capture_output=True, timeout=COMMAND_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            return {"status": "error", "output": None, "error": "command timed out", "exit_code": None}
        except OSError as exc:
            return {"status": "error", "output": None, "error": str(exc), "exit_code": 127}
        stderr = done.stderr.decode("utf-8", "replace")
        return {
            "status": "ok" if done.returncode == 0 else "error",
            "output": done.stdout.decode("utf-8", "replace"),
            "error": stderr if done.returncode != 0 else None,
            "exit_code": done.returncode,
        }

    async def command(self, request: Request) -> Response:
        self.state.require_auth(request)
        machine = self._machine(request)
        if machine is None:
            return _bad_machine(request.path_params["machine"])
        form = await request.form()
        executable = form.get("executable")
        if not isinstance(executable, str) or not executable.strip():
            return JSONResponse(
                {
                    "detail": [
                        {
                            "loc": ["body", "executable"],
                            "msg": "field required",
                            "type": "value_error.missing",
                        }
                    ]
                },
                status_code=422,
            )
        task = self.state.tasks.submit(
            ROUTER, "command", {"machine": machine}, lambda: self._run_command(executable)
        )
        return _ok({"task_id": task.id, "status": "OK", "error": None})

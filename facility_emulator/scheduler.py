"""Local process scheduler: jobs really run as processes on this host.

Each job gets a runner thread: it waits ``queue_delay`` (state ``queued``), starts the process in
its own session/process group (state ``active``), enforces the walltime and records the end
state. Cancel and walltime kill the whole process group (SIGTERM, then SIGKILL after a grace
period). Job records are kept for the emulator's whole life so tests can count submissions.
All state changes happen under one lock, and nothing here blocks the event loop: callers on the
loop run :meth:`LocalScheduler.cancel` in a worker thread.

States follow the IRI ``JobState`` enum: new -> queued -> active -> completed | failed | canceled.
A walltime kill ends ``failed`` with ``meta_data.reason == "walltime"`` and
``meta_data.native_state == "TIMEOUT"``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

_now = time.time
TERMINAL_STATES = frozenset({"completed", "failed", "canceled"})
NATIVE_STATES = {
    "new": "PENDING",
    "queued": "PENDING",
    "active": "RUNNING",
    "completed": "COMPLETED",
    "failed": "FAILED",
    "canceled": "CANCELLED",
}


class JobStateError(Exception):
    """An operation is not allowed in the job's current state."""


@dataclass
class LaunchPlan:
    """Everything needed to start a job's process."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    stdout: Path
    stderr: Path
    stdin: Path | None = None
    walltime: float | None = None


@dataclass
class JobRecord:
    """One job and its life so far."""

    id: str
    resource: str
    plan: LaunchPlan
    spec: dict[str, Any]
    state: str = "new"
    time: float = field(default_factory=_now)
    message: str = "job submitted"
    exit_code: int | None = None
    submitted: float = field(default_factory=_now)
    started: float | None = None
    finished: float | None = None
    reason: str | None = None
    native_state: str | None = None
    pid: int | None = None
    visible_after: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    wake: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def visible(self, now: float | None = None) -> bool:
        """False while the 'invisible after submit' fault hides the job."""
        return (now or time.time()) >= self.visible_after

    def meta_data(self) -> dict[str, Any]:
        """Scheduler-side details reported in ``status.meta_data``."""
        data: dict[str, Any] = {
            "native_state": self.native_state or NATIVE_STATES[self.state],
            "submitted": self.submitted,
            "started": self.started,
            "finished": self.finished,
            "resource": self.resource,
        }
        if self.pid is not None:
            data["pid"] = self.pid
        if self.reason:
            data["reason"] = self.reason
        data.update(self.extra)
        return data


def _exit_code(returncode: int) -> int:
    """Shell convention: a signal death N reports 128+N."""
    return returncode if returncode >= 0 else 128 - returncode


class LocalScheduler:
    """Runs jobs as local processes; thread safe."""

    def __init__(self, queue_delay: float, kill_grace: float = 1.0) -> None:
        self.queue_delay = queue_delay
        self.kill_grace = kill_grace
        self._lock = threading.RLock()
        self._jobs: dict[str, JobRecord] = {}
        self._next_id = 1000
        self.submit_count = 0
        self._closed = False

    # -- queries -------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """A job by id (visible or not)."""
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[JobRecord]:
        """All jobs in submission order."""
        with self._lock:
            return list(self._jobs.values())

    def snapshot(self, job: JobRecord) -> dict[str, Any]:
        """A consistent copy of a job's status fields."""
        with self._lock:
            return {
                "state": job.state,
                "time": job.time,
                "message": job.message,
                "exit_code": job.exit_code,
                "meta_data": job.meta_data(),
                "spec": dict(job.spec),
            }

    # -- commands ------------------------------------------------------------------------

    def allocate_id(self) -> str:
        """Reserve a fresh job id (output file names need it before the job exists)."""
        with self._lock:
            job_id = str(self._next_id)
            self._next_id += 1
            return job_id

    def record_history(self, resource: str, count: int, state: str = "completed") -> list[str]:
        """Add ``count`` jobs of ``resource`` that ended before now in ``state``, with no process:
        the long history of other users' jobs a real facility's listing shows. Returns their ids."""
        if state not in TERMINAL_STATES:
            raise JobStateError(f"a past job ends {sorted(TERMINAL_STATES)}, not {state!r}")
        now = _now()
        ids: list[str] = []
        with self._lock:
            for _ in range(count):
                job_id = str(self._next_id)
                self._next_id += 1
                plan = LaunchPlan(
                    argv=["/bin/true"],
                    cwd=Path("/"),
                    env={},
                    stdout=Path(os.devnull),
                    stderr=Path(os.devnull),
                )
                self._jobs[job_id] = JobRecord(
                    id=job_id,
                    resource=resource,
                    plan=plan,
                    spec={"executable": "/bin/true", "name": "history"},
                    state=state,
                    message=f"job {state}",
                    exit_code=0 if state == "completed" else 1,
                    started=now,
                    finished=now,
                )
                ids.append(job_id)
        return ids

    def submit(
        self,
        resource: str,
        plan: LaunchPlan,
        spec: dict[str, Any],
        invisible_for: float = 0.0,
        job_id: str | None = None,
        start: bool = True,
    ) -> JobRecord:
        """Create a job (state ``new``) and, unless ``start`` is False, start its runner thread."""
        job_id = job_id or self.allocate_id()
        with self._lock:
            if self._closed:
                raise JobStateError("scheduler is shut down")
            self.submit_count += 1
            job = JobRecord(id=job_id, resource=resource, plan=plan, spec=spec)
            job.visible_after = job.submitted + invisible_for
            self._jobs[job_id] = job
        if start:
            self.start(job)
        return job

    def start(self, job: JobRecord) -> None:
        """Start the runner thread of a job created with ``start=False``."""
        threading.Thread(target=self._run, args=(job,), name=f"job-{job.id}", daemon=True).start()

    def update(self, job: JobRecord, plan: LaunchPlan, spec: dict[str, Any]) -> None:
        """Replace a job's spec; only while it has not started."""
        with self._lock:
            if job.state not in ("new", "queued"):
                raise JobStateError(f"job {job.id} is {job.state}; only new or queued jobs can be updated")
            job.plan = plan
            job.spec = spec
            job.message = "job updated"

    def cancel(self, job: JobRecord) -> None:
        """Cancel a job, killing its process group if it runs. Blocks up to the kill grace."""
        with self._lock:
            if job.terminal:
                raise JobStateError(f"job {job.id} is already {job.state}")
            self._finish(job, "canceled", "job canceled by user", None)
            process = job.process
            job.wake.set()
        if process is not None:
            self._kill_group(process)

    def shutdown(self) -> None:
        """Kill every running job and cancel queued ones."""
        with self._lock:
            self._closed = True
            pending = [job for job in self._jobs.values() if not job.terminal]
        for job in pending:
            with contextlib.suppress(JobStateError):
                self.cancel(job)

    # -- internals -----------------------------------------------------------------------

    def _transition(self, job: JobRecord, state: str, message: str) -> None:
        job.state = state
        job.time = time.time()
        job.message = message

    def _finish(self, job: JobRecord, state: str, message: str, exit_code: int | None) -> None:
        self._transition(job, state, message)
        job.finished = job.time
        job.exit_code = exit_code

    def _queue(self, job: JobRecord) -> bool:
        """Hold ``job`` queued for the queue delay; False if it ended (was cancelled) meanwhile."""
        with self._lock:
            if job.terminal:
                return False
            self._transition(job, "queued", "job queued")
        return not job.wake.wait(self.queue_delay)

    def _run(self, job: JobRecord) -> None:
        """Runner thread body: queue, launch, wait, record the outcome."""
        if not self._queue(job):
            return
        with self._lock:
            if job.terminal:
                return
            try:
                process = self._launch(job.plan)
            except OSError as exc:
                self._finish(job, "failed", f"launch failed: {exc}", None)
                return
            job.process = process
            job.pid = process.pid
            self._transition(job, "active", "job running")
            job.started = job.time
            walltime = job.plan.walltime
        try:
            returncode = process.wait(timeout=walltime)
        except subprocess.TimeoutExpired:
            with self._lock:
                if not job.terminal:
                    self._finish(job, "failed", f"walltime exceeded ({walltime:g} s); job killed", None)
                    job.reason = "walltime"
                    job.native_state = "TIMEOUT"
            self._kill_group(process)
            return
        with self._lock:
            if job.terminal:
                return
            code = _exit_code(returncode)
            if code == 0:
                self._finish(job, "completed", "job completed", 0)
            else:
                self._finish(job, "failed", f"job exited with code {code}", code)

    @staticmethod
    def _launch(plan: LaunchPlan) -> subprocess.Popen[bytes]:
        """Start the process in a new session with its files opened."""
        opened: list[IO[bytes]] = []
        try:
            stdout = open(plan.stdout, "wb")  # noqa: SIM115 - handed to the child, closed below
            opened.append(stdout)
            if plan.stderr == plan.stdout:
                stderr = stdout
            else:
                stderr = open(plan.stderr, "wb")  # noqa: SIM115
                opened.append(stderr)
            stdin: IO[bytes] | int = subprocess.DEVNULL
            if plan.stdin is not None:
                stdin = open(plan.stdin, "rb")  # noqa: SIM115
                opened.append(stdin)
            return subprocess.Popen(
                plan.argv,
                cwd=plan.cwd,
                env=plan.env,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            for handle in opened:
                handle.close()

    def _kill_group(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM the process group, wait the grace period, then SIGKILL it."""
        pgid = process.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=self.kill_grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


class SlurmScheduler(LocalScheduler):
    """Runs each job as a real Slurm batch job on the local Slurm (``--scheduler slurm``).

    The job's plan becomes a small batch script (working directory, exact environment via
    ``env -i``, stdin) submitted with ``sbatch``; ``--output``/``--error`` are the plan's files and
    the walltime becomes ``--time`` in whole minutes, rounded up (Slurm's unit, so a 1-second
    walltime lasts a minute). One tracker thread follows every live job with **one** ``squeue``
    per round (``poll_interval``), however many jobs live, and reads a finished job's exit code
    once, from ``scontrol show job`` (or, once slurmctld has forgotten the job, from accounting:
    ``sacct``). Slurm's words map to the scheduler's: PENDING -> queued, RUNNING -> active,
    COMPLETED -> completed, CANCELLED -> canceled, TIMEOUT -> failed with reason ``walltime``,
    others -> failed. Cancel is ``scancel``. ``queue_delay`` still delays the ``sbatch``.
    """

    def __init__(
        self,
        queue_delay: float,
        kill_grace: float = 1.0,
        *,
        partition: str | None = None,
        poll_interval: float = 0.5,
        script_dir: Path | None = None,
    ) -> None:
        super().__init__(queue_delay, kill_grace)
        self.partition = partition
        self.poll_interval = poll_interval
        self.script_dir = script_dir
        self._watched: dict[str, JobRecord] = {}
        self._tracker: threading.Thread | None = None
        self.status_rounds = 0
        """Rounds that asked Slurm for the state of the live jobs (one ``squeue`` each)."""

    def cancel(self, job: JobRecord) -> None:
        with self._lock:
            if job.terminal:
                raise JobStateError(f"job {job.id} is already {job.state}")
            slurm_id = job.extra.get("slurm_job_id")
            self._finish(job, "canceled", "job canceled by user", None)
            job.wake.set()
        if slurm_id:
            subprocess.run(["scancel", str(slurm_id)], capture_output=True, timeout=30, check=False)

    def _batch_script(self, job: JobRecord) -> str:
        import shlex

        plan = job.plan
        env = " ".join(shlex.quote(f"{k}={v}") for k, v in plan.env.items())
        command = " ".join(shlex.quote(part) for part in plan.argv)
        stdin = f" < {shlex.quote(str(plan.stdin))}" if plan.stdin is not None else " < /dev/null"
        return f"#!/bin/sh\ncd {shlex.quote(str(plan.cwd))} || exit 1\nexec env -i {env} {command}{stdin}\n"

    def _sbatch(self, job: JobRecord) -> str:
        import math

        plan = job.plan
        folder = self.script_dir or plan.cwd
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / f".slurm-{job.id}.sh"
        script.write_text(self._batch_script(job))
        argv = [
            "sbatch",
            "--parsable",
            f"--job-name=emulator-{job.id}",
            f"--output={plan.stdout}",
            f"--error={plan.stderr}",
            f"--chdir={plan.cwd}",
        ]
        if plan.walltime is not None:
            argv.append(f"--time={max(1, math.ceil(plan.walltime / 60))}")
        if self.partition:
            argv.append(f"--partition={self.partition}")
        argv.append(str(script))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise OSError(done.stderr.strip() or f"sbatch exited {done.returncode}")
        return done.stdout.strip().split(";")[0]

    # -- what Slurm says -----------------------------------------------------------------

    @staticmethod
    def _states(slurm_ids: list[str]) -> dict[str, str]:
        """The state word of each of ``slurm_ids`` slurmctld still holds: one ``squeue``."""
        done = subprocess.run(
            ["squeue", "--noheader", "--states=all", f"--jobs={','.join(slurm_ids)}", "--format=%i|%T"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        states: dict[str, str] = {}
        for line in done.stdout.splitlines():
            slurm_id, sep, word = line.strip().partition("|")
            if sep:
                states[slurm_id] = word
        return states

    @staticmethod
    def _show(slurm_id: str) -> dict[str, str]:
        """slurmctld's fields of one job (``scontrol show job``); empty once it forgot the job."""
        done = subprocess.run(
            ["scontrol", "show", "job", "-o", slurm_id],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        fields: dict[str, str] = {}
        for word in done.stdout.split():
            key, sep, value = word.partition("=")
            if sep and key not in fields:
                fields[key] = value
        return fields

    @staticmethod
    def _accounted(slurm_ids: list[str]) -> dict[str, dict[str, str]]:
        """State and exit code of jobs slurmctld forgot, from accounting: one ``sacct``."""
        done = subprocess.run(
            ["sacct", "--noheader", "--parsable2", "--allocations", f"--jobs={','.join(slurm_ids)}",
             "--format=JobID,State,ExitCode"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )  # fmt: skip
        found: dict[str, dict[str, str]] = {}
        for line in done.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 3:
                found[parts[0]] = {"JobState": parts[1].split()[0], "ExitCode": parts[2]}
        return found

    # -- following the jobs --------------------------------------------------------------

    def _run(self, job: JobRecord) -> None:
        if not self._queue(job):
            return
        with self._lock:
            if job.terminal:
                return
        try:
            slurm_id = self._sbatch(job)
        except (OSError, subprocess.SubprocessError) as exc:
            with self._lock:
                self._finish(job, "failed", f"sbatch failed: {exc}", None)
            return
        with self._lock:
            job.extra["slurm_job_id"] = slurm_id
            cancelled = job.terminal
            if not cancelled:
                self._watched[slurm_id] = job
                if self._tracker is None:
                    self._tracker = threading.Thread(target=self._track, name="slurm-tracker", daemon=True)
                    self._tracker.start()
        if cancelled:
            subprocess.run(["scancel", slurm_id], capture_output=True, timeout=30, check=False)

    def _track(self) -> None:
        """The tracker thread: a round per ``poll_interval`` while any job lives, then exit."""
        while True:
            time.sleep(self.poll_interval)
            with self._lock:
                for slurm_id in [s for s, job in self._watched.items() if job.terminal]:
                    del self._watched[slurm_id]
                if not self._watched:
                    self._tracker = None
                    return
                watched = dict(self._watched)
            self._round(watched)

    def _round(self, watched: dict[str, JobRecord]) -> None:
        """One round: the live jobs' states in one query, then what finished jobs ended with."""
        self.status_rounds += 1
        states = self._states(list(watched))
        ended: dict[str, dict[str, str]] = {}
        for slurm_id, word in states.items():
            if slurm_id in watched and word not in _LIVE_WORDS:
                ended[slurm_id] = self._show(slurm_id) or {"JobState": word}
        forgotten = [slurm_id for slurm_id in watched if slurm_id not in states]
        if forgotten:
            ended.update(self._accounted(forgotten))
        for slurm_id, job in watched.items():
            fields = ended.get(slurm_id) or {"JobState": states.get(slurm_id, "")}
            self._follow(job, fields)

    def _follow(self, job: JobRecord, fields: dict[str, str]) -> None:
        """Bring ``job`` up to Slurm's ``fields`` (``JobState``, and ``ExitCode`` once ended)."""
        word = fields.get("JobState", "")
        with self._lock:
            if job.terminal:
                return
            job.native_state = word or None
            if word in ("PENDING", "CONFIGURING", "REQUEUED", ""):
                return
            if word in ("RUNNING", "COMPLETING", "SUSPENDED", "RESIZING"):
                if job.state != "active":
                    self._transition(job, "active", "job running")
                    job.started = job.time
                return
            code_text = fields.get("ExitCode", "0:0")
            code, _, sig = code_text.partition(":")
            exit_code = (
                128 + int(sig) if sig.isdigit() and int(sig) else int(code) if code.isdigit() else None
            )
            if job.started is None:
                job.started = time.time()
            if word == "COMPLETED":
                self._finish(job, "completed", "job completed", 0)
            elif word == "CANCELLED":
                self._finish(job, "canceled", "job canceled", None)
            elif word in ("TIMEOUT", "DEADLINE"):
                self._finish(job, "failed", "walltime exceeded; job killed by Slurm", None)
                job.reason = "walltime"
            else:
                self._finish(job, "failed", f"job ended {word} with exit code {exit_code}", exit_code)


_LIVE_WORDS = frozenset(
    {"PENDING", "CONFIGURING", "REQUEUED", "RUNNING", "COMPLETING", "SUSPENDED", "RESIZING"}
)
"""squeue's words for a job that has not ended."""


def make_scheduler(kind: str, queue_delay: float, kill_grace: float = 1.0) -> LocalScheduler:
    """The scheduler named by ``EmulatorConfig.scheduler``: ``local`` processes or ``slurm``."""
    if kind == "slurm":
        return SlurmScheduler(queue_delay, kill_grace)
    if kind != "local":
        raise ValueError(f"unknown scheduler {kind!r} (use 'local' or 'slurm')")
    return LocalScheduler(queue_delay, kill_grace)

"""The backend of the NERSC Superfacility API v1.2 (Perlmutter and the data transfer nodes).

``base_url`` is the API root with its version (``https://api.nersc.gov/api/v1.2``); resources
are the API's machine names (``perlmutter``, ``dtns``), which serve as ids too. Requests are
built in :mod:`.requests`, answers read in :mod:`.parsers`, tasks followed in :mod:`.tasks`,
scripts rendered in :mod:`.script`, and the file operations live in :mod:`.files`.

How the API's ways are handled (see ``specs/FINDINGS.md`` §2):

* **Errors in 200s.** Domain errors come back as HTTP 200 with ``{"status": "ERROR", "error"}``
  (or a failed task); they are raised as :class:`APIError`, :class:`NotFoundError` when the
  message says so, or :class:`JobSubmissionError` for a refused submit.
* **Submit is a task.** ``POST /compute/jobs/{machine}`` answers a task id; the backend follows
  ``GET /tasks/{id}`` (``task_poll_interval``, at most ``task_timeout``) and reads ``jobid`` from
  the task's ``result``, a JSON *string*.
* **Never twice.** The script carries ``#SBATCH --comment=facility:tag=<tag>,...`` and exports
  ``FACILITY_SUBMIT_TAG``; the submit runs under the shared policy of
  :class:`~facility_common.backends.submit.SubmitGuard`, which looks for the tag in ``sacct``
  after an ambiguous failure before sending anything again. A failed submit task is a refusal;
  an accepted submit whose answer or task cannot be read is an unknown outcome (the job may
  exist), never a refusal. ``find_job_by_tag`` offers the same look-up to a caller with a new
  client. A job just submitted that neither squeue nor sacct shows is PENDING.
* **Job state.** ``squeue`` answers for live jobs, ``sacct`` for finished ones (a job leaves
  ``squeue`` when it ends); both with ``cached=false`` (the cached answer misses fresh jobs,
  sfapi_client #93) and batched with ``kwargs=jobid=1,2,3``.
* **Job output.** The API has no output call: the output file named in the job's comment (or
  Slurm's default ``slurm-<id>.out``) is read with ``/utilities/download``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from ...errors import APIError, FacilityError, NotFoundError
from ...http import ApiRequest
from ...models import Job, JobSpec, Outage, ResourceStatus
from ...options import BackendOptions
from ..submit import UnreadableAnswer, newest, tag_of
from .account import SFAPIAccount
from .files import SFAPIFiles
from .options import SFAPIOptions
from .parsers import (
    bad,
    check_ok,
    comment_tag,
    id_or_none,
    parse_jobs,
    parse_outages,
    parse_status,
    submitted_job,
)
from .requests import (
    build_cancel,
    build_job,
    build_jobs,
    build_outages,
    build_status,
    build_submit,
    build_submit_path,
    machine_name,
)
from .script import JobComment, render_script
from .tasks import TaskFollower, submit_task_id, task_error

__all__ = ["SFAPIBackend"]

FACILITY = "sfapi"


class SFAPIBackend(SFAPIFiles, SFAPIAccount):
    """The NERSC Superfacility API v1.2.

    Options (:class:`SFAPIOptions`): ``task_timeout``/``task_poll_interval`` bound the wait for
    submit, cancel and command tasks; ``sbatch_whitespace`` says what to do with indented
    ``#SBATCH`` lines in a given script (``"fix"``, the default, or ``"refuse"``);
    ``submit_lookup_delays`` are the pauses before each search for a submit whose answer was
    lost. ``shell_file_operations=True`` opts in to mkdir, rm, mv, cp, chmod run as shell commands
    through the ``command`` utility and view/head/tail read through ``download`` (off by default:
    the API itself has no such calls). Label, capabilities and the hint of what the API offers
    instead come from the backend's descriptor in :mod:`facility_common.registry`. No network
    call happens before the first operation.
    """

    name: ClassVar[str] = "sfapi"
    Options: ClassVar[type[BackendOptions]] = SFAPIOptions
    options: SFAPIOptions

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        options: SFAPIOptions | None = None,
        **values: Any,
    ) -> None:
        super().__init__(base_url=base_url, auth=auth, options=options, **values)
        self._session = self.options.session(FACILITY, base_url, auth)
        self._tasks = TaskFollower(
            self._session, timeout=self.options.task_timeout, interval=self.options.task_poll_interval
        )
        self._guard = self.submit_guard()
        self.base_url = self._session.base_url

    def __repr__(self) -> str:
        return f"SFAPIBackend(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._session.aclose()

    def describe(self) -> dict[str, Any]:
        """Connection facts safe to show (no credentials)."""
        return {
            **super().describe(),
            "base_url": self.base_url,
            "shell_file_operations": self.options.shell_file_operations,
        }

    # -- status ---------------------------------------------------------------------------------

    async def resources(self) -> list[ResourceStatus]:
        """Every machine and service with its status.

        :calls: GET /status
        """
        data = await self._session.call(build_status())
        if not isinstance(data, list):
            raise bad("GET /status", "expected a list")
        return [parse_status(item) for item in data]

    async def resource(self, name_or_id: str) -> ResourceStatus:
        """One machine's status (its name is its id).

        :calls: GET /status/{name}
        """
        machine = machine_name(name_or_id)
        return parse_status(await self._session.call(build_status(machine), resource=machine))

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Current and planned outages, of one machine or all, overlapping ``start``..``end``.

        :calls: GET /status/outages[/{name}] and GET /status/outages/planned[/{name}]
        """
        machine = machine_name(resource) if resource is not None else None
        current = parse_outages(
            await self._session.call(build_outages(machine, False), resource=machine), False
        )
        planned = parse_outages(
            await self._session.call(build_outages(machine, True), resource=machine), True
        )
        found = current + [o for o in planned if o.id not in {c.id for c in current}]
        if start is None and end is None:
            return found
        window_start = start or datetime.min.replace(tzinfo=UTC)
        window_end = end or datetime.max.replace(tzinfo=UTC)
        return [o for o in found if o.overlaps(window_start, window_end)]

    # -- submit ---------------------------------------------------------------------------------

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        """Render ``spec`` (or check its script), submit it and follow the submit task.

        :calls: POST /compute/jobs/{machine}; GET /tasks/{id}; after a lost answer
            GET /compute/jobs/{machine}?sacct=true&cached=false
        """
        machine = machine_name(resource)
        tag = tag_of(spec, FACILITY)
        script, comment = render_script(spec, tag=tag, whitespace=self.options.sbatch_whitespace)
        return await self._submit(machine, build_submit(machine, script), comment)

    async def submit_path(self, resource: str, path: str, args: Sequence[str] = ()) -> Job:
        """Submit a batch script that already lies on the machine, with command line ``args``.

        Such a script cannot be tagged, so a submit whose outcome is unknown raises
        :class:`JobSubmissionError` instead of being sent again.

        :calls: POST /compute/jobs/{machine} (``isPath=true``); GET /tasks/{id}
        """
        machine = machine_name(resource)
        return await self._submit(machine, build_submit_path(machine, path, args), JobComment())

    async def _submit(self, machine: str, request: ApiRequest, comment: JobComment) -> Job:
        """``request`` sent under the submit policy; the job it created. A script the user gave
        with its own ``--comment`` carries no tag (``comment.tag`` None): it is never re-sent."""
        tag = comment.tag

        async def send() -> Job:
            data = await self._session.call(request, resource=machine)
            return await self._follow_submit(machine, data, comment)

        async def find(sent_at: float) -> Job | None:
            return None if tag is None else await self._tagged(machine, tag)

        return await self._guard.submit(resource=machine, tag=tag, send=send, find=find)

    async def _follow_submit(self, machine: str, data: Any, comment: JobComment) -> Job:
        """The job of an accepted submit: its task followed, the job id read from its result.

        The API's ``status: ERROR`` answer and a failed task say why the job was refused
        (:class:`JobSubmissionError`); an answer without a task id, a task that cannot be
        followed and a result without a job id leave the job possibly created
        (:class:`UnreadableAnswer`, which the guard resolves by the tag).

        :calls: GET /tasks/{id}
        """
        what = f"submit to {machine}"
        try:
            task_id = submit_task_id(data, what, machine)
        except APIError as exc:
            raise self._guard.refused(machine, exc) from None
        if task_id is None:
            raise UnreadableAnswer("the answer has no task_id")
        try:
            status, result = await self._tasks.outcome(task_id, what, machine)
        except FacilityError as exc:
            raise UnreadableAnswer(f"following its task {task_id} failed: {exc.message}") from None
        error = task_error(task_id, status, result, what, machine)
        if error is not None:
            raise self._guard.refused(machine, error)
        job_id = id_or_none(result.get("jobid"))
        if job_id is None:
            raise UnreadableAnswer(f"the result of task {task_id} has no job id")
        return submitted_job(machine, job_id, comment)

    async def _tagged(self, machine: str, tag: str) -> Job | None:
        """The newest job sacct reports whose comment carries ``tag``.

        :calls: GET /compute/jobs/{machine}?sacct=true&cached=false
        """
        jobs = parse_jobs(
            await self._session.call(build_jobs(machine, None, sacct=True), resource=machine),
            machine,
            "sacct",
        )
        return newest(job for job in jobs if comment_tag(job) == tag)

    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The newest job, live or finished, whose ``--comment`` carries ``tag``.

        :calls: GET /compute/jobs/{machine}?sacct=true&cached=false
        """
        return await self._tagged(machine_name(resource), tag)

    # -- jobs -----------------------------------------------------------------------------------

    async def get_job(self, resource: str, job_id: str) -> Job:
        """One job: from squeue while it is live, from sacct once it has left the queue; PENDING for
        a job submitted here that neither shows yet.

        :calls: GET /compute/jobs/{machine}/{jobid}?sacct=false&cached=false, then ?sacct=true
        """
        machine = machine_name(resource)
        for sacct in (False, True):
            jobs = parse_jobs(
                await self._session.call(build_job(machine, job_id, sacct=sacct), resource=machine),
                machine,
                "sacct" if sacct else "squeue",
            )
            for job in jobs:
                if job.id == str(job_id):
                    return job
        pending = self._guard.memory.pending_view(machine, str(job_id))
        if pending is not None:
            return pending
        raise NotFoundError(
            f"job {job_id} is neither in squeue nor in sacct on {machine}",
            facility=FACILITY,
            resource=machine,
        )

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """The given jobs in two batched calls at most: squeue for live ones, then sacct for the
        rest; without ids, every job sacct knows of.

        :calls: GET /compute/jobs/{machine}?sacct=false&cached=false&kwargs=jobid=1,2,3, then
            ?sacct=true for ids squeue did not report
        """
        machine = machine_name(resource)
        if job_ids is None:
            return await self._listed(machine, None, sacct=True)
        wanted = [str(j) for j in dict.fromkeys(job_ids)]
        if not wanted:
            return []
        found = {job.id: job for job in await self._listed(machine, wanted, sacct=False) if job.id in wanted}
        missing = [j for j in wanted if j not in found]
        if missing:
            for job in await self._listed(machine, missing, sacct=True):
                if job.id in missing:
                    found[job.id] = job
        return [found[j] for j in wanted if j in found]

    async def _listed(self, machine: str, job_ids: Sequence[str] | None, *, sacct: bool) -> list[Job]:
        """:calls: GET /compute/jobs/{machine}?sacct=..&cached=false[&kwargs=jobid=...]"""
        data = await self._session.call(build_jobs(machine, job_ids, sacct=sacct), resource=machine)
        return parse_jobs(data, machine, "sacct" if sacct else "squeue")

    async def cancel(self, resource: str, job_id: str) -> None:
        """Cancel a job and wait for the cancel task.

        :calls: DELETE /compute/jobs/{machine}/{jobid}; GET /tasks/{id}
        """
        machine = machine_name(resource)
        data = await self._session.call(build_cancel(machine, job_id), resource=machine)
        body = check_ok(data, f"cancel job {job_id}", machine)
        task_id = body.get("task_id")
        if task_id:
            await self._tasks.result(str(task_id), f"cancel job {job_id}", machine)

    async def job_output(
        self, resource: str, job_id: str, stream: str = "stdout", tail: int | None = None
    ) -> str:
        """The job's stdout or stderr file, read with the download utility; its last ``tail``
        lines with ``tail`` run as a command, so only they travel and are held, however large the
        file (the download utility moves at most 5 MiB and holds all of it).

        :calls: the calls of :meth:`get_job`; GET /utilities/download/{machine}/{path}, or for a
            tail POST /utilities/command/{machine} (``tail -n N -- path``) and GET /tasks/{id}
        """
        machine = machine_name(resource)
        job = await self.get_job(machine, job_id)
        path = job.stdout_path if stream == "stdout" else job.stderr_path
        if not path:
            raise NotFoundError(
                f"job {job_id} on {machine} has no known {stream} file", facility=FACILITY, resource=machine
            )
        if tail is not None:
            return await self._tail_of(machine, path, ["-n", str(tail)])
        return (await self._download_bytes(machine, path)).decode("utf-8", "replace")

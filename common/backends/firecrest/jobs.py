"""Jobs on FirecREST v2: submit under the shared submit policy, look-up by tag, status, output.

A submit sends the rendered script (:mod:`.script`) once through
:class:`~facility_common.backends.submit.SubmitGuard`, which decides what a failure means; a 500
in which ``sbatch`` itself refused the job (an unknown partition, a bad directive) is read here as
the refusal it is (:func:`.verdicts.sbatch_refusal`), not as an unknown outcome. The look-up by tag
(``find``) lists the system's jobs and reads the metadata (the script) of those that could be the
one, newest first; metadata is asked once per job and kept, and so are its output paths, which
every :class:`~facility_common.models.Job` this module returns carries once known.

FirecREST cancels with ``scancel --verbose`` and answers 500 when it writes an error, which it
does for a job that has already ended: such a cancel succeeds here (the job is not running), and
one of a job Slurm does not know is :class:`~facility_common.errors.NotFoundError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ...errors import APIError, FacilityError, InvalidJobSpec, NotFoundError
from ...models import Job, JobSpec, JobState
from ..submit import UnreadableAnswer, outcome_unknown, tag_of
from .core import FACILITY, FirecrestCore
from .parsers import job_id_of, jobs_of, parse_job, parse_jobs
from .requests import build_cancel, build_get_job, build_list_jobs, build_submit
from .script import submit_body, tag_of_script
from .verdicts import ended_before_cancel, sbatch_refusal, unknown_to_scancel

__all__ = ["JobMethods"]


def _newest_first(job: Mapping[str, Any]) -> tuple[int, int, str]:
    """Sort key: numeric ids from the highest down, then the others (Slurm counts ids up)."""
    text = str(job.get("jobId", ""))
    return (0, -int(text), "") if text.isdigit() else (1, 0, text)


class JobMethods(FirecrestCore):
    """The job operations of :class:`~.backend.FirecrestBackend`."""

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        """Submit ``spec`` once; after an unknown outcome the job is looked for by its tag.

        :calls: POST /compute/{system}/jobs (after an unknown outcome GET /compute/{system}/jobs
            and GET /compute/{system}/jobs/{id}/metadata to look for the tag)
        """
        system = await self._system(resource)
        tag = tag_of(spec, FACILITY)
        directory = spec.directory or self.directory or await self._home(system)
        body = submit_body(spec, tag=tag, directory=directory, account=self.account, partition=self.partition)
        request = build_submit(system, body)
        # A given script may name the job itself (its directives win), so only a rendered
        # script's job is known by the spec's name.
        name = spec.name if spec.script is None else None

        async def send() -> Job:
            try:
                answer = await self._call(request, system)
            except APIError as exc:
                refusal = sbatch_refusal(exc.body) if exc.status_code == 500 else None
                if refusal is None:
                    raise
                raise self._guard.refused(
                    system, APIError(refusal, facility=FACILITY, resource=system)
                ) from None
            try:
                job_id = job_id_of(answer.get("jobId") if isinstance(answer, dict) else None)
            except APIError as exc:
                raise UnreadableAnswer(exc.message) from None
            return Job(
                id=job_id,
                resource=system,
                state=JobState.PENDING,
                name=spec.name,
                submitted_at=datetime.now(UTC),
                raw=dict(answer),
            )

        async def find(sent_at: float) -> Job | None:
            return await self._find_tagged(system, tag, name)

        return await self._guard.submit(resource=system, tag=tag, send=send, find=find)

    async def _find_tagged(self, system: str, tag: str, name: str | None) -> Job | None:
        """The newest job of ``system`` whose script carries ``tag`` (among those named ``name``
        when given), or None when none does.

        Raises :class:`FacilityError` when the jobs cannot be listed, and when no job matched
        but the metadata of some could not be read (the job may be one of those).
        """
        listed = jobs_of(await self._call(build_list_jobs(system), system))
        candidates = [j for j in listed if not name or j.get("name") in (name, None)]
        unread: FacilityError | None = None
        for job in sorted(candidates, key=_newest_first):
            try:
                job_id = job_id_of(job.get("jobId"))
                entry = await self._metadata(system, job_id)
            except FacilityError as exc:
                unread = exc
                continue
            if tag_of_script(entry.get("script")) == tag:
                return parse_job(job, system, scheduler=self._scheduler(system), outputs=entry)
        if unread is not None:
            raise APIError(
                f"the metadata of some jobs on {system} could not be read ({unread.message}), so "
                "the job may be among them",
                facility=FACILITY,
                resource=system,
                status_code=unread.status_code,
            )
        return None

    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The newest job of ``resource`` whose script carries ``tag`` (the
        ``# facility-submit-tag:`` line every submit here writes), or None.

        Reads the metadata of the listed jobs newest first until one matches; metadata already
        read is not asked again. Raises :class:`JobSubmissionError` with ``outcome_unknown``
        (and remembers the tag as in doubt) when the jobs could not be listed, or when no job
        matched but the metadata of some could not be read.

        :calls: GET /compute/{system}/jobs, GET /compute/{system}/jobs/{id}/metadata
        """
        system = await self._system(resource)
        try:
            return await self._find_tagged(system, tag, None)
        except FacilityError as exc:
            self._guard.memory.doubt(tag)
            raise outcome_unknown(
                facility=FACILITY,
                resource=system,
                tag=tag,
                reason=f"looking for the job failed: {exc.message}",
            ) from None

    async def get_job(self, resource: str, job_id: str) -> Job:
        """One job with its output paths; PENDING for a job submitted here that the system does
        not show yet.

        :calls: GET /compute/{system}/jobs/{job_id} (and once GET .../jobs/{job_id}/metadata)
        """
        system = await self._system(resource)
        job_id = str(job_id)
        try:
            jobs = jobs_of(await self._call(build_get_job(system, job_id), system))
            if not jobs:
                raise NotFoundError(f"job {job_id} not found", facility=FACILITY, resource=system)
        except NotFoundError:
            pending = self._guard.memory.pending_view(system, job_id)
            if pending is None:
                raise
            return pending
        outputs = await self._outputs(system, [job_id])
        return parse_job(jobs[0], system, scheduler=self._scheduler(system), outputs=outputs.get(job_id))

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """The system's jobs, or those of ``job_ids``. Asked for by id, a finished job carries
        its output paths (its metadata is read once, when first seen finished).

        :calls: GET /compute/{system}/jobs (and once per finished job asked for by id
            GET .../jobs/{id}/metadata)
        """
        system = await self._system(resource)
        listed = jobs_of(await self._call(build_list_jobs(system), system))
        wanted = {str(j) for j in job_ids} if job_ids is not None else None
        selected = [j for j in listed if wanted is None or str(j.get("jobId")) in wanted]
        known = {job_id: meta for (s, job_id), meta in self._metadata_cache.items() if s == system}
        jobs = parse_jobs(selected, system, scheduler=self._scheduler(system), outputs=known)
        if wanted is None:
            return jobs
        missing = [job.id for job in jobs if job.is_terminal and job.id not in known]
        if not missing:
            return jobs
        found = await self._outputs(system, missing)
        return [
            dataclasses.replace(
                job,
                stdout_path=found[job.id].get("standardOutput"),
                stderr_path=found[job.id].get("standardError"),
            )
            if job.id in found
            else job
            for job in jobs
        ]

    async def cancel(self, resource: str, job_id: str) -> None:
        """Cancel the job; a job that has already ended is left as it is, without an error.

        :calls: DELETE /compute/{system}/jobs/{job_id}
        """
        system = await self._system(resource)
        try:
            await self._session.send(build_cancel(system, str(job_id)), resource=system)
        except APIError as exc:
            if exc.status_code != 500:
                raise
            if ended_before_cancel(exc.body):
                return
            if unknown_to_scancel(exc.body):
                raise NotFoundError(
                    f"job {job_id} is not known to Slurm on {system}",
                    facility=FACILITY,
                    resource=system,
                    status_code=exc.status_code,
                ) from None
            raise

    async def job_output(
        self, resource: str, job_id: str, stream: str = "stdout", tail: int | None = None
    ) -> str:
        """The job's stdout or stderr (its last ``tail`` lines when given), from the paths its
        metadata names.

        :calls: GET /compute/{system}/jobs/{job_id}/metadata (once), then
            GET /filesystem/{system}/ops/view or GET /filesystem/{system}/ops/tail
        """
        if stream not in ("stdout", "stderr"):
            raise InvalidJobSpec(
                f"stream: must be 'stdout' or 'stderr', got {stream!r}", field="stream", facility=FACILITY
            )
        system = await self._system(resource)
        meta = await self._metadata(system, str(job_id))
        path = meta.get("standardOutput" if stream == "stdout" else "standardError")
        if not path:
            raise NotFoundError(f"job {job_id} reports no {stream} file", facility=FACILITY, resource=system)
        if tail is not None:
            return await self.tail(system, str(path), lines=tail)
        return await self.view(system, str(path))

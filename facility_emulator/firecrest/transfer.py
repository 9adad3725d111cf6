"""FirecREST ``/filesystem/{system}/transfer/*`` routes and the staging area they hand out.

On a real site these calls submit a data-mover job to the scheduler and, for upload and download,
hand out presigned S3 URLs. Here the jobs are real batch jobs on the shared scheduler and the
"S3" is the emulator itself, under :data:`STAGE_PREFIX`:

* ``transfer/upload`` answers ``partsUploadUrls`` (one per ``maxPartSize`` slice of ``fileSize``)
  and a ``completeUploadUrl``. Each part is ``PUT`` (streamed to disk, answered with an ``ETag``);
  the ``POST`` to the complete URL joins the parts; the transfer job, which waits for that, moves
  the file to its target and prints ``Multipart file upload successfully completed``.
* ``transfer/download`` submits a job that copies the file into the staging area; once it has
  finished, its ``downloadUrl`` streams the staged copy (and removes it afterwards).
* ``cp``, ``mv``, ``rm``, ``compress`` and ``extract`` are jobs running ``cp -r``, ``mv``,
  ``rm -rf`` and ``tar``, printing ``Files were successfully ...`` on success.

Staging URLs carry a random ``X-Amz-Signature`` and need no bearer token, like presigned URLs.
A system offers one transfer method (its ``dataTransfer.serviceType``); asking for another is
``400 Requested transfer method is not available.``, as on a real site. Streamer systems are
served by :mod:`facility_emulator.firecrest.streamer`.

In reference mode the jobs are named, run and report as the FirecREST v2 server's
(:mod:`.transfer_jobs`): they run in the user's directory and log there to
``.f7t_file_handling_job_<uuid>.log`` and ``.f7t_file_handling_job_error_<uuid>.log``; a failed
copy, move, removal, compression or extraction ends COMPLETED with exit code 0 and says so only in
its logs; and nothing is checked before the job is started (a missing source is the job's
failure, not a 404), except that paths stay inside the sandbox.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from facility_emulator.firecrest import transfer_jobs
from facility_emulator.firecrest.common import (
    APP_VERSION,
    PREFIX,
    STAGE_PREFIX,
    FirecrestError,
    SystemConfig,
    endpoint,
    field,
    is_reference,
    json_body,
    json_response,
    required_path,
    sandbox_path,
    system_of,
)
from facility_emulator.firecrest.compute import submit_script
from facility_emulator.firecrest.reference import remote_failure
from facility_emulator.firecrest.streamer import StreamerTransfers
from facility_emulator.firecrest.transfer_jobs import JobScript
from facility_emulator.sandbox import SandboxError
from facility_emulator.scheduler import JobRecord
from facility_emulator.state import EmulatorState

STAGING_DIR = ".firecrest-transfers"
UPLOAD_WAIT_SECONDS = 600
TRANSFER_TIME_LIMIT = "60"


@dataclass
class Stage:
    """One staging area: a directory in the user's home holding the job logs and the data."""

    id: str
    directory: Path
    signature: str
    parts: int = 0
    part_size: int = 0

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def marker(self) -> Path:
        return self.directory / "upload-complete"

    def part(self, number: int) -> Path:
        return self.directory / f"part-{number:05d}"


@dataclass(frozen=True)
class StartedJob:
    """A transfer job on the scheduler, where it runs and where it logs."""

    record: JobRecord
    directory: Path
    output_log: Path
    error_log: Path


class TransferRoutes:
    """The ``transfer`` routes and the staging-area routes."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._stages: dict[str, Stage] = {}
        self._lock = threading.Lock()
        self.streamer = StreamerTransfers(self)

    def routes(self) -> list[Route]:
        wrap = endpoint(self.state)
        open_ = endpoint(self.state, auth=False)
        p = f"{PREFIX}/filesystem/{{system_name}}/transfer"
        s = f"{STAGE_PREFIX}/{{stage_id}}"
        return [
            Route(f"{p}/upload", wrap(self.upload), methods=["POST"]),
            Route(f"{p}/download", wrap(self.download), methods=["POST"]),
            Route(f"{p}/cp", wrap(self.cp), methods=["POST"]),
            Route(f"{p}/mv", wrap(self.mv), methods=["POST"]),
            Route(f"{p}/rm", wrap(self.rm), methods=["DELETE"]),
            Route(f"{p}/compress", wrap(self.compress), methods=["POST"]),
            Route(f"{p}/extract", wrap(self.extract), methods=["POST"]),
            Route(f"{s}/parts/{{number:int}}", open_(self.put_part), methods=["PUT"]),
            Route(f"{s}/complete", open_(self.complete), methods=["POST"]),
            Route(f"{s}/object", open_(self.get_object), methods=["GET"]),
        ]

    # -- helpers -------------------------------------------------------------------------

    def new_stage(self) -> Stage:
        stage_id = secrets.token_hex(8)
        directory = self.state.sandbox.home / STAGING_DIR / stage_id
        directory.mkdir(parents=True)
        stage = Stage(stage_id, directory, secrets.token_urlsafe(16))
        with self._lock:
            self._stages[stage_id] = stage
        return stage

    def stage_of(self, request: Request) -> Stage:
        with self._lock:
            stage = self._stages.get(str(request.path_params["stage_id"]))
        given = request.query_params.get("X-Amz-Signature", "")
        if stage is None or not secrets.compare_digest(given, stage.signature):
            raise FirecrestError(403, "AccessDenied: the URL is not valid or has expired")
        return stage

    def url(self, request: Request, stage: Stage, tail: str) -> str:
        base = f"{request.url.scheme}://{request.url.netloc}"
        return f"{base}{STAGE_PREFIX}/{stage.id}/{tail}?X-Amz-Signature={stage.signature}"

    @property
    def reference(self) -> bool:
        return is_reference(self.state)

    def run_job(self, system: SystemConfig, stage: Stage, job: JobScript, body: dict[str, Any]) -> StartedJob:
        """Submit ``job``: in its stage's directory (spec mode) or, as the server does, in the
        user's directory with uniquely named hidden logs (reference mode)."""
        if self.reference:
            directory = self.state.sandbox.home
            unique = uuid.uuid4()
            output_log = directory / f".f7t_file_handling_job_{unique}.log"
            error_log = directory / f".f7t_file_handling_job_error_{unique}.log"
        else:
            directory, output_log, error_log = (
                stage.directory,
                stage.directory / "job.out",
                stage.directory / "job.err",
            )
        script = (
            "#!/bin/bash\n"
            f"#SBATCH --job-name={job.name}\n"
            f"#SBATCH --time={TRANSFER_TIME_LIMIT}\n"
            f"#SBATCH --output={output_log}\n"
            f"#SBATCH --error={error_log}\n"
            "set -e\n"
            f"{job.body}\n"
        )
        record = submit_script(
            self.state,
            system,
            script,
            workdir=directory,
            env={},
            details={"name": job.name, "account": field(body, "account"), "partition": "xfer"},
        )
        return StartedJob(record, directory, output_log, error_log)

    def transfer_job(self, system: SystemConfig, started: StartedJob) -> dict[str, Any]:
        return {
            "jobId": started.record.id,
            "system": system.name,
            "workingDirectory": str(started.directory),
            "logs": {"outputLog": str(started.output_log), "errorLog": str(started.error_log)},
        }

    @staticmethod
    def directives(body: dict[str, Any], system: SystemConfig) -> dict[str, Any]:
        directives = field(body, "transferDirectives") or {}
        if not isinstance(directives, dict):
            raise FirecrestError(422, "transferDirectives must be an object", "validation")
        method = field(directives, "transferMethod") or "s3"
        if method != system.transfer_service:
            raise FirecrestError(400, "Requested transfer method is not available.")
        return directives

    # -- upload / download ---------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        system = system_of(request)
        body = await json_body(request)
        directives = self.directives(body, system)
        if system.transfer_service == "streamer":
            return self.streamer.upload(request, system, body)
        raw_target = str(field(body, "sourcePath", "path", required=True))
        target = sandbox_path(self.state, raw_target)
        if not target.parent.is_dir():
            raise FirecrestError(404, f"{target.parent}: No such file or directory")
        size = field(directives, "fileSize")
        try:
            size = int(size)
        except (TypeError, ValueError) as exc:
            raise FirecrestError(422, "transferDirectives.fileSize is required", "validation") from exc
        stage = self.new_stage()
        stage.part_size = system.max_part_size
        stage.parts = max(1, math.ceil(size / stage.part_size))
        job = transfer_jobs.staged_upload(
            stage.marker, stage.data, target, UPLOAD_WAIT_SECONDS, reference=self.reference
        )
        started = self.run_job(system, stage, job, body)
        return json_response(
            {
                "transferJob": self.transfer_job(system, started),
                "transferDirectives": {
                    "transferMethod": "s3",
                    "partsUploadUrls": [
                        self.url(request, stage, f"parts/{n}") for n in range(1, stage.parts + 1)
                    ],
                    "completeUploadUrl": self.url(request, stage, "complete"),
                    "maxPartSize": stage.part_size,
                },
            },
            201,
        )

    async def download(self, request: Request) -> Response:
        system = system_of(request)
        body = await json_body(request)
        self.directives(body, system)
        if system.transfer_service == "streamer":
            return self.streamer.download(request, system, body)
        raw_source = str(field(body, "sourcePath", "path", required=True))
        source = sandbox_path(self.state, raw_source)
        if not source.exists():
            real = remote_failure(1, f"stat: cannot statx '{raw_source}': No such file or directory")
            raise FirecrestError(404, f"{raw_source}: No such file or directory", reference=real)
        if source.is_dir():
            raise FirecrestError(400, f"{raw_source}: Is a directory")
        stage = self.new_stage()
        job = transfer_jobs.staged_download(
            source, stage.directory / "data.partial", stage.data, reference=self.reference
        )
        started = self.run_job(system, stage, job, body)
        return json_response(
            {
                "transferJob": self.transfer_job(system, started),
                "transferDirectives": {
                    "transferMethod": "s3",
                    "downloadUrl": self.url(request, stage, "object"),
                },
            },
            201,
        )

    # -- the staging area ----------------------------------------------------------------

    async def put_part(self, request: Request) -> Response:
        stage = self.stage_of(request)
        number = int(request.path_params["number"])
        if not 1 <= number <= stage.parts:
            raise FirecrestError(400, f"InvalidPart: part {number} is not one of 1..{stage.parts}")
        digest = hashlib.md5(usedforsecurity=False)
        written = 0
        target = stage.part(number)
        async with await anyio.open_file(target, "wb") as handle:
            async for chunk in request.stream():
                written += len(chunk)
                if written > stage.part_size:
                    raise FirecrestError(
                        400, f"EntityTooLarge: a part may hold at most {stage.part_size} bytes"
                    )
                digest.update(chunk)
                await handle.write(chunk)
        return Response(status_code=200, headers={"ETag": f'"{digest.hexdigest()}"'})

    def _join(self, stage: Stage) -> None:
        partial = stage.directory / "data.partial"
        with open(partial, "wb") as out:
            for number in range(1, stage.parts + 1):
                with open(stage.part(number), "rb") as part:
                    shutil.copyfileobj(part, out, 1024 * 1024)
        partial.replace(stage.data)
        for number in range(1, stage.parts + 1):
            stage.part(number).unlink(missing_ok=True)
        stage.marker.touch()

    async def complete(self, request: Request) -> Response:
        stage = self.stage_of(request)
        await request.body()
        missing = [n for n in range(1, stage.parts + 1) if not stage.part(n).exists()]
        if missing:
            raise FirecrestError(400, f"InvalidPart: parts {missing} were not uploaded")
        await anyio.to_thread.run_sync(self._join, stage)
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult>'
            f"<Key>{stage.id}</Key></CompleteMultipartUploadResult>"
        )
        return Response(xml, status_code=200, media_type="application/xml")

    async def get_object(self, request: Request) -> Response:
        stage = self.stage_of(request)
        if not stage.data.exists():
            raise FirecrestError(404, "NoSuchKey: the object is not staged (yet)")

        def cleanup() -> None:
            with self._lock:
                self._stages.pop(stage.id, None)
            shutil.rmtree(stage.directory, ignore_errors=True)

        return FileResponse(
            stage.data,
            media_type="application/octet-stream",
            headers={"F7T-AppVersion": APP_VERSION},
            background=BackgroundTask(cleanup),
        )

    # -- server-side jobs ----------------------------------------------------------------

    async def _simple_job(
        self, request: Request, job: JobScript, body: dict[str, Any], *, status: int = 201
    ) -> Response:
        system = system_of(request)
        stage = self.new_stage()
        started = self.run_job(system, stage, job, body)
        return json_response({"transferJob": self.transfer_job(system, started)}, status)

    def _pair(self, body: dict[str, Any], *, follow_target: bool = False) -> tuple[Path, Path]:
        """Source and target of a server-side job, both checked against the sandbox (403).

        A target that is a link to outside is refused (the job would write through it), and so
        is a source tree holding such links when the job dereferences them (``cp -L``, ``tar -h``).
        A missing source is 404, except in reference mode, where the job fails instead.
        """
        source = sandbox_path(self.state, str(field(body, "sourcePath", "path", required=True)), follow=False)
        raw_target = str(field(body, "targetPath", required=True))
        target = sandbox_path(self.state, raw_target, follow=follow_target)
        try:
            if not follow_target:
                target = self.state.sandbox.destination(target)
            if field(body, "dereference"):
                self.state.sandbox.check_tree(source)
        except SandboxError as exc:
            raise FirecrestError(403, str(exc)) from exc
        if not (source.exists() or source.is_symlink()) and not self.reference:
            raise FirecrestError(404, f"{source}: No such file or directory")
        return source, target

    async def cp(self, request: Request) -> Response:
        body = await json_body(request)
        source, target = self._pair(body)
        job = transfer_jobs.copy(
            source, target, dereference=bool(field(body, "dereference")), reference=self.reference
        )
        return await self._simple_job(request, job, body)

    async def mv(self, request: Request) -> Response:
        body = await json_body(request)
        source, target = self._pair(body)
        return await self._simple_job(
            request, transfer_jobs.move(source, target, reference=self.reference), body
        )

    async def rm(self, request: Request) -> Response:
        raw = required_path(request)
        path = sandbox_path(self.state, raw, follow=False)
        if path in (self.state.sandbox.root, self.state.sandbox.home):
            raise FirecrestError(403, "refusing to remove the home directory")
        if not (path.exists() or path.is_symlink()) and not self.reference:
            raise FirecrestError(404, f"{raw}: No such file or directory")
        body = {"account": request.query_params.get("account")}
        return await self._simple_job(
            request, transfer_jobs.remove(path, reference=self.reference), body, status=200
        )

    async def compress(self, request: Request) -> Response:
        body = await json_body(request)
        source, target = self._pair(body)
        job = transfer_jobs.compress(
            source,
            target,
            str(field(body, "compression") or "gzip"),
            dereference=bool(field(body, "dereference")),
            reference=self.reference,
        )
        return await self._simple_job(request, job, body)

    async def extract(self, request: Request) -> Response:
        body = await json_body(request)
        source, target = self._pair(body, follow_target=True)
        job = transfer_jobs.extract(
            source, target, str(field(body, "compression") or "gzip"), reference=self.reference
        )
        return await self._simple_job(request, job, body)

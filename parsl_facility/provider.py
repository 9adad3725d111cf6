"""``FacilityProvider``: Parsl blocks as pilot jobs submitted through a facility's REST API.

Parsl's executors ask a provider for blocks (``submit``), watch them (``status``) and release
them (``cancel``). This provider does all three through :class:`facility_common.FacilityClient`,
so one provider block serves every API in the backend registry (``facility`` names it).

How Parsl drives it, and what follows from that:

* ``status`` is called with every block id the executor ever launched, every
  ``status_polling_interval`` seconds: ids known to be terminal are answered from memory and the
  rest are asked about in one batched request through the client's shared ``StatusPoller``.
* A block that is only briefly invisible after submit is PENDING; a failed status round keeps each
  block's last known state. Never turning a blip into FAILED or a vanished block keeps Parsl from
  shutting the executor down or asking for a flood of new blocks (Parsl issues #1588, #2851).
* Walltime expiry and preemption are TIMEOUT, so Parsl replaces the block.
* When a block FAILS, the tails of its stdout/stderr are copied into ``script_dir`` (once) and the
  ``JobStatus`` points at them, so Parsl's error report says why; a worker command that was not
  found (exit 127) is named as such, with what ``worker_init`` must do (:mod:`.diagnosis`).
* Parsl starts ``interchange.py`` through ``PATH`` right after it sets ``script_dir``; when this
  process cannot find it, the provider warns then, saying which environment to activate, before
  Parsl fails with a bare ``FileNotFoundError``.
* Every block carries a submit tag (``FACILITY_SUBMIT_TAG``) made from the provider instance and
  the block's job name. When a backend cannot tell whether a submit created the job (the answer
  was lost while the server may still have been at work), ``submit`` sends the same spec again
  with the same tag, which makes the backend look for the job before sending anything: a block
  is never started twice, nor given up while it may exist.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from parsl.jobs.states import JobState as ParslState
from parsl.jobs.states import JobStatus
from parsl.launchers import SingleNodeLauncher
from parsl.launchers.base import Launcher
from parsl.providers.base import ExecutionProvider
from parsl.providers.errors import SubmitException
from parsl.utils import RepresentationMixin

from facility_common import (
    SUBMIT_TAG_VARIABLE,
    FacilityClient,
    FacilityError,
    Job,
    JobSpec,
    JobSubmissionError,
    available_backends,
)

from .diagnosis import failure_message, local_commands_advice, missing_local_commands
from .output import fetch_output_tails
from .pilot import PilotSettings, build_job_spec, parse_walltime, render_script, safe_job_name
from .redaction import redact
from .states import to_parsl_state

__all__ = ["FacilityProvider"]

logger = logging.getLogger(__name__)

#: Seconds before each re-send of a submit whose outcome the backend could not know.
UNKNOWN_OUTCOME_RETRY_DELAYS = (1.0, 3.0, 9.0)


def _outcome_unknown(exc: FacilityError) -> bool:
    """Whether a submit failed without knowing if the job was created; sending the same tagged
    spec again then makes the backend look for the job before sending anything."""
    return isinstance(exc, JobSubmissionError) and exc.outcome_unknown


@dataclass
class _Block:
    """What the provider remembers of one pilot job."""

    job_name: str
    state: ParslState = ParslState.PENDING
    message: str | None = None
    exit_code: int | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    output_fetched: bool = False

    def job_status(self) -> JobStatus:
        """A fresh JobStatus (HTEX rewrites the state of the objects it is given)."""
        return JobStatus(
            self.state,
            message=self.message,
            exit_code=self.exit_code,
            stdout_path=self.stdout_path,
            stderr_path=self.stderr_path,
        )


class FacilityProvider(ExecutionProvider, RepresentationMixin):
    """Run Parsl blocks as pilot jobs at an HPC facility, through its REST API.

    Args:
        facility: the API's backend name in the registry (``facility_common.available_backends()``);
            required unless ``client`` is given (then the client's).
        base_url: API root, e.g. ``https://api.alcf.anl.gov/api/v1``.
        resource: compute resource name or id (``"polaris"``).
        auth: a token string, a token source from :mod:`facility_common.auth`, an
            ``httpx.Auth``, or a mapping such as ``{"type": "oidc_client_credentials", ...}``.
            Kept out of ``repr`` and ``parsl.log``.
        client: a ready :class:`FacilityClient` to use instead of connection settings.
        client_options: extra options for :meth:`FacilityClient.connect` (``project``,
            ``retry``, ``verify``...).
        account, queue, reservation: scheduler attributes of every pilot.
        walltime: ``"HH:MM:SS"`` (or seconds, or a ``timedelta``).
        nodes_per_block, init_blocks, min_blocks, max_blocks, parallelism: Parsl's block sizing.
        worker_init: shell commands run before the workers start (``module load conda``...).
        launcher: wraps the worker command for the nodes of a block (``SingleNodeLauncher()``
            by default; ``MpiExecLauncher``/``SrunLauncher`` for multi-node blocks).
        cores_per_node, mem_per_node: requested per node and exported to the workers as
            ``PARSL_CORES``/``PARSL_MEMORY_GB`` (HTEX sizes its worker pool from them).
        exclusive: ask for exclusive nodes (None: the facility's default).
        workdir: remote working directory of the pilots (None: the facility's default, usually
            the home directory); pilot stdout/stderr land there.
        environment: extra environment variables of the pilots.
        custom_attributes: backend-specific scheduler attributes passed through.
        status_polling_interval: seconds between Parsl's ``status`` calls (one request each).
        output_tail_lines: lines of a failed pilot's stdout/stderr fetched for the error report.
        cmd_timeout: seconds allowed for one API request (the client's ``timeout``).
    """

    def __init__(
        self,
        facility: str | None = None,
        base_url: str | None = None,
        resource: str | None = None,
        auth: Any = None,
        client: FacilityClient | None = None,
        client_options: Mapping[str, Any] | None = None,
        account: str | None = None,
        queue: str | None = None,
        reservation: str | None = None,
        walltime: str | int | timedelta = "00:30:00",
        nodes_per_block: int = 1,
        init_blocks: int = 1,
        min_blocks: int = 0,
        max_blocks: int = 1,
        parallelism: float = 1.0,
        worker_init: str = "",
        launcher: Launcher | None = None,
        cores_per_node: int | None = None,
        mem_per_node: float | None = None,
        exclusive: bool | None = None,
        workdir: str | None = None,
        environment: Mapping[str, str] | None = None,
        custom_attributes: Mapping[str, str] | None = None,
        status_polling_interval: int = 30,
        output_tail_lines: int = 50,
        cmd_timeout: int = 30,
    ) -> None:
        if not resource:
            raise ValueError("resource: name the compute resource to run blocks on (e.g. 'polaris')")
        if client is None and not base_url:
            raise ValueError("base_url: give the facility API's URL, or a ready client=FacilityClient")
        if output_tail_lines <= 0:
            raise ValueError("output_tail_lines: must be a positive integer")
        if facility:
            self.facility: str = facility
        elif client is not None:
            self.facility = client.facility
        else:
            raise ValueError(
                f"facility: name the facility API (one of {', '.join(available_backends())}), "
                "or give a ready client=FacilityClient"
            )
        self.base_url = base_url
        self.resource: str = resource
        self.auth = auth
        self.client = client
        self.client_options = dict(client_options or {})
        self.account = account
        self.queue = queue
        self.reservation = reservation
        self.nodes_per_block = nodes_per_block
        self.init_blocks = init_blocks
        self.min_blocks = min_blocks
        self.max_blocks = max_blocks
        self.parallelism = parallelism
        self.worker_init = worker_init
        self.launcher = launcher if launcher is not None else SingleNodeLauncher()
        self.cores_per_node = cores_per_node
        self.mem_per_node = mem_per_node
        self.exclusive = exclusive
        self.workdir = workdir
        self.environment = dict(environment or {})
        self.custom_attributes = dict(custom_attributes or {})
        self._status_polling_interval = status_polling_interval
        self.output_tail_lines = output_tail_lines
        self.cmd_timeout = cmd_timeout

        self._script_dir: str | None = None
        self.resources: dict[object, Any] = {}  # job id -> _Block
        self._walltime = walltime
        self._settings = PilotSettings(
            walltime=parse_walltime(walltime),
            nodes_per_block=nodes_per_block,
            account=account,
            queue=queue,
            reservation=reservation,
            cores_per_node=cores_per_node,
            mem_per_node=mem_per_node,
            exclusive=exclusive,
            worker_init=worker_init,
            workdir=workdir,
            environment=self.environment,
            custom_attributes=self.custom_attributes,
        )
        self._lock = threading.RLock()
        self._fallback_dir: str | None = None
        self._tag_prefix = uuid.uuid4().hex[:12]

    @property
    def walltime(self) -> str | int | timedelta:
        """The walltime of the blocks submitted from now on, as given."""
        return self._walltime

    @walltime.setter
    def walltime(self, value: str | int | timedelta) -> None:
        """Change the walltime of later blocks (as Parsl's own providers read theirs at each
        submit); checked now, so a bad value fails here and not at the next scale-out."""
        self._settings = dataclasses.replace(self._settings, walltime=parse_walltime(value))
        self._walltime = value

    # -- what Parsl reads -------------------------------------------------------------------

    @property
    def label(self) -> str:
        """Provider label shown in Parsl's logs and monitoring."""
        return f"facility-{self.facility}"

    @property
    def status_polling_interval(self) -> int:
        """Seconds between Parsl's ``status`` calls; each costs one batched request."""
        return self._status_polling_interval

    @property
    def script_dir(self) -> str | None:
        """Parsl's ``<run_dir>/submit_scripts``: pilot scripts and failed pilots' output go there."""
        return self._script_dir

    @script_dir.setter
    def script_dir(self, value: str | None) -> None:
        # The DataFlowKernel sets this just before it starts the executor, which starts
        # interchange.py through PATH: the last moment to say why that would fail.
        self._script_dir = value
        missing = missing_local_commands() if value is not None else []
        if missing:
            warnings.warn(local_commands_advice(missing), RuntimeWarning, stacklevel=2)

    def __repr__(self) -> str:
        """Parsl's constructor-like repr, with credentials masked (HTEX logs it)."""
        shown = copy.copy(self)
        shown.auth = redact(self.auth)
        shown.client_options = redact(self.client_options)
        shown.environment = redact(self.environment)
        return RepresentationMixin.__repr__(shown)

    # -- the client, made on first use ---------------------------------------------------------

    def _facility_client(self) -> FacilityClient:
        with self._lock:
            if self.client is None:
                options = {"timeout": float(self.cmd_timeout), **self.client_options}
                assert self.base_url is not None  # checked in __init__
                self.client = FacilityClient.connect(
                    self.facility, base_url=self.base_url, auth=self.auth, **options
                )
            return self.client

    def _output_dir(self) -> Path:
        """Where failure output goes: Parsl's ``script_dir``, or a private temp dir without one."""
        if self.script_dir:
            return Path(self.script_dir)
        if self._fallback_dir is None:
            self._fallback_dir = tempfile.mkdtemp(prefix="parsl-facility-")
        return Path(self._fallback_dir)

    # -- the ExecutionProvider contract --------------------------------------------------------

    def submit(self, command: str, tasks_per_node: int, job_name: str = "parsl.facility") -> str:
        """Submit one block as a pilot job; returns the facility's job id.

        Raises :class:`parsl.providers.errors.SubmitException` with the facility's reason when the
        job is refused (resource down, bad account, invalid request).
        """
        wrapped = self.launcher(command, tasks_per_node, self.nodes_per_block)
        script = render_script(self._settings, job_name, wrapped)
        self._keep_script(job_name, script)
        try:
            spec = self._tagged(build_job_spec(self._settings, job_name, script), job_name)
            job = self._submit_once(spec, job_name)
        except FacilityError as exc:
            raise SubmitException(  # type: ignore[no-untyped-call]
                job_name,
                f"the {self.facility} API did not accept the pilot for resource {self.resource}: {exc}",
                retcode=exc.status_code,
            ) from None
        logger.info("submitted %s as job %s on %s", job_name, job.id, self.resource)
        with self._lock:
            self.resources[job.id] = _Block(job_name=job_name, message=job.message)
        return job.id

    def status(self, job_ids: Sequence[object]) -> list[JobStatus]:
        """One JobStatus per id, in order; one batched request for all non-terminal blocks."""
        ids = [str(job_id) for job_id in job_ids]
        with self._lock:
            blocks = {job_id: self._block(job_id) for job_id in ids}
        active = [job_id for job_id, block in blocks.items() if not block.job_status().terminal]
        if active:
            try:
                jobs = self._facility_client().poll_jobs(self.resource, active)
            except FacilityError as exc:
                logger.warning("status of %d blocks unavailable, keeping last states: %s", len(active), exc)
                jobs = []
            except Exception:
                # An exception here would abort Parsl's whole poll round (every executor's
                # scaling); keep the last states and say why in the log instead.
                logger.exception("status of %d blocks failed unexpectedly, keeping last states", len(active))
                jobs = []
            for job in jobs:
                self._update(blocks[job.id], job)
        return [blocks[job_id].job_status() for job_id in ids]

    def cancel(self, job_ids: Sequence[object]) -> list[bool]:
        """Cancel pilots through the API; True for each one cancelled (or already over)."""
        results: list[bool] = []
        client = self._facility_client()
        for raw_id in job_ids:
            job_id = str(raw_id)
            with self._lock:
                block = self._block(job_id)
            if block.job_status().terminal:
                results.append(True)
                continue
            try:
                client.cancel(self.resource, job_id)
            except FacilityError as exc:
                logger.warning("cancel of pilot %s on %s failed: %s", job_id, self.resource, exc)
                results.append(False)
                continue
            with self._lock:
                block.state, block.message = ParslState.CANCELLED, "cancelled by Parsl"
            results.append(True)
        return results

    # -- internals -----------------------------------------------------------------------------

    def _tagged(self, spec: JobSpec, job_name: str) -> JobSpec:
        """``spec`` with the block's submit tag: this provider instance and the block's name."""
        digest = hashlib.sha256(job_name.encode()).hexdigest()[:20]
        tag = f"parsl-{self._tag_prefix}-{digest}"
        return spec.replace(environment={**spec.environment, SUBMIT_TAG_VARIABLE: tag})

    def _submit_once(self, spec: JobSpec, job_name: str) -> Job:
        """Submit, re-sending the same tagged spec while the backend cannot know the outcome."""
        client = self._facility_client()
        for delay in UNKNOWN_OUTCOME_RETRY_DELAYS:
            try:
                return client.submit(self.resource, spec)
            except FacilityError as exc:
                if not _outcome_unknown(exc):
                    raise
                logger.warning("submit of %s: %s; asking again in %g s", job_name, exc.message, delay)
            time.sleep(delay)
        return client.submit(self.resource, spec)

    def _block(self, job_id: str) -> _Block:
        """The record of ``job_id`` (created for ids submitted by an earlier process)."""
        block = self.resources.get(job_id)
        if block is None:
            block = self.resources[job_id] = _Block(job_name=job_id)
        assert isinstance(block, _Block)
        return block

    def _update(self, block: _Block, job: Job) -> None:
        state = to_parsl_state(job.state)
        if state == ParslState.UNKNOWN and block.state != ParslState.UNKNOWN:
            # Not reported this round (API error, or dropped by the list call): keep what we knew.
            logger.debug("pilot %s not reported (%s); keeping %s", job.id, job.message, block.state.name)
            return
        with self._lock:
            block.state, block.message, block.exit_code = state, job.message, job.exit_code
        if state == ParslState.FAILED and not block.output_fetched:
            self._fetch_failure_output(block, job)

    def _fetch_failure_output(self, block: _Block, job: Job) -> None:
        """Copy the failed pilot's output tails into ``script_dir`` once."""
        block.output_fetched = True
        paths = fetch_output_tails(
            self._facility_client(),
            self.resource,
            job.id,
            self._output_dir(),
            safe_job_name(block.job_name),
            self.output_tail_lines,
        )
        stderr_tail = _read_text(paths["stderr"])
        with self._lock:
            block.stdout_path, block.stderr_path = paths["stdout"], paths["stderr"]
            block.message = failure_message(job.id, self.resource, job.message, job.exit_code, stderr_tail)

    def _keep_script(self, job_name: str, script: str) -> None:
        """Write the rendered pilot next to Parsl's other submit scripts, for the curious."""
        if not self.script_dir:
            return
        try:
            target = Path(self.script_dir) / f"{safe_job_name(job_name)}.sh"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(script, encoding="utf-8")
        except OSError as exc:
            logger.debug("could not keep the pilot script of %s: %s", job_name, exc)


def _read_text(path: str | None) -> str | None:
    """A fetched output tail, or None when there is none (or it cannot be read)."""
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None

"""Drive a ``FacilityProvider`` the way Parsl's scaling strategy does.

Parsl's ``JobStatusPoller`` thread submits blocks serially (``submit(command, tasks_per_node,
job_name)``), calls ``status`` with every job id the executor ever launched each polling interval,
and releases blocks with ``cancel``. One :class:`ProviderDriver` per backend does the same from its
own thread: it scales out a few blocks per round, polls all of them, cancels each sleeper once the
sleeper's run marker shows it started, and stops when every block is terminal or its deadline has
passed (the blocks still open then are hung).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from parsl.providers.errors import SubmitException

from parsl_facility import FacilityProvider

from .soak_ledger import LogicalJob, run_lines

logger = logging.getLogger(__name__)


class ProviderDriver(threading.Thread):
    """Runs the soak's Parsl jobs of one backend through one provider."""

    def __init__(
        self,
        provider: FacilityProvider,
        jobs: list[LogicalJob],
        marker_dir: Path,
        deadline: float,
        blocks_per_round: int = 5,
        round_seconds: float = 0.3,
    ) -> None:
        super().__init__(name=f"soak-parsl-{provider.label}", daemon=True)
        self.provider = provider
        self.jobs = jobs
        self.marker_dir = marker_dir
        self.deadline = deadline
        self.blocks_per_round = blocks_per_round
        self.round_seconds = round_seconds
        self.rounds = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._drive()
        except BaseException as exc:  # reported by the test, never swallowed
            self.error = exc

    def _drive(self) -> None:
        waiting = list(self.jobs)
        launched: dict[str, LogicalJob] = {}
        cancel_sent: set[str] = set()
        while time.monotonic() < self.deadline:
            self.rounds += 1
            for job in waiting[: self.blocks_per_round]:
                self._submit(job, launched)
            waiting = waiting[self.blocks_per_round :]
            ids = list(launched)
            statuses = self.provider.status(ids)
            open_blocks = 0
            for job_id, status in zip(ids, statuses, strict=True):
                job = launched[job_id]
                if status.terminal:
                    if job.outcome is None:
                        job.outcome = status.state.name.lower()
                        job.detail = status.message or ""
                    continue
                open_blocks += 1
                if (
                    job.sleeper
                    and job_id not in cancel_sent
                    and run_lines(self.marker_dir, job.key, "run") > 0
                ):
                    cancel_sent.add(job_id)
                    (done,) = self.provider.cancel([job_id])
                    if not done:
                        # Parsl tries again at its next scale-in; so does the driver.
                        cancel_sent.discard(job_id)
            if not waiting and not open_blocks:
                return
            time.sleep(self.round_seconds)
        for job in self.jobs:
            if job.outcome is None:
                job.outcome = "hung"

    def _submit(self, job: LogicalJob, launched: dict[str, LogicalJob]) -> None:
        command = job.command(str(self.marker_dir))
        try:
            job_id = self.provider.submit(command, 1, f"parsl.soak.{job.key}")
        except SubmitException as exc:
            # Parsl records a failed block and launches another; the audit counts it as lost.
            job.outcome, job.detail = "submit_failed", str(exc)
            logger.warning("soak block %s not submitted: %s", job.key, exc)
            return
        job.job_id = str(job_id)
        launched[job.job_id] = job

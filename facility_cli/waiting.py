"""``facility wait``, and the waiting that ``submit --wait`` shares with it.

On a terminal the wait shows one live line (spinner, state, elapsed time); otherwise it prints a
line per state change with the time elapsed. It ends with the job's state, exit code and the
facility's reason; exit 0 when the job completed, 8 when it did not, 7 once the facility has
shown (after the visibility grace) that it does not know the job, 9 after ``--timeout``.
"""

from __future__ import annotations

import sys
import time
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import ConnOption, IntervalOption, JsonOption, ResourceOption, TimeoutOption, wants_json
from .output import fmt_duration, note, out, print_json

if TYPE_CHECKING:
    from facility_common import Job

    from .session import Session

__all__ = ["GraceOption", "wait", "wait_for"]

JOB_FAILED = 8
GraceOption = Annotated[
    float,
    typer.Option(
        help="seconds a job may stay invisible before the wait ends with 'not found' (exit 7)", min=0.0
    ),
]


class _Progress:
    """Reports a wait's state changes: a live line on a terminal, plain lines otherwise."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.started = time.monotonic()
        self.state = "waiting"
        self.live = sys.stderr.isatty()
        self._spinner: Any = None

    def elapsed(self) -> str:
        return fmt_duration(time.monotonic() - self.started)

    def update(self, job: Job) -> None:
        from .jobview import native_suffix

        self.state = f"{job.state.value}{native_suffix(job)}"
        if not self.live:
            note(f"[{self.elapsed()}] job {self.job_id}: {self.state}")

    def __rich__(self) -> Any:
        self._spinner.update(text=f"job {self.job_id}: {self.state}  {self.elapsed()}")
        return self._spinner

    def showing(self) -> AbstractContextManager[Any]:
        """The live display while the wait runs (nothing when stderr is not a terminal)."""
        if not self.live:
            return nullcontext()
        from rich.console import Console
        from rich.live import Live
        from rich.spinner import Spinner

        self._spinner = Spinner("dots")
        return Live(self, console=Console(stderr=True), transient=True, refresh_per_second=4)


def wait_for(
    session: Session, resource: str, job_id: str, *, timeout: float | None, interval: float, grace: float
) -> Job:
    """Wait for the job with a progress display; the client's errors pass up to the session."""
    progress = _Progress(job_id)
    with progress.showing():
        return session.client.wait(
            resource, job_id, timeout=timeout, poll_interval=interval, on_update=progress.update, grace=grace
        )


def finish(job: Job) -> None:
    """Exit 0 when the job completed, 8 otherwise."""
    from facility_common import JobState

    if job.state is not JobState.COMPLETED:
        raise typer.Exit(JOB_FAILED)


def wait(
    job_id: Annotated[str, typer.Argument(help="the job id", metavar="JOB_ID")],
    resource: ResourceOption = None,
    timeout: TimeoutOption = None,
    interval: IntervalOption = 2.0,
    grace: GraceOption = 60.0,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Wait for a job to end, showing its state changes; exit 0 if it completed, 8 if not."""
    from .jobview import job_dict, job_line
    from .session import open_session

    with open_session(conn) as session:
        job = wait_for(
            session, session.resource(resource), job_id, timeout=timeout, interval=interval, grace=grace
        )
    if wants_json(as_json):
        print_json(job_dict(job))
    else:
        out(job_line(job))
    finish(job)

"""``facility jobs``, ``job``, ``cancel`` and ``output``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .options import ConnOption, IntervalOption, JsonOption, ResourceOption, wants_json
from .output import note, out, print_json

if TYPE_CHECKING:
    from facility_common import Job

    from .session import Session

__all__ = ["cancel", "job", "jobs", "output"]

JobArg = Annotated[str, typer.Argument(help="the job id", metavar="JOB_ID")]


def _states(values: list[str] | None) -> set[str]:
    """``--state`` values checked against the job states (any case)."""
    from facility_common import JobState

    known = {state.value for state in JobState}
    chosen = {value.strip().upper() for item in values or () for value in item.split(",") if value.strip()}
    unknown = sorted(chosen - known)
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(unknown)}: not a job state (one of {', '.join(sorted(known))})",
            param_hint="'--state'",
        )
    return chosen


def _newest_last(found: list[Job]) -> list[Job]:
    return sorted(found, key=lambda job: (job.submitted_at is not None, job.submitted_at or 0))


def jobs(
    resource: ResourceOption = None,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", "-s", help="only jobs in this state (repeat or comma-separate)"),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="only the N most recently submitted", min=1)] = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the jobs of a resource that the facility shows you, oldest first."""
    from .jobview import job_dict, print_jobs
    from .session import open_session

    wanted = _states(state)
    with open_session(conn) as session:
        chosen = session.resource(resource)
        found = _newest_last(session.client.list_jobs(chosen))
    if wanted:
        found = [j for j in found if j.state.value in wanted]
    if limit is not None:
        found = found[-limit:]
    if wants_json(as_json):
        print_json([job_dict(j) for j in found])
    elif not found:
        note(f"no jobs on {chosen}" + (f" in state {', '.join(sorted(wanted))}" if wanted else ""))
    else:
        print_jobs(found)


def job(
    job_id: JobArg,
    resource: ResourceOption = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one job: state, reason, exit code, times, output paths (--json: with the API's record)."""
    from .jobview import job_dict, print_job_detail
    from .session import open_session

    with open_session(conn) as session:
        found = session.client.get_job(session.resource(resource), job_id)
    if wants_json(as_json):
        print_json(job_dict(found, raw=True))
    else:
        print_job_detail(found)


def cancel(
    job_id: JobArg,
    resource: ResourceOption = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a job; a job that has already ended is not an error."""
    from facility_common import APIError, NotFoundError

    from .session import open_session

    ended: Job | None = None
    with open_session(conn) as session:
        chosen = session.resource(resource)
        try:
            session.client.cancel(chosen, job_id)
        except NotFoundError:
            raise
        except APIError:
            # Some APIs refuse to cancel a finished job (IRI answers 409): say it ended instead.
            current = session.client.get_job(chosen, job_id)
            if not current.is_terminal:
                raise
            ended = current
    if wants_json(as_json):
        print_json({"id": job_id, "cancelled": ended is None, "state": ended.state.value if ended else None})
    elif ended is not None:
        out(f"job {job_id} had already ended ({ended.state.value}); nothing to cancel")
    else:
        out(f"cancelled job {job_id}")


def _follow(session: Session, resource: str, job_id: str, stream: str, interval: float, *, echo: bool) -> str:
    """Print the stream line by line as the job writes it (when ``echo``) until the job ends;
    returns all of it. The API's output stream where it has one (Flux RESTful), else polling
    every ``interval`` seconds."""
    printed: list[str] = []
    for line in session.client.follow_output(resource, job_id, stream, poll_interval=interval):
        if echo:
            out(line, nl=False)
        printed.append(line)
    return "".join(printed)


def output(
    job_id: JobArg,
    resource: ResourceOption = None,
    stderr: Annotated[bool, typer.Option("--stderr", help="show stderr instead of stdout")] = False,
    tail: Annotated[int | None, typer.Option(help="only the last N lines", min=1)] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="keep printing what the job writes until it ends (the API's output stream where it has one)",
        ),
    ] = False,
    interval: IntervalOption = 2.0,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print what a job wrote to its stdout (or stderr)."""
    from .session import open_session

    stream = "stderr" if stderr else "stdout"
    with open_session(conn) as session:
        chosen = session.resource(resource)
        if follow:
            text = _follow(session, chosen, job_id, stream, interval, echo=not wants_json(as_json))
            if wants_json(as_json):
                print_json({"id": job_id, "stream": stream, "text": text})
            return
        text = session.client.job_output(chosen, job_id, stream, tail)
    if wants_json(as_json):
        print_json({"id": job_id, "stream": stream, "text": text})
    else:
        out(text, nl=not text.endswith("\n") and bool(text))

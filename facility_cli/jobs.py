"""``facility jobs``, ``submit``, ``wait``, ``cancel`` and ``output``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.spinner import Spinner

from facility_common import (
    FacilityClient,
    Job,
    JobAttributes,
    JobSpec,
    JobState,
    ResourceSpec,
    get_descriptor,
)

from .common import ConnOption, JsonOption, open_client, pick_resource
from .output import console, err, fmt_time, print_json, table
from .problems import EXIT

__all__ = ["cancel", "jobs", "output", "submit", "wait"]

ResourceArg = Annotated[str, typer.Argument(help="the resource (e.g. polaris)")]
JobArg = Annotated[str, typer.Argument(help="the job id")]


def _job_dict(job: Job) -> dict[str, object]:
    return job.to_dict() | {"raw": None}


def jobs(resource: ResourceArg, conn: ConnOption = None, as_json: JsonOption = False) -> None:
    """List the jobs of a resource that the facility shows you."""
    with open_client(conn) as (_, client):
        found = client.list_jobs(resource)
    if as_json:
        print_json([_job_dict(job) for job in found])
    elif not found:
        console.print(f"no jobs on {resource}")
    else:
        table(
            None,
            ["job", "name", "state", "exit", "submitted"],
            [(j.id, j.name, j.state.value, j.exit_code, fmt_time(j.submitted_at)) for j in found],
        )


def _spec(
    takes_script: bool,
    script: Path | None,
    command: list[str] | None,
    name: str | None,
    nodes: int | None,
    minutes: float | None,
    queue: str | None,
    account: str | None,
    directory: str | None,
) -> JobSpec:
    if command and command[0] == "--":
        command = command[1:]
    if (script is None) == (not command):
        raise typer.BadParameter("give a script file or a command after --, not both")
    attributes = JobAttributes(
        duration=timedelta(minutes=minutes) if minutes else None, queue_name=queue, account=account
    )
    common: dict[str, Any] = {"name": name, "directory": directory, "attributes": attributes}
    if nodes:
        common["resources"] = ResourceSpec(node_count=nodes)
    if script is not None:
        text = script.read_text()
        if takes_script:  # the API runs batch scripts; the others run it as /bin/bash -c SCRIPT
            return JobSpec(script=text, **common)
        return JobSpec(executable="/bin/bash", arguments=["-c", text], **common)
    assert command
    return JobSpec(executable=command[0], arguments=command[1:], **common)


def _finish(job: Job) -> None:
    """Exit 0 when the job completed, 8 otherwise."""
    if job.state is not JobState.COMPLETED:
        raise typer.Exit(EXIT.JOB_FAILED)


def _wait(client: FacilityClient, resource: str, job_id: str, timeout: float | None, interval: float) -> Job:
    """Wait with a live status line on stderr (a plain line per change when not a terminal)."""
    spinner = Spinner("dots", text=f"job {job_id}: waiting")
    with Live(spinner, console=err, transient=True, refresh_per_second=8):

        def update(job: Job) -> None:
            spinner.update(text=f"job {job_id}: {job.state.value} ({job.native_state})")
            if not err.is_terminal:
                err.print(f"job {job_id}: {job.state.value}", markup=False)

        return client.wait(resource, job_id, timeout=timeout, poll_interval=interval, on_update=update)


def _report(job: Job, as_json: bool) -> None:
    if as_json:
        print_json(_job_dict(job))
    else:
        exit_code = f" exit code {job.exit_code}" if job.exit_code is not None else ""
        console.print(f"job {job.id}: {job.state.value}{exit_code}", markup=False)


TimeoutOption = Annotated[float | None, typer.Option(help="give up after this many seconds (exit code 9)")]
IntervalOption = Annotated[float, typer.Option(help="seconds between status polls")]


def submit(
    resource: Annotated[str | None, typer.Argument(help="the resource (default: the connection's)")] = None,
    command: Annotated[list[str] | None, typer.Argument(help="after --: the command to run")] = None,
    script: Annotated[
        Path | None, typer.Option("--script", "-s", exists=True, dir_okay=False, help="a batch script file")
    ] = None,
    name: Annotated[str | None, typer.Option(help="job name")] = None,
    nodes: Annotated[int | None, typer.Option(help="node count")] = None,
    minutes: Annotated[float | None, typer.Option("--time", "-t", help="walltime in minutes")] = None,
    queue: Annotated[str | None, typer.Option(help="queue or partition")] = None,
    account: Annotated[str | None, typer.Option(help="project or account to charge")] = None,
    directory: Annotated[str | None, typer.Option(help="working directory at the facility")] = None,
    do_wait: Annotated[
        bool, typer.Option("--wait", help="wait for the job to end; exit 8 if it did not complete")
    ] = False,
    timeout: TimeoutOption = None,
    interval: IntervalOption = 2.0,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Submit a job from a script file (--script FILE) or a command (after --); prints the job id."""
    with open_client(conn) as (connection, client):
        chosen = pick_resource(connection, resource)
        takes_script = get_descriptor(connection.settings.backend).takes_script
        spec = _spec(takes_script, script, command, name, nodes, minutes, queue, account, directory)
        job = client.submit(chosen, spec)
        if not do_wait:
            if as_json:
                print_json(_job_dict(job))
            else:
                console.out(job.id)
            return
        err.print(f"submitted job {job.id}", markup=False)
        job = _wait(client, chosen, job.id, timeout, interval)
    _report(job, as_json)
    _finish(job)


def wait(
    resource: ResourceArg,
    job_id: JobArg,
    timeout: TimeoutOption = None,
    interval: IntervalOption = 2.0,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Wait for a job to end, with a live status line; exit 0 if it completed, 8 if not."""
    with open_client(conn) as (_, client):
        job = _wait(client, resource, job_id, timeout, interval)
    _report(job, as_json)
    _finish(job)


def cancel(resource: ResourceArg, job_id: JobArg, conn: ConnOption = None) -> None:
    """Cancel a job."""
    with open_client(conn) as (_, client):
        client.cancel(resource, job_id)
    console.print(f"cancelled job {job_id}", markup=False)


def output(
    resource: ResourceArg,
    job_id: JobArg,
    stderr: Annotated[bool, typer.Option("--stderr", help="show stderr instead of stdout")] = False,
    tail: Annotated[int | None, typer.Option(help="only the last N lines")] = None,
    conn: ConnOption = None,
) -> None:
    """Print what a job wrote to its stdout (or stderr)."""
    with open_client(conn) as (_, client):
        text = client.job_output(resource, job_id, "stderr" if stderr else "stdout", tail)
    console.out(text, end="" if text.endswith("\n") else "\n", highlight=False)

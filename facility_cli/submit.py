"""``facility submit``: a command (after ``--``) or a batch script, optionally waited for.

stdout gets the job id (``JOB=$(facility submit ...)``) or, with ``--json``, the job; progress,
the final state and its reason go to stderr. ``--dry-run`` prints what would be sent instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import ConnOption, IntervalOption, JsonOption, ResourceOption, TimeoutOption, wants_json
from .output import note, out, print_json
from .waiting import GraceOption, finish, wait_for

if TYPE_CHECKING:
    from facility_common import Job, JobSpec

    from .session import Session

__all__ = ["submit"]


def _dry_run(session: Session, resource: str, spec: JobSpec, as_json: bool) -> None:
    """Print the job as it would be submitted: the validated spec, and the API request when the
    backend can render one (a ``render_submit(resource, spec)`` method)."""
    rendered: Any = None
    render = getattr(session.client.backend, "render_submit", None)
    if callable(render):
        rendered = render(resource, spec)
    described = session.connection.describe()
    if as_json:
        print_json(
            {"connection": described, "resource": resource, "spec": spec.to_dict(), "request": rendered}
        )
        return
    note(f"dry run: nothing is sent ({described}, resource {resource})")
    if isinstance(rendered, str):
        out(rendered, nl=not rendered.endswith("\n"))
        return
    import json

    out(json.dumps(rendered if rendered is not None else spec.to_dict(), indent=2, default=str))


def _output_of(session: Session, resource: str, job_id: str) -> str | None:
    """The job's stdout, or None (with a note) where the API cannot show it."""
    from facility_common import UnsupportedOperation

    try:
        return session.client.job_output(resource, job_id)
    except UnsupportedOperation as exc:
        note(f"cannot show the output: {exc.message}")
        return None


def _tagged(session: Session, resource: str, tag: str) -> Job | None:
    """The job an earlier submit with ``tag`` created, if the facility shows one: a script that
    runs ``facility submit --tag T`` again after a failure gets that job, not a second one."""
    from facility_common import UnsupportedOperation

    try:
        found = session.client.find_job_by_tag(resource, tag)
    except UnsupportedOperation:
        return None
    if found is not None:
        note(f"job {found.id} already carries tag {tag}: not submitted again")
    return found


def submit(
    command: Annotated[
        list[str] | None, typer.Argument(help="after --: the command to run", metavar="COMMAND")
    ] = None,
    resource: ResourceOption = None,
    script: Annotated[
        Path | None,
        typer.Option("--script", "-s", exists=True, dir_okay=False, help="a batch script file to run"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="job name (default: the script's file name)")] = None,
    nodes: Annotated[int | None, typer.Option("--nodes", "-N", help="node count", min=1)] = None,
    walltime: Annotated[
        str | None,
        typer.Option("--time", "-t", help="walltime: minutes (90), 90m, 2h, 1h30m, HH:MM:SS or D-HH:MM:SS"),
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="queue or partition")] = None,
    account: Annotated[
        str | None, typer.Option("--account", "-A", help="project or account to charge")
    ] = None,
    reservation: Annotated[str | None, typer.Option(help="reservation to run in")] = None,
    directory: Annotated[str | None, typer.Option("--directory", "-d", help="working directory")] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="NAME=VALUE in the job's environment (repeat)")
    ] = None,
    stdout: Annotated[str | None, typer.Option(help="path of the job's stdout at the facility")] = None,
    stderr: Annotated[str | None, typer.Option(help="path of the job's stderr at the facility")] = None,
    stdin: Annotated[str | None, typer.Option(help="path of the job's stdin at the facility")] = None,
    attr: Annotated[
        list[str] | None,
        typer.Option("--attr", help="NAME=VALUE custom attribute of the API (e.g. filesystems=home:eagle)"),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option(
            help="submit tag: when a job with this tag exists, print it instead of submitting again"
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would be sent; send nothing")
    ] = False,
    do_wait: Annotated[
        bool, typer.Option("--wait", "-w", help="wait for the job to end; exit 8 if it did not complete")
    ] = False,
    show_output: Annotated[
        bool, typer.Option("--output", "-o", help="with --wait: print the job's stdout when it ends")
    ] = False,
    timeout: TimeoutOption = None,
    interval: IntervalOption = 2.0,
    grace: GraceOption = 60.0,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Submit a job: a command after -- or a batch script (--script FILE); prints the job id."""
    from facility_common import get_descriptor

    from .jobspec import SubmitRequest, build_spec, parse_assignments, parse_walltime
    from .jobview import job_dict, job_line
    from .session import open_session

    if show_output and not do_wait:
        raise typer.BadParameter("--output needs --wait (the output is printed when the job ends)")
    request = SubmitRequest(
        command=command,
        script=script,
        name=name,
        nodes=nodes,
        walltime=walltime,
        queue=queue,
        account=account,
        reservation=reservation,
        directory=directory,
        environment=parse_assignments(env, "--env"),
        stdout=stdout,
        stderr=stderr,
        stdin=stdin,
        attributes=parse_assignments(attr, "--attr"),
        tag=tag,
    )
    request.check_what_to_run()
    if walltime is not None:
        parse_walltime(walltime)
    json_out = wants_json(as_json)
    with open_session(conn) as session:
        chosen = session.resource(resource)
        spec = build_spec(request, takes_script=get_descriptor(session.api).takes_script)
        if dry_run:
            _dry_run(session, chosen, spec, json_out)
            return
        job = _tagged(session, chosen, tag) if tag is not None else None
        if job is None:
            job = session.client.submit(chosen, spec)
        if not do_wait:
            if json_out:
                print_json(job_dict(job))
            else:
                out(job.id)
            return
        if not json_out:
            out(job.id)
        note(f"submitted job {job.id} to {chosen}; waiting")
        job = wait_for(session, chosen, job.id, timeout=timeout, interval=interval, grace=grace)
        text = _output_of(session, chosen, job.id) if show_output else None
    note(job_line(job))
    if json_out:
        print_json(job_dict(job) | ({"output": text} if text is not None else {}))
    elif text is not None:
        out(text, nl=bool(text) and not text.endswith("\n"))
    finish(job)

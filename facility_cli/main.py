"""Entry point of the ``facility`` command: one Typer app, commands from small modules."""

from __future__ import annotations

import typer

from . import emulate, files, jobs, status, transfers

app = typer.Typer(
    help="Talk to HPC facility APIs from a terminal: status, jobs and files. "
    "Exit codes: 0 ok, 1 facility error, 2 configuration or usage, 3 host unreachable, "
    "4 bad credentials, 5 expired credentials, 6 resource down, 7 not found, 8 job did not "
    "complete, 9 timed out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command()(status.status)
app.command()(status.outages)
app.command()(status.check)
app.command()(jobs.jobs)
app.command()(jobs.submit)
app.command()(jobs.wait)
app.command()(jobs.cancel)
app.command()(jobs.output)
app.command()(files.ls)
app.command()(files.get)
app.command()(files.put)
app.command()(transfers.transfer)
app.command()(transfers.transfers)
app.command()(emulate.emulate)

if __name__ == "__main__":
    app()

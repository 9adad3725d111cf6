"""The ``facility`` command: status, jobs and files of HPC facility APIs from a terminal.

Start-up matters for a command run many times a day: command modules import only ``typer`` and
the standard library at module level, and each command imports the client layer when it runs,
so ``facility --help`` never loads ``httpx`` or ``rich`` (``bench/cli_startup.py`` measures it).
"""

from __future__ import annotations

import sys

if "httpx" not in sys.modules:
    # httpx imports its own command-line tool (click, rich, pygments) whenever those are
    # installed, as they are beside this command: about a third of the client's import time,
    # for a tool this process never runs. Marking the module absent makes httpx skip it.
    sys.modules["httpx._main"] = None  # type: ignore[assignment]

from collections.abc import Callable
from typing import Annotated

import typer

from . import allocations, check, files, identity, jobs, status, submit, transfer, transfers, waiting
from .configfile import config_app
from .emulate import EMULATE_SETTINGS, emulate
from .options import GlobalOptions, set_globals
from .streaming import streaming_app
from .token import token_app

__all__ = ["COMMANDS", "app", "main"]

HELP = (
    "Talk to HPC facility APIs from a terminal: status, jobs and files.\n\n"
    "The connection comes from --conn, FACILITY_CONN, FACILITY_URL and FACILITY_API, or the config "
    "file (facility config list); the resource from --resource (-r) or the connection's.\n\n"
    "Exit codes: 0 ok, 1 facility error, 2 configuration or usage (or a URL that does not serve "
    "the API), 3 host unreachable or TLS failed, 4 bad credentials, 5 expired credentials, "
    "6 resource down, 7 not found, 8 job did not complete, 9 timed out, 10 allocation below "
    "--min-remaining, 130 interrupted."
)

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("hpc-facility-providers")
        except PackageNotFoundError:
            found = "unknown (not installed)"
        typer.echo(f"facility {found}")
        raise typer.Exit()


@app.callback()
def _global_options(
    conn: Annotated[
        str | None,
        typer.Option(
            "--conn",
            "-c",
            help="connection for the command (a config-file name, an Airflow URI or JSON)",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (any command)")] = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    set_globals(GlobalOptions(conn=conn, json=as_json))


#: The commands in the order ``facility --help`` lists them: status, jobs, files, setup.
COMMANDS: list[Callable[..., None]] = [
    status.status,
    status.outages,
    status.events,
    check.check,
    identity.whoami,
    allocations.allocations,
    identity.login,
    jobs.jobs,
    jobs.job,
    submit.submit,
    waiting.wait,
    jobs.cancel,
    jobs.output,
    files.ls,
    files.stat,
    files.cat,
    files.head,
    files.tail,
    transfer.get,
    transfer.put,
    transfers.transfer,
    transfers.transfers,
    files.mkdir,
    files.rm,
    files.mv,
    files.cp,
    files.chmod,
]
for _command in COMMANDS:
    app.command()(_command)
app.add_typer(streaming_app, name="streaming")
app.add_typer(token_app, name="token")
app.add_typer(config_app, name="config")
app.command(context_settings=EMULATE_SETTINGS, add_help_option=False)(emulate)


def main() -> None:
    """Run the command (``python -m facility_cli``)."""
    app(prog_name="facility")

"""Options every command shares, and the global ones given before the command name.

``facility --conn NAME --json jobs`` and ``facility jobs --conn NAME --json`` mean the same: the
command's own option wins when both are given. This module imports nothing heavy, so that the
command's start-up (``facility --help``) stays fast; see ``bench/cli_startup.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

__all__ = [
    "ConnOption",
    "GlobalOptions",
    "IntervalOption",
    "JsonOption",
    "ResourceOption",
    "TimeoutOption",
    "chosen_conn",
    "set_globals",
    "wants_json",
]


@dataclasses.dataclass(frozen=True)
class GlobalOptions:
    """What was given before the command name."""

    conn: str | None = None
    json: bool = False


#: The global options of the command line being run; the root callback sets them on every run,
#: before the command itself starts.
current = GlobalOptions()


def set_globals(options: GlobalOptions) -> None:
    """Record the global options of this run (called by the root callback)."""
    global current
    current = options


def chosen_conn(conn: str | None) -> str | None:
    """The command's ``--conn``, else the global one."""
    return conn or current.conn


def wants_json(as_json: bool) -> bool:
    """The command's ``--json``, or the global one."""
    return as_json or current.json


ConnOption = Annotated[
    str | None,
    typer.Option(
        "--conn",
        "-c",
        help="connection: a name in the config file, an Airflow URI (facility-iri://...) or Airflow "
        "JSON; default: FACILITY_CONN, FACILITY_URL/FACILITY_API, or the config file's default",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
ResourceOption = Annotated[
    str | None,
    typer.Option(
        "--resource",
        "-r",
        help="the resource (e.g. polaris); default: the connection's (FACILITY_RESOURCE, resource = ...)",
        show_default=False,
    ),
]
TimeoutOption = Annotated[
    float | None, typer.Option(help="give up after this many seconds (exit code 9)", min=0.0)
]
IntervalOption = Annotated[float, typer.Option(help="seconds between status polls", min=0.01)]

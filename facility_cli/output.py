"""Printing: rich tables for people, JSON for scripts, and errors on stderr.

Nothing printed here comes from a credential: commands print models (jobs, resources, files)
and the error texts of the client layer, which never contain a secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from facility_common import FacilityError

from .connection import Connection
from .problems import diagnose

__all__ = ["console", "err", "fail", "fmt_time", "print_json", "reported", "table"]

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fmt_time(value: datetime | None) -> str:
    """A timestamp for a table cell (UTC, to the second), or an empty cell."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print one table."""
    grid = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(grid)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on one line (``--json``)."""
    console.out(json.dumps(data, default=str), highlight=False)


def fail(code: int, title: str, detail: str = "", hint: str = "") -> typer.Exit:
    """Print a problem on stderr and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {title}")
    if detail:
        err.print(f"  {detail}", markup=False)
    if hint:
        err.print(f"  hint: {hint}", markup=False)
    return typer.Exit(code)


@contextmanager
def reported(connection: Connection | None = None) -> Iterator[None]:
    """Turn a FacilityError raised inside the block into a message and an exit code."""
    try:
        yield
    except FacilityError as exc:
        token = connection.static_token if connection else None
        problem = diagnose(exc, base_url=connection.settings.base_url if connection else None, token=token)
        raise fail(problem.code, problem.title, problem.detail, problem.hint) from None

"""Printing: aligned text tables for people, JSON for scripts, problems on stderr.

Plain text through ``typer.echo`` (which drops colours when the output is not a terminal); no rich
import here, so that listing commands start fast. Results go to stdout, progress and problems to
stderr, so ``JOB=$(facility submit ...)`` captures only the job id.

Nothing printed here comes from a credential: commands print models (jobs, resources, files)
and the error texts of the client layer, which never contain a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import typer

__all__ = [
    "fail",
    "fmt_duration",
    "fmt_time",
    "human_size",
    "note",
    "out",
    "plural",
    "print_json",
    "state_styled",
    "styled",
    "table",
]

STATE_COLOURS = {
    "up": "green",
    "degraded": "yellow",
    "down": "red",
    "unknown": "bright_black",
    "COMPLETED": "green",
    "RUNNING": "cyan",
    "PENDING": "yellow",
    "HELD": "yellow",
    "FAILED": "red",
    "TIMEOUT": "red",
    "CANCELLED": "magenta",
    "PREEMPTED": "magenta",
    "UNKNOWN": "bright_black",
}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _unstyled(text: str) -> str:
    return _ANSI.sub("", text)


def out(text: str = "", *, nl: bool = True) -> None:
    """Print a result on stdout."""
    typer.echo(text, nl=nl)


def note(text: str) -> None:
    """Print progress or a remark on stderr."""
    typer.echo(text, err=True)


def styled(text: str, colour: str | None = None, *, bold: bool = False) -> str:
    """``text`` in a colour (shown only on a terminal)."""
    return typer.style(text, fg=colour, bold=bold) if colour or bold else text


def state_styled(state: str) -> str:
    """A job or resource state in its colour."""
    return styled(state, STATE_COLOURS.get(state))


def fmt_time(value: datetime | None) -> str:
    """A timestamp in local time with its zone (``2030-01-01 06:00:00 CST``), or an empty cell.

    The zone is the process's (``TZ``); a naive timestamp is taken as UTC, as the APIs mean it.
    """
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def fmt_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3725`` -> ``1h02m05s``."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int | None) -> str:
    """``1536`` -> ``1.5 KiB``; bytes below 1 KiB exactly; empty for an unknown size."""
    if size is None:
        return ""
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 resource``, ``2 resources``."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows under a header, columns aligned (a cell may be coloured with :func:`styled`)."""
    cells = [[str(column).upper() for column in columns]] + [
        ["" if cell is None else str(cell) for cell in row] for row in rows
    ]
    widths = [max(len(_unstyled(row[index])) for row in cells) for index in range(len(columns))]
    for number, row in enumerate(cells):
        padded = [
            cell + " " * (width - len(_unstyled(cell)))
            for cell, width in zip(row[:-1], widths[:-1], strict=True)
        ]
        line = "  ".join([*padded, row[-1]]).rstrip()
        out(styled(line, bold=True) if number == 0 else line)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on one line (``--json``)."""
    out(json.dumps(data, default=str))


def fail(code: int, title: str, detail: str = "", hint: str = "") -> typer.Exit:
    """Print a problem on stderr and return the Exit to raise."""
    note(f"{styled('error:', 'red', bold=True)} {title}")
    if detail:
        note(f"  {detail}")
    if hint:
        note(f"  hint: {hint}")
    return typer.Exit(code)

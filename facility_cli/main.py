"""Entry point of the ``facility`` command."""

from __future__ import annotations

import typer

app = typer.Typer(help="Talk to HPC facility APIs from a terminal.", no_args_is_help=True)

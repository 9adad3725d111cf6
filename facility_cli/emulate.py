"""``facility emulate``: the emulator's own command (``python -m facility_emulator``), run from
here with the same options, so there is one emulator command to learn."""

from __future__ import annotations

import typer

from .output import fail

__all__ = ["EMULATE_SETTINGS", "emulate"]

#: Every argument, ``--help`` included, goes to the emulator's parser.
EMULATE_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def emulate(ctx: typer.Context) -> None:
    """Serve the facility emulator on 127.0.0.1 and print how to reach it; stop with Ctrl-C
    (`facility emulate --help` lists its options: --faults, --token-lifetime, --api, --json...)."""
    try:
        from facility_emulator.cli import main
    except ImportError:
        raise fail(
            2, "the emulator is not installed", hint='pip install "hpc-facility-providers[emulator]"'
        ) from None
    raise typer.Exit(main(list(ctx.args), prog="facility emulate"))

"""``facility emulate``: serve the local facility emulator and print the settings to reach it.

The static token is written to a 0600 file in the sandbox and named by ``FACILITY_TOKEN_FILE``,
so the printout holds no secret. Serves until Ctrl-C (or SIGTERM); running jobs are killed then.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from .output import console, fail
from .problems import EXIT

__all__ = ["emulate"]


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def emulate(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0 picks a free one)")] = 0,
    root: Annotated[
        Path | None, typer.Option(help="sandbox directory (default: a new temporary one)")
    ] = None,
    queue_delay: Annotated[float, typer.Option(help="seconds a job stays queued")] = 0.2,
    env_file: Annotated[
        Path | None, typer.Option(help="also write the export lines to this file (for scripts)")
    ] = None,
) -> None:
    """Start the facility emulator and print the connection settings; stop with Ctrl-C."""
    try:
        from facility_emulator import EmulatorConfig, EmulatorServer
    except ImportError:
        raise fail(
            EXIT.CONFIG,
            "the emulator is not installed",
            hint='pip install "hpc-facility-providers[emulator]"',
        ) from None
    config = EmulatorConfig(queue_delay=queue_delay, port=port)
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        config.root = root.resolve()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server = EmulatorServer(config).start()
    try:
        credentials = server.credentials
        token_file = Path(config.root) / "facility-token"
        _write_secret(token_file, str(credentials["static_token"]))
        exports = [
            "export FACILITY_API=iri",
            f"export FACILITY_URL={server.iri_url('v1')}",
            f"export FACILITY_TOKEN_FILE={token_file}",
            "export FACILITY_RESOURCE=polaris",
            f"export REMOTE_HOME={credentials['home']}",
        ]
        if env_file is not None:
            env_file.write_text("\n".join(exports) + "\n")
        console.print(f"facility emulator serving at {server.url}", markup=False)
        console.print("connection settings (paste into your shell):")
        for line in exports:
            console.out(line, highlight=False)
        console.print(f"other APIs and credentials: {server.url}/_emulator/credentials", markup=False)
        console.print("press Ctrl-C to stop")
        console.file.flush()
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        console.print("emulator stopped")

"""Configuration of one emulator instance.

Kept in a plain dataclass so the CLI, the in-process server and tests build it the same way.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def _default_root() -> Path:
    """A fresh temporary sandbox directory, used when no root is given."""
    return Path(tempfile.mkdtemp(prefix="facility-emulator-"))


@dataclass
class EmulatorConfig:
    """Settings of one emulator.

    Attributes:
        root: sandbox directory; the emulated facility's file system. A temp dir by default.
        token_lifetime: advertised lifetime of issued access tokens, in seconds.
        queue_delay: seconds a job spends ``queued`` before it becomes ``active``.
        task_delay: seconds a filesystem task spends before its work is done.
        faults: fault specification string (see :mod:`facility_emulator.faults`).
        user: user name; the sandbox home is ``<root>/home/<user>``.
        host: interface to bind (only loopback makes sense).
        port: TCP port; 0 picks a free one.
        record_exchanges: keep a bounded log of ``/iri`` request/response exchanges.
        max_exchanges: bound of that log.
        kill_grace: seconds between SIGTERM and SIGKILL when a job is killed.
        scheduler: ``local`` (jobs are local processes) or ``slurm`` (jobs are real Slurm jobs on
            the local Slurm of ``scripts/slurm-local.sh``; walltimes round up to whole minutes).
        ssl_certfile: PEM certificate (chain) to serve HTTPS with; plain HTTP when None.
        ssl_keyfile: the certificate's private key (PEM).
    """

    root: Path = field(default_factory=_default_root)
    token_lifetime: float = 3600.0
    queue_delay: float = 0.2
    task_delay: float = 0.05
    faults: str = ""
    user: str = "demo"
    host: str = "127.0.0.1"
    port: int = 0
    record_exchanges: bool = True
    max_exchanges: int = 5000
    kill_grace: float = 1.0
    scheduler: str = "local"
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")

    @property
    def scheme(self) -> str:
        """``https`` when a certificate is configured, else ``http``."""
        return "https" if self.ssl_certfile is not None else "http"

"""Configuration of one emulator instance.

Kept in a plain dataclass so the CLI, the in-process server and tests build it the same way.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from facility_emulator.fidelity import Fidelity, FidelitySpec

#: Environment variable naming a credentials file (see ``EmulatorConfig.credentials_file``);
#: the CLI and the demo scripts read it.
CREDENTIALS_ENV = "FACILITY_EMULATOR_CREDENTIALS"

#: Keys a credentials file may set.
CREDENTIAL_KEYS = frozenset(
    {"client_id", "client_secret", "native_client_id", "refresh_token", "static_token", "token_prefix"}
)


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
        latency: seconds added before answering every request (token requests included, the
            ``/_emulator`` routes not), so a benchmark sees what a user at a remote facility
            sees: 0.03 is a 30 ms round trip. Unlike a ``latency`` fault it stays when the faults
            are replaced.
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
        credentials_file: JSON object fixing some of the shared identities instead of random
            ones: ``client_id``, ``client_secret``, ``native_client_id``, ``refresh_token``,
            ``static_token`` and ``token_prefix`` (all optional strings). Lets a test run a
            separate process against credentials it chose, then search its output for them.
        token_prefix: prepended to every issued access token, so issued tokens are recognisable
            in logs (a ``token_prefix`` in ``credentials_file`` wins).
        fidelity: ``spec`` (default) or ``reference`` for every flavour, with per-flavour
            overrides: ``"iri=reference"``, ``"reference,firecrest=spec"`` or a mapping
            ``{"iri": "reference"}`` (see :mod:`facility_emulator.fidelity`).
        idempotency_store: whether IRI v2 keeps an ``Idempotency-Key`` store; without one a keyed
            submit or update answers 501, as the reference server does when none is configured.
    """

    root: Path = field(default_factory=_default_root)
    token_lifetime: float = 3600.0
    queue_delay: float = 0.2
    task_delay: float = 0.05
    faults: str = ""
    latency: float = 0.0
    user: str = "demo"
    host: str = "127.0.0.1"
    port: int = 0
    record_exchanges: bool = True
    max_exchanges: int = 5000
    kill_grace: float = 1.0
    scheduler: str = "local"
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    credentials_file: Path | None = None
    token_prefix: str = ""
    fidelity: FidelitySpec = "spec"
    idempotency_store: bool = True

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        if not self.latency >= 0.0:
            raise ValueError(f"latency must be a number of seconds >= 0, not {self.latency!r}")
        Fidelity.parse(self.fidelity)  # a bad setting fails here, naming the flavour or level
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")

    @property
    def scheme(self) -> str:
        """``https`` when a certificate is configured, else ``http``."""
        return "https" if self.ssl_certfile is not None else "http"

    def fixed_credentials(self) -> dict[str, str]:
        """The identities ``credentials_file`` fixes (empty without a file).

        Raises ``ValueError`` naming the file for unreadable JSON, unknown keys or values that
        are not non-empty strings; the values themselves never appear in the message.
        """
        if self.credentials_file is None:
            return {}
        path = Path(self.credentials_file)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"credentials file {path}: cannot read a JSON object ({type(exc).__name__})"
            ) from None
        if not isinstance(data, dict):
            raise ValueError(f"credentials file {path}: expected a JSON object")
        unknown = sorted(set(data) - CREDENTIAL_KEYS)
        if unknown:
            raise ValueError(
                f"credentials file {path}: unknown keys {unknown}; known: {sorted(CREDENTIAL_KEYS)}"
            )
        bad = sorted(key for key, value in data.items() if not isinstance(value, str) or not value)
        if bad:
            raise ValueError(f"credentials file {path}: {bad} must be non-empty strings")
        return dict(data)

"""One emulated Flux instance behind its RESTful server: nodes, auth backend, jobs, on/off switch.

The flavour serves several instances, one per auth backend, under their own prefixes, so clients
of every auth style can be tested against one emulator without reconfiguring it. Each instance
keeps the ids of its own jobs; the jobs themselves run in the emulator's shared scheduler.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

AUTH_BACKENDS = ("none", "basic", "shared-secret", "database")


@dataclass(frozen=True)
class FluxCredentials:
    """The one user every instance knows (``FLUX_USER``/``FLUX_TOKEN``) and the shared secrets."""

    user: str
    token: str
    secret_key: str
    signing_key: str

    @classmethod
    def generate(cls, user: str) -> FluxCredentials:
        return cls(
            user=user,
            token=secrets.token_urlsafe(16),
            secret_key=secrets.token_urlsafe(24),
            signing_key=secrets.token_urlsafe(32),
        )


@dataclass
class FluxInstance:
    """An emulated Flux instance and the server settings in front of it.

    ``auth_backend`` is the server's ``FLUX_AUTH_BACKEND``: ``none``; ``basic`` (the legacy
    ``FLUX_REQUIRE_AUTH`` server: HTTP Basic with user and token on every route); ``shared-secret``
    (bearer tokens from the ``/v1/token`` handshake or the login form); ``database`` (bearer
    tokens from the login form only). ``token_epoch`` is part of every issued token: raising it
    revokes them all (the admin switch for testing the refresh on 401).
    """

    label: str
    prefix: str
    auth_backend: str
    credentials: FluxCredentials
    nodes: tuple[str, ...] = tuple(f"flux-sample-{n}" for n in range(4))
    cores_per_node: int = 4
    has_gpus: bool = True
    token_lifetime: float = 36000.0
    running: bool = True
    nodes_up: bool = True
    token_epoch: int = 0
    job_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.auth_backend not in AUTH_BACKENDS:
            raise ValueError(f"unknown Flux auth backend {self.auth_backend!r}")

    def add_job(self, job_id: str) -> None:
        with self.lock:
            self.job_ids.append(job_id)

    def owns(self, job_id: str) -> bool:
        with self.lock:
            return job_id in self.job_ids

    def own_jobs(self) -> list[str]:
        with self.lock:
            return list(self.job_ids)

    def up_nodes(self) -> tuple[str, ...]:
        """The nodes Flux lists as up (all of them unless the admin switch took them down)."""
        return self.nodes if self.nodes_up else ()

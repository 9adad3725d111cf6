"""The typed options of the FirecREST v2 backend.

Beside what every backend takes (:class:`~facility_common.options.BackendOptions`): the account,
partition and working directory of jobs that name none, how transfer jobs are awaited, how staged
(S3) transfers are cut up, how long the list of systems is kept, and the server's version where
its answers do not say it. Light on purpose: the registry imports it to describe the backend.
"""

from __future__ import annotations

import dataclasses

from ...errors import ConfigurationError
from ...options import BackendOptions, about

__all__ = ["FirecrestOptions"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class FirecrestOptions(BackendOptions):
    """Options of the FirecREST v2 backend."""

    account: str | None = dataclasses.field(default=None, metadata=about("Account of jobs that name none."))
    partition: str | None = dataclasses.field(
        default=None, metadata=about("Partition of jobs that name no queue.")
    )
    directory: str | None = dataclasses.field(
        default=None,
        metadata=about("Working directory of jobs that name none (default: the system's work directory)."),
    )
    transfer_timeout: float = dataclasses.field(
        default=3600.0,
        metadata=about("Longest wait for a transfer job (copy, move, staged transfer), in seconds."),
    )
    transfer_poll_interval: float = dataclasses.field(
        default=10.0, metadata=about("Longest pause between two looks at a transfer job, in seconds.")
    )
    transfer_chunk_size: int = dataclasses.field(
        default=1024 * 1024, metadata=about("Bytes read or written at once in a staged (S3) transfer.")
    )
    max_s3_connections: int = dataclasses.field(
        default=2, metadata=about("Parts of a staged (S3) upload sent at once.")
    )
    rate_limit_retries: int = dataclasses.field(
        default=6,
        metadata=about(
            "Not used any more: 429 answers are retried under the retry policy like any other "
            "(kept so existing connections stay valid)."
        ),
    )
    system_cache_seconds: float = dataclasses.field(
        default=30.0, metadata=about("How long the list of systems is kept, in seconds.")
    )
    api_version: str | None = dataclasses.field(
        default=None,
        metadata=about(
            "The server's FirecREST version (default: its F7T-AppVersion header); before 2.4.0 "
            "staged transfers are asked for in the older form."
        ),
    )

    min_token_validity: float = dataclasses.field(
        default=40.0,
        metadata=about(
            "Least lifetime (s) a token must have left to be sent: FirecREST refuses tokens with "
            "under 30 s left, and a request and clock differences need some margin."
        ),
    )

    NON_NEGATIVE = BackendOptions.NON_NEGATIVE | frozenset(
        {"transfer_timeout", "system_cache_seconds", "rate_limit_retries", "min_token_validity"}
    )

    def check(self, facility: str) -> None:
        """Range checks of the transfer settings, beside the shared ones."""
        super().check(facility)
        for name in ("transfer_chunk_size", "max_s3_connections"):
            value = getattr(self, name)
            if value <= 0:
                raise ConfigurationError(f"{name}: must be a positive integer", facility=facility)
        if self.transfer_poll_interval <= 0:
            raise ConfigurationError(
                "transfer_poll_interval: must be a positive number of seconds", facility=facility
            )

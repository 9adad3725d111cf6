"""The typed options of the slurmrestd backend and of OLCF S3M (slurmrestd behind a gateway).

A light module (the standard library and :mod:`facility_common.options` only): the registry, the
Airflow connection forms and the ``facility`` command read these classes without loading the
backends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ...options import BackendOptions, about

__all__ = ["DEFAULT_ENVIRONMENT", "DEFAULT_PATH_TEMPLATE", "S3MOptions", "SlurmRestOptions"]

DEFAULT_ENVIRONMENT: Mapping[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
"""The environment of a job when the ``environment`` option is not set: slurmrestd gives a job
only the environment that is sent."""

DEFAULT_PATH_TEMPLATE = "slurm/{enclave}/{version}/{resource}"
"""Where S3M serves a cluster's Slurm REST API under its base URL (OLCF's current form)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlurmRestOptions(BackendOptions):
    """Options of the slurmrestd backend."""

    user_name: str | None = dataclasses.field(
        default=None, metadata=about("The Slurm user the token belongs to (X-SLURM-USER-NAME).")
    )
    socket: str | None = dataclasses.field(
        default=None, metadata=about("Path of slurmrestd's UNIX socket, instead of a URL.")
    )
    api_version: str | None = dataclasses.field(
        default="auto", metadata=about("Data-parser version (v0.0.38 to v0.0.44), or auto to ask the server.")
    )
    directory: str | None = dataclasses.field(
        default="/tmp", metadata=about("Working directory of jobs that name none.")
    )
    environment: Mapping[str, str] | None = dataclasses.field(
        default=None, metadata=about("Environment given to every job (slurmrestd passes none of its own).")
    )
    partition: str | None = dataclasses.field(
        default=None, metadata=about("Partition of jobs that name no queue.")
    )
    local_output: bool = dataclasses.field(
        default=False, metadata=about("Read job output from this machine's file system (same cluster).")
    )
    all_reservations: bool = dataclasses.field(
        default=False, metadata=about("Report every reservation as an outage, not only MAINT ones.")
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class S3MOptions(SlurmRestOptions):
    """Options of the OLCF S3M backend."""

    enclave: str = dataclasses.field(default="open", metadata=about("The S3M enclave (open, moderate...)."))
    path_template: str = dataclasses.field(
        default=DEFAULT_PATH_TEMPLATE,
        metadata=about(
            "Path of a cluster's Slurm REST API under the base URL, with {resource} and {version}."
        ),
    )
    api_version: str | None = dataclasses.field(
        default="v0.0.43", metadata=about("Slurm REST version S3M serves: v0.0.43 or v0.0.44.")
    )
    directory: str | None = dataclasses.field(
        default=None, metadata=about("Working directory of jobs that name none.")
    )
    streaming_path: str = dataclasses.field(
        default="olcf/{enclave}/v1alpha/streaming",
        metadata=about("Path of the streaming service (RabbitMQ/Redis clusters) under the base URL."),
    )

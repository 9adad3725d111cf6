"""The IRI backend's typed options (light: read by the registry without loading the backend)."""

from __future__ import annotations

import dataclasses

from ...options import BackendOptions, about

__all__ = ["IRIOptions"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class IRIOptions(BackendOptions):
    """Options of the IRI backend."""

    api_version: str | None = dataclasses.field(
        default=None, metadata=about("v1 or v2; default: read from the base URL's trailing /v1 or /v2.")
    )
    project: str | None = dataclasses.field(
        default=None,
        metadata=about("Project (account) charged for jobs that name none (sent as attributes.account)."),
    )
    project_header: bool = dataclasses.field(
        default=False,
        metadata=about(
            "v2: send the project in the X-IRI-Facility-Project header instead of "
            "attributes.account (only where the facility's documentation asks for it)."
        ),
    )
    task_timeout: float = dataclasses.field(
        default=300.0, metadata=about("Longest wait for one filesystem task, in seconds.")
    )
    task_poll_interval: float = dataclasses.field(
        default=0.2, metadata=about("Pause between looks at a filesystem task, in seconds.")
    )

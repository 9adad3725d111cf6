"""The typed options of the Flux RESTful API backend.

Beside what every backend takes (:class:`~facility_common.options.BackendOptions`): the name the
instance goes by as a resource, the queue and bank it stands for, and the credentials the Flux
project's own client reads from ``FLUX_USER``, ``FLUX_TOKEN`` and ``FLUX_SECRET_KEY`` (for the
documented ``connect("flux", user=..., token=..., secret_key=...)`` form; an auth mapping is the
usual way). The credentials are kept out of the repr.
"""

from __future__ import annotations

import dataclasses

from ...options import BackendOptions, about

__all__ = ["FluxOptions"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class FluxOptions(BackendOptions):
    """Options of the Flux RESTful API backend."""

    resource_name: str = dataclasses.field(
        default="flux", metadata=about("The name this Flux instance goes by as a resource.")
    )
    queue: str | None = dataclasses.field(default=None, metadata=about("Queue of jobs that name none."))
    account: str | None = dataclasses.field(
        default=None, metadata=about("Bank (account) of jobs that name none.")
    )
    user: str | None = dataclasses.field(
        default=None, repr=False, metadata=about("Flux user (instead of an auth mapping).", form=False)
    )
    token: str | None = dataclasses.field(
        default=None,
        repr=False,
        metadata=about("The user's Flux token (instead of an auth mapping).", form=False),
    )
    secret_key: str | None = dataclasses.field(
        default=None,
        repr=False,
        metadata=about("The server's shared secret (instead of an auth mapping).", form=False),
    )
    auth_method: str = dataclasses.field(
        default="auto",
        metadata=about("With user/token options: auto, basic, shared-secret, password or token.", form=False),
    )

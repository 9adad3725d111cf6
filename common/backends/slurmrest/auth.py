"""How a token reaches slurmrestd: in its own ``X-SLURM-USER-*`` headers, not ``Authorization``.

slurmrestd's ``rest_auth/jwt`` reads the user from ``X-SLURM-USER-NAME`` and the JWT from
``X-SLURM-USER-TOKEN``. :class:`SlurmTokenAuth` is :class:`~facility_common.auth.FacilityAuth`
(the one refresh policy: a fresh token once after a 401) writing those headers instead.
"""

from __future__ import annotations

import httpx

from ...auth import FacilityAuth, Secret, TokenSource

__all__ = ["SlurmTokenAuth"]


class SlurmTokenAuth(FacilityAuth):
    """Sends ``X-SLURM-USER-NAME`` and ``X-SLURM-USER-TOKEN`` (a JWT from a :class:`TokenSource`)."""

    def __init__(self, source: TokenSource, user_name: str | None, *, facility: str = "slurmrest") -> None:
        super().__init__(source, facility=facility)
        self.user_name = user_name

    def write(self, request: httpx.Request, token: Secret) -> None:
        if self.user_name:
            request.headers["X-SLURM-USER-NAME"] = self.user_name
        request.headers["X-SLURM-USER-TOKEN"] = token.get_secret_value()

    def erase(self, request: httpx.Request) -> None:
        request.headers.pop("X-SLURM-USER-TOKEN", None)

    def __repr__(self) -> str:
        return f"SlurmTokenAuth(user_name={self.user_name!r}, source={self.source!r})"

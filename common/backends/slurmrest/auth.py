"""How a token reaches slurmrestd: in its own ``X-SLURM-USER-*`` headers, not ``Authorization``.

slurmrestd's ``rest_auth/jwt`` reads the user from ``X-SLURM-USER-NAME`` and the JWT from
``X-SLURM-USER-TOKEN``. :class:`RefreshingHeaderAuth` is the part every header scheme shares (a
fresh token once after a 401, as :class:`~facility_common.auth.FacilityAuth` does); S3M's raw
``Authorization`` header is another subclass (:class:`facility_common.backends.s3m.S3MTokenAuth`).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncGenerator, Generator

import httpx

from ...auth import TokenSource
from ...errors import ConfigurationError

__all__ = ["RefreshingHeaderAuth", "SlurmTokenAuth"]


class RefreshingHeaderAuth(httpx.Auth):
    """Puts a :class:`TokenSource`'s token in the request (:meth:`apply`) and, like
    :class:`~facility_common.auth.FacilityAuth`, survives one refusal: on a 401 the token is
    invalidated and the request is sent once more with a fresh one, when the source can make one
    and the body can be replayed."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def apply(self, request: httpx.Request, token: str) -> None:
        """Write ``token`` into ``request`` the way the API wants it."""
        raise NotImplementedError

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.source.token()
        self.apply(request, token)
        response = yield request
        if response.status_code != 401 or not self.source.refreshable:
            return
        try:
            request.content  # noqa: B018 - raises when the body is an unread stream
        except httpx.RequestNotRead:
            return
        self.source.invalidate(token)
        fresh = await self.source.token()
        if hmac.compare_digest(fresh.encode(), token.encode()):
            return
        self.apply(request, fresh)
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise ConfigurationError(
            f"{type(self).__name__} works with httpx.AsyncClient only", facility="slurmrest"
        )
        yield request  # pragma: no cover - makes this a generator, as httpx expects


class SlurmTokenAuth(RefreshingHeaderAuth):
    """Sends ``X-SLURM-USER-NAME`` and ``X-SLURM-USER-TOKEN`` (a JWT from a :class:`TokenSource`)."""

    def __init__(self, source: TokenSource, user_name: str | None) -> None:
        super().__init__(source)
        self.user_name = user_name

    def apply(self, request: httpx.Request, token: str) -> None:
        if self.user_name:
            request.headers["X-SLURM-USER-NAME"] = self.user_name
        request.headers["X-SLURM-USER-TOKEN"] = token

    def __repr__(self) -> str:
        return f"SlurmTokenAuth(user_name={self.user_name!r}, source={self.source!r})"

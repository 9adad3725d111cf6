"""``FacilityAuth``: the ``httpx.Auth`` that sends a token source's token."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Generator

import httpx

from ..errors import AuthenticationError, ConfigurationError, FacilityError
from .secret import Secret
from .source import TokenSource

__all__ = ["FacilityAuth"]

logger = logging.getLogger("facility_common.auth")


class FacilityAuth(httpx.Auth):
    """``httpx.Auth`` that sends a :class:`TokenSource`'s token and survives one token refusal.

    Each request gets ``Authorization: <scheme> <token>`` (the raw token when the scheme is
    empty). On a 401 the token is invalidated and the request is sent once more with a fresh
    token; a second 401 (or a first one when no other token can be had) is returned to the caller,
    which maps it to :class:`AuthenticationError`. A streamed request body cannot be replayed, so
    such a request is not retried. Only the async flow exists: the project's clients are async.

    The token is held as a :class:`Secret` in this flow's frame, and the refused token is taken
    off the request before a fresh one is asked for, so an error raised meanwhile carries neither.

    ``min_validity`` is the least lifetime, in seconds, a token must have left to be sent: an API
    that refuses tokens close to their expiry (FirecREST: under 30 s) gets a fresh one earlier.

    Where the token goes is :meth:`write` and :meth:`erase`: an API with a header scheme of its
    own (slurmrestd's ``X-SLURM-USER-*``, S3M's raw ``Authorization``) subclasses those two and
    keeps the refresh policy here, the one place it is written.
    """

    def __init__(
        self, source: TokenSource, *, facility: str | None = None, min_validity: float = 0.0
    ) -> None:
        self.source = source
        self.facility = facility or source.facility
        self.min_validity = min_validity

    def with_min_validity(self, seconds: float) -> FacilityAuth:
        """This auth, sending only tokens with at least ``seconds`` left (same token source)."""
        return FacilityAuth(self.source, facility=self.facility, min_validity=seconds)

    def write(self, request: httpx.Request, token: Secret) -> None:
        """Put ``token`` on ``request``: ``Authorization: <scheme> <token>`` (raw without a scheme)."""
        scheme = self.source.scheme
        value = token.get_secret_value()
        request.headers["Authorization"] = f"{scheme} {value}" if scheme else value

    def erase(self, request: httpx.Request) -> None:
        """Take the token :meth:`write` put on ``request`` off it again."""
        request.headers.pop("Authorization", None)

    async def _token(self) -> Secret:
        try:
            return Secret(await self.source.token(min_validity=self.min_validity))
        except FacilityError:
            raise
        except Exception as exc:
            failure = AuthenticationError(
                f"{self.source!r} could not provide a token: {type(exc).__name__}", facility=self.facility
            )
        # Raised outside the ``except``: the original exception is not chained to it.
        raise failure

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._token()
        self.write(request, token)
        response = yield request
        if response.status_code != 401 or not self.source.refreshable:
            return
        try:
            request.content  # noqa: B018 - raises when the body is an unread stream
        except httpx.RequestNotRead:
            return
        self.erase(request)
        self.source.invalidate(token.get_secret_value())
        fresh = await self._token()
        if fresh == token:
            # No other token to try: the 401 goes to the caller, whose error text is redacted
            # with what the request carried.
            self.write(request, token)
            return
        logger.debug("%s refused a token with 401; retrying once with a fresh one", request.url.host)
        self.write(request, fresh)
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise ConfigurationError(
            "FacilityAuth works with httpx.AsyncClient only; use the async client or the "
            "FacilityClient facade",
            facility=self.facility,
        )
        yield request  # pragma: no cover - makes this a generator, as httpx expects

    def __repr__(self) -> str:
        return f"FacilityAuth({self.source!r})"

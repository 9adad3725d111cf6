"""``FacilityAuth``: the ``httpx.Auth`` that sends a token source's token."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator

import httpx

from ..drive import on_home_loop, step_through
from ..errors import AuthenticationError, FacilityError
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
    such a request is not retried. The policy is written once (:meth:`_flow`) and serves both
    httpx flows: the async one, and the sync one of the sync facade's transport.

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
        return await self._token_from(self.source.token)

    async def _token_here(self) -> Secret:
        """The token for the synchronous flow, without suspending: the cached one, else one
        fetched on the home event loop where the source lives (its lock and its own HTTP client
        belong to that loop), this thread blocking meanwhile."""
        cached = self.source.cached_token(min_validity=self.min_validity)
        if cached is not None:
            return Secret(cached)

        async def fetched(*, min_validity: float = 0.0) -> str:
            return on_home_loop(lambda: self.source.token(min_validity=min_validity))

        return await self._token_from(fetched)

    async def _token_from(self, fetch: Callable[..., Awaitable[str]]) -> Secret:
        try:
            return Secret(await fetch(min_validity=self.min_validity))
        except FacilityError:
            raise
        except Exception as exc:
            failure = AuthenticationError(
                f"{self.source!r} could not provide a token: {type(exc).__name__}", facility=self.facility
            )
        # Raised outside the ``except``: the original exception is not chained to it.
        raise failure

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._flow(request, self._token)
        try:
            response = None
            while True:
                try:
                    sent = await flow.asend(response)  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
                response = yield sent
        finally:
            await flow.aclose()

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """The same flow for an ``httpx.Client`` (the sync facade's transport): its awaits all
        complete at once (:meth:`_token_here`), so it is stepped through synchronously."""
        return step_through(self._flow(request, self._token_here))

    async def _flow(
        self, request: httpx.Request, token_of: Callable[[], Awaitable[Secret]]
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The policy, written once for both flows: send with the token, and after a 401 once
        more with a fresh one."""
        token = await token_of()
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
        fresh = await token_of()
        if fresh == token:
            # No other token to try: the 401 goes to the caller, whose error text is redacted
            # with what the request carried.
            self.write(request, token)
            return
        logger.debug("%s refused a token with 401; retrying once with a fresh one", request.url.host)
        self.write(request, fresh)
        yield request

    def __repr__(self) -> str:
        return f"FacilityAuth({self.source!r})"

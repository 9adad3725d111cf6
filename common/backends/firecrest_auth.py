"""The token bridge between our async token sources and pyfirecrest's ``AsyncFirecrest``.

pyfirecrest 3.10's async client asks its ``authorization`` object for headers before each request
(``AsyncFirecrest._auth_headers``): when the object has ``auth_headers()`` its result is awaited
if it is awaitable; otherwise ``get_access_token()`` is called *without* being awaited, so a
coroutine there would be sent as the literal text ``Bearer <coroutine object ...>``. Its own
``ClientCredentialsAuth.get_access_token()`` is a blocking ``requests.post`` that would stall the
event loop for the whole token round trip.

:class:`AsyncTokenAuthorization` therefore offers an ``async def auth_headers()`` backed by our
:class:`~facility_common.auth.TokenSource` (cached, refreshed ahead of expiry by one caller while
the others wait, never blocking the loop) or, for any other ``httpx.Auth``, by running that auth's
async flow on a throw-away request. ``invalidate`` drops a token the facility refused with 401.
"""

from __future__ import annotations

import httpx

from ..auth import FacilityAuth, TokenSource
from ..errors import AuthenticationError, FacilityError

__all__ = ["AsyncTokenAuthorization"]


class AsyncTokenAuthorization:
    """pyfirecrest's ``authorization`` duck type, async and non-blocking."""

    def __init__(self, auth: httpx.Auth | None, *, facility: str) -> None:
        self._auth = auth
        self._facility = facility
        self._last: str | None = None

    @property
    def source(self) -> TokenSource | None:
        """The token source behind the auth, when it has one."""
        return self._auth.source if isinstance(self._auth, FacilityAuth) else None

    async def auth_headers(self) -> dict[str, str]:
        """``{"Authorization": ...}`` for the next request (empty without auth)."""
        if self._auth is None:
            return {}
        source = self.source
        try:
            if source is not None:
                token = await source.token()
                self._last = token
                scheme = source.scheme
                return {"Authorization": f"{scheme} {token}" if scheme else token}
            probe = httpx.Request("GET", "https://firecrest.invalid/")
            flow = self._auth.async_auth_flow(probe)
            prepared = await flow.__anext__()
            await flow.aclose()
        except FacilityError:
            raise
        except Exception as exc:
            raise AuthenticationError(
                f"no token could be had for FirecREST: {type(exc).__name__}", facility=self._facility
            ) from None
        header = prepared.headers.get("Authorization")
        return {"Authorization": header} if header else {}

    def invalidate(self) -> bool:
        """Forget the token last handed out after a 401; True when a fresh one may help."""
        source = self.source
        if source is None or self._last is None or not source.refreshable:
            return False
        source.invalidate(self._last)
        self._last = None
        return True

    def __repr__(self) -> str:
        return f"AsyncTokenAuthorization({self._auth!r})"

"""What the FirecREST backend gives pyfirecrest's ``AsyncFirecrest``: a non-blocking token bridge
and an HTTP transport that stops reading an answer at a size limit.

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
FirecREST refuses a token with less than 30 s left ("Access token expires too soon"), so the
bridge asks its source for a token valid for at least ``min_validity`` seconds
(:data:`MIN_TOKEN_VALIDITY`, 40 s: the server's 30 s and room for the request's trip and clock
differences), and the source refreshes earlier than its usual lead when needed.

pyfirecrest reads every answer whole (``response.json()``, ``response.content``), so a broken or
hostile server could make it hold any amount of memory. :class:`BodyLimitTransport` counts the
bytes of each FirecREST API answer while they arrive and raises :class:`APIError` naming
``max_body_bytes`` once a success answer passes the limit (an error answer is cut short instead,
at :data:`~facility_common.http.ERROR_BODY_BYTES`). Direct downloads (``ops/download``) may be as
large as the system's direct-transfer limit; staged S3 transfers go to other URLs and are not
limited (pyfirecrest streams them to disk in pieces). An error answer of the API is also redacted
there (:func:`~facility_common.redaction.redact`, with the credentials the request carried) and the
answered request forgets its credential headers, so neither pyfirecrest's exception (its
``responses`` hold the requests) nor an error built from its body carries the token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx

from ..auth import FacilityAuth, Secret, TokenSource
from ..errors import APIError, AuthenticationError, FacilityError
from ..http import ERROR_BODY_BYTES
from ..redaction import REDACTED, header_secrets, install_log_redaction, is_credential_header, redact

__all__ = ["MIN_TOKEN_VALIDITY", "AsyncTokenAuthorization", "BodyLimitTransport"]

#: Seconds a token handed to FirecREST must still be valid for (the server refuses under 30 s).
MIN_TOKEN_VALIDITY = 40.0


class AsyncTokenAuthorization:
    """pyfirecrest's ``authorization`` duck type, async and non-blocking.

    ``min_validity``: the least lifetime left on a token handed out; a cached token closer to its
    expiry is refreshed first.
    """

    def __init__(
        self, auth: httpx.Auth | None, *, facility: str, min_validity: float = MIN_TOKEN_VALIDITY
    ) -> None:
        self._auth = auth
        self._facility = facility
        self.min_validity = min_validity
        self._last: Secret | None = None
        install_log_redaction()  # pyfirecrest's loggers exist once its client module is imported

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
                token = Secret(await source.token(min_validity=self.min_validity))
                self._last = token
                scheme = source.scheme
                value = token.get_secret_value()
                return {"Authorization": f"{scheme} {value}" if scheme else value}
            probe = httpx.Request("GET", "https://firecrest.invalid/")
            flow = self._auth.async_auth_flow(probe)
            prepared = await flow.__anext__()
            await flow.aclose()
        except FacilityError:
            raise
        except Exception as exc:
            failure = AuthenticationError(
                f"no token could be had for FirecREST: {type(exc).__name__}", facility=self._facility
            )
        else:
            header = prepared.headers.get("Authorization")
            return {"Authorization": header} if header else {}
        raise failure  # outside the ``except``: the original exception is not chained to it

    def invalidate(self) -> bool:
        """Forget the token last handed out after a 401; True when a fresh one may help."""
        source = self.source
        if source is None or self._last is None or not source.refreshable:
            return False
        source.invalidate(self._last.get_secret_value())
        self._last = None
        return True

    def __repr__(self) -> str:
        return f"AsyncTokenAuthorization({self._auth!r})"


class _LimitedStream(httpx.AsyncByteStream):
    """An answer body that raises (``strict``) or ends (otherwise) past ``limit`` bytes."""

    def __init__(
        self, inner: httpx.AsyncByteStream, limit: int, strict: bool, too_large: Callable[[], APIError]
    ) -> None:
        self._inner = inner
        self._limit = limit
        self._strict = strict
        self._too_large = too_large

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._inner:
            size += len(chunk)
            if size > self._limit:
                if self._strict:
                    raise self._too_large()
                yield chunk[: self._limit - (size - len(chunk))]
                return
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _ReadBody(httpx.AsyncByteStream):
    """A body already read into memory."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._content


class BodyLimitTransport(httpx.AsyncBaseTransport):
    """Wrap ``inner`` so that answers of the API under ``api_root`` are read up to a limit.

    ``max_body_bytes`` bounds success answers (an :class:`APIError` past it);
    ``direct_limit()`` (the client's current direct-transfer size) raises the bound of
    ``ops/download`` answers, whose body is a file. Requests to other URLs (staged transfers'
    object storage) pass unchanged.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        api_root: str,
        max_body_bytes: int,
        facility: str,
        direct_limit: Callable[[], int] = lambda: 0,
    ) -> None:
        self._inner = inner
        self._api_root = api_root.rstrip("/") + "/"
        self.max_body_bytes = max_body_bytes
        self._facility = facility
        self._direct_limit = direct_limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not str(request.url).startswith(self._api_root):
            return await self._inner.handle_async_request(request)
        # Bytes are counted as they arrive: ask for them uncompressed, so the count is the size.
        request.headers["Accept-Encoding"] = "identity"
        response = await self._inner.handle_async_request(request)
        path = request.url.path
        strict = response.status_code < 400
        limit = self.max_body_bytes if strict else ERROR_BODY_BYTES
        if strict and path.endswith("/ops/download"):
            limit = max(limit, self._direct_limit())
        if not strict:
            return await self._redacted_error(request, response)

        def too_large() -> APIError:
            return APIError(
                f"{request.method} {path} answered a body over the limit of {limit} bytes (max_body_bytes)",
                facility=self._facility,
                status_code=response.status_code,
            )

        declared = response.headers.get("Content-Length", "")
        if strict and declared.isdigit() and int(declared) > limit:
            await response.aclose()
            raise too_large()
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_LimitedStream(response.stream, limit, strict, too_large),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def _redacted_error(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        """An API error answer read up to :data:`ERROR_BODY_BYTES`, redacted of the credentials
        its request carried (a server may echo them), and the request stripped of them."""
        known = header_secrets(request.headers.items())
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_raw():
                chunks.append(chunk[: ERROR_BODY_BYTES - size])
                size += len(chunk)
                if size >= ERROR_BODY_BYTES:
                    break
        finally:
            await response.aclose()
        text = b"".join(chunks).decode("utf-8", "replace")
        content = redact(text, known).encode()
        for name in [name for name in request.headers if is_credential_header(name)]:
            request.headers[name] = REDACTED
        headers = [
            (k, v)
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "content-encoding")
        ]
        headers.append(("Content-Length", str(len(content))))
        return httpx.Response(
            status_code=response.status_code,
            headers=headers,
            stream=_ReadBody(content),
            extensions=response.extensions,
            request=request,
        )

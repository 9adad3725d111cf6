"""One pooled HTTP session per client: retries, error mapping, body limits, transport safety.

Backends never call ``httpx`` directly; they call :meth:`ApiSession.request` (or
:meth:`ApiSession.stream`) with a path relative to the API's base URL. The session

* retries idempotent calls on connect errors, timeouts, dropped connections, 429, 502, 503 and 504
  with capped exponential backoff and jitter, honouring ``Retry-After``;
* retries a non-idempotent call (a submit) only when the request provably did not reach the
  server's application (connect errors, 429, 503); anything ambiguous is raised for the caller to
  resolve (backends look their job up by tag before sending again);
* turns every failure into the :mod:`facility_common.errors` tree with facility, resource, HTTP
  status and a body excerpt, never a header or token;
* refuses to send credentials over plain HTTP to anything but loopback unless allowed, and never
  sends loopback traffic through a proxy, so that exemption holds only where the bytes stay on the
  host;
* never follows a redirect (a credential-bearing request would be re-sent elsewhere);
* redacts every error text it builds from an answer (:mod:`facility_common.redaction`): an error
  page that echoes the request's headers does not put the token in the message or ``body``;
* raises its errors with no chained library exception (whose request would carry the token);
* reads every body as a stream and stops at a size limit (``max_body_bytes`` for answers, 64 KiB
  for error pages), so a broken or hostile server cannot make the client hold an unbounded body.

The session speaks through an ``httpx.AsyncClient``, or, while the sync facade drives a call on
the caller's thread (:func:`facility_common.drive.drive`), through a twin ``httpx.Client`` built
with the same settings and auth: the same code above runs either way, only the exchange of bytes
differs (:meth:`ApiSession._exchange`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from .drive import driving
from .endpoints import (
    check_base_url,
    host_of,
    http_client,
    is_loopback_url,
)
from .errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    FacilityError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    body_excerpt,
    detached,
)
from .problem_detail import problem_detail
from .redaction import header_secrets, redact
from .sync_transport import SyncTwin, speaks_sync
from .tls import VerifySetting, certificate_failure, certificate_message

__all__ = [
    "ApiRequest",
    "ApiSession",
    "RetryPolicy",
    "check_base_url",
    "host_of",
    "http_client",
    "is_loopback_url",
]

logger = logging.getLogger("facility_common.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Reads a successful answer's body as a stream (:meth:`ApiSession.consume`).
BodyReader = Callable[[httpx.Response], Awaitable[None]]
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
#: How much of an error answer (an HTML page from a proxy...) is read to build the message.
ERROR_BODY_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True)
class ApiRequest:
    """One API call as a backend's pure ``build_<op>`` function describes it: what
    :meth:`ApiSession.send` sends. ``path`` is relative to the API's base URL and already quoted;
    ``idempotent`` defaults from the method (POST is not); ``ok`` lists the statuses that count
    as success."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    data: Mapping[str, Any] | None = None
    files: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] | None = None
    idempotent: bool | None = None
    ok: tuple[int, ...] = (200, 201, 202, 204)

    @property
    def label(self) -> str:
        """``METHOD path``, for messages."""
        return f"{self.method} {self.path}"


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a failed call.

    ``attempts`` counts the first try. The delay before retry ``n`` (1-based) is
    ``min(max_backoff, backoff * 2**(n-1))`` plus up to ``jitter`` of it at random, or the server's
    ``Retry-After`` when it sends one (capped by ``max_retry_after``).
    """

    attempts: int = 6
    backoff: float = 0.25
    max_backoff: float = 20.0
    jitter: float = 0.25
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    max_retry_after: float = 120.0

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry ``retry_number`` (1 for the first retry)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        base = min(self.max_backoff, self.backoff * 2.0 ** (retry_number - 1))
        return base + random.uniform(0, base * self.jitter)

    def pausing(self, retry_number: int, seconds: float, reason: str, retry_after: float | None) -> None:
        """Called before each pause: ``reason`` says what the failed try got (``"answered
        503"``, ``"got no answer: ConnectError"``). Does nothing here; a subclass may report it
        (the ``facility`` command prints it, so a busy facility does not look like a hang)."""


def parse_retry_after(value: str | None) -> float | None:
    """Read a ``Retry-After`` header given in seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _sent_secrets(response: httpx.Response) -> list[str]:
    """The credentials the request answered by ``response`` carried (none if it has no request)."""
    try:
        request = response.request
    except RuntimeError:  # a response built by hand, as parser tests do
        return []
    return header_secrets(request.headers.items())


def _problem_detail(response: httpx.Response) -> str | None:
    """Pull the human message out of the error bodies the facility APIs use, redacted.

    An error page may echo the request: what it sent in its credential headers is removed (with
    anything else that looks like a credential) before the text is cut to an excerpt, so no
    part of a secret survives at the cut.
    """
    known = _sent_secrets(response)
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return body_excerpt(redact(response.text, known)) if response.content else None
    detail = problem_detail(data)
    if detail:
        return body_excerpt(redact(detail, known))
    return body_excerpt(redact(json.dumps(data), known))


class ApiSession:
    """A pooled ``httpx.AsyncClient`` bound to one API's base URL, with retries and error mapping."""

    def __init__(
        self,
        *,
        facility: str,
        base_url: str,
        auth: httpx.Auth | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = 30.0,
        verify: VerifySetting = True,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        allow_insecure_http: bool = False,
    ) -> None:
        self.facility = facility
        self.base_url = check_base_url(
            base_url,
            facility=facility,
            sends_credentials=auth is not None,
            allow_insecure_http=allow_insecure_http,
        )
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes <= 0:
            raise ConfigurationError("max_body_bytes: must be a positive integer", facility=facility)
        self.retry = retry or RetryPolicy()
        self.max_body_bytes = max_body_bytes
        self._client = http_client(
            facility=facility,
            base_url=self.base_url + "/",
            auth=auth,
            timeout=timeout,
            verify=verify,
            transport=transport,
            headers=headers,
        )
        self._sync: SyncTwin | None = None
        if speaks_sync(auth, transport):
            self._sync = SyncTwin(
                {
                    "facility": facility,
                    "base_url": self.base_url + "/",
                    "auth": auth,
                    "timeout": timeout,
                    "verify": verify,
                    "transport": transport,
                    "headers": headers,
                }
            )

    def __repr__(self) -> str:
        return f"ApiSession(facility={self.facility!r}, base_url={self.base_url!r})"

    @property
    def client(self) -> httpx.AsyncClient:
        """The underlying client, for libraries that need one."""
        return self._client

    @property
    def sync_capable(self) -> bool:
        """Whether this session can also send synchronously (its auth and transport have a
        synchronous flow; see :func:`~facility_common.sync_transport.speaks_sync`)."""
        return self._sync is not None

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; the response's body is left unread (``stream=True``). While a call
        is driven on the caller's thread (:func:`~facility_common.drive.driving`) the sync twin
        sends it, blocking without suspending."""
        if self._sync is not None and driving():
            return self._sync.send(request)
        return await self._client.send(request, stream=True)

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._sync is not None:
            self._sync.close()

    def _url(self, path: str) -> str:
        return path.lstrip("/")

    def _error_for(
        self, method: str, path: str, response: httpx.Response, resource: str | None
    ) -> FacilityError:
        status = response.status_code
        detail = _problem_detail(response)
        message = f"{method} {path} answered {status}" + (f": {detail}" if detail else "")
        context: dict[str, Any] = {
            "facility": self.facility,
            "resource": resource,
            "status_code": status,
            "body": detail,
        }
        if status in (401, 403):
            return AuthenticationError(message, **context)
        if status == 404:
            return NotFoundError(message, **context)
        if status == 429:
            return RateLimitedError(
                message, retry_after=parse_retry_after(response.headers.get("Retry-After")), **context
            )
        if status >= 500:
            return ServerError(message, **context)
        return APIError(message, **context)

    async def request(
        self,
        method: str,
        path: str,
        *,
        resource: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        timeout: float | None = None,
        reader: BodyReader | None = None,
    ) -> httpx.Response:
        """Send one API call, retrying per the policy, and return the successful response.

        ``ok`` lists the statuses that count as success; any other status raises the matching
        :class:`APIError`. ``idempotent`` defaults from the method (POST is not). With ``reader``
        the successful answer's body is not read into memory: ``reader`` reads it as a stream
        (see :meth:`consume`).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        build: dict[str, Any] = {
            "params": _clean_params(params),
            "json": json,
            "data": data,
            "files": files,
            "content": content,
            "headers": headers,
        }
        if timeout is not None:
            build["timeout"] = timeout
        retry_number = 0
        while True:
            attempt = await self._attempt(method, path, resource, ok, idempotent, build, reader)
            if isinstance(attempt, httpx.Response):
                return attempt
            if attempt.retryable and retry_number + 1 < self.retry.attempts:
                retry_number += 1
                pause = self.retry.delay(retry_number, attempt.retry_after)
                status = attempt.error.status_code
                reason = f"answered {status}" if status else f"got no answer: {type(attempt.error).__name__}"
                self.retry.pausing(retry_number, pause, reason, attempt.retry_after)
                await anyio.sleep(pause)
                continue
            # Raised here, outside any ``except`` and with the sent request out of reach: neither
            # a chained httpx error nor a frame local carries the request's credentials.
            raise attempt.error

    async def _attempt(
        self,
        method: str,
        path: str,
        resource: str | None,
        ok: tuple[int, ...],
        idempotent: bool,
        build: Mapping[str, Any],
        reader: BodyReader | None = None,
    ) -> httpx.Response | _Failure:
        """Send the call once; a failure is returned (not raised) for :meth:`request` to decide."""
        started = time.monotonic()
        try:
            request = self._client.build_request(method, self._url(path), **build)
            response = await self._exchange(request)
            try:
                ok_status = response.status_code in ok
                if ok_status and reader is not None:
                    await reader(response)
                else:
                    limit = self.max_body_bytes if ok_status else ERROR_BODY_BYTES
                    await self._read_capped(response, limit, strict=ok_status, resource=resource)
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            logger.debug("%s %s: %s (%s)", method, path, type(exc).__name__, self.facility)
            certificate = self._certificate_error(exc, method, path, resource)
            if certificate is not None:
                return _Failure(certificate, retryable=False)
            return _Failure(
                TransportError(
                    f"{method} {path} got no answer: {type(exc).__name__}",
                    facility=self.facility,
                    resource=resource,
                ),
                retryable=idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout),
            )
        except FacilityError as exc:
            # From the auth flow or the body limit: final, and cut loose from the frames it
            # passed (they hold the request).
            return _Failure(detached(exc), retryable=False)
        logger.debug(
            "%s %s -> %s in %.3fs (%s)",
            method,
            path,
            response.status_code,
            time.monotonic() - started,
            self.facility,
        )
        if response.status_code in ok:
            return response
        status = response.status_code
        return _Failure(
            self._error_for(method, path, response, resource),
            retryable=status in self.retry.retry_statuses and (idempotent or status in (429, 503)),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    async def send(
        self, request: ApiRequest, *, resource: str | None = None, timeout: float | None = None
    ) -> httpx.Response:
        """Send ``request`` through :meth:`request`; returns the successful response."""
        return await self._send(request, resource=resource, timeout=timeout)

    async def _send(
        self,
        request: ApiRequest,
        *,
        resource: str | None,
        timeout: float | None = None,
        reader: BodyReader | None = None,
    ) -> httpx.Response:
        """:meth:`request` with the method, path, parameters and body of ``request``."""
        return await self.request(
            request.method,
            request.path,
            resource=resource,
            params=request.params,
            json=request.json,
            data=request.data,
            files=request.files,
            content=request.content,
            headers=request.headers,
            idempotent=request.idempotent,
            ok=request.ok,
            timeout=timeout,
            reader=reader,
        )

    async def consume(self, request: ApiRequest, reader: BodyReader, *, resource: str | None = None) -> None:
        """Send ``request`` and give its successful answer to ``reader``, which reads the body as a
        stream (``response.aiter_bytes()``...) and keeps what it needs: for answers whose useful
        part is small beside the whole (the last lines of a job's output), so memory follows the
        part, not the body. Retried as :meth:`send` is, a body broken off included when the call
        is idempotent; ``reader`` is called afresh on every try and must start over each time."""
        await self._send(request, resource=resource, reader=reader)

    async def call(
        self, request: ApiRequest, *, resource: str | None = None, timeout: float | None = None
    ) -> Any:
        """Send ``request`` and decode its JSON answer (:meth:`json`)."""
        response = await self.send(request, resource=resource, timeout=timeout)
        return self.json(response, resource=resource)

    def _certificate_error(
        self, exc: httpx.TransportError, method: str, path: str, resource: str | None
    ) -> TransportError | None:
        """A failed certificate check, said so (never retried: it fails the same way every time)."""
        failure = certificate_failure(exc)
        if failure is None:
            return None
        host = urlsplit(self.base_url).hostname or self.base_url
        return TransportError(
            f"{method} {path}: {certificate_message(failure, host)}",
            facility=self.facility,
            resource=resource,
        )

    async def _read_capped(
        self, response: httpx.Response, limit: int, *, strict: bool, resource: str | None
    ) -> None:
        """Read ``response``'s body into memory, never more than ``limit`` bytes of it.

        A body announced (``Content-Length``) or found while reading to be larger raises
        :class:`APIError` when ``strict`` (a successful answer cut short is useless); otherwise
        (an error page, only read for its message) the body is cut at ``limit``.
        """
        request = response.request
        where = f"{request.method} {request.url.path}"
        announced = response.headers.get("Content-Length", "")
        if strict and announced.isdigit() and int(announced) > limit:
            raise self._too_large(where, f"announced a body of {announced} bytes", limit, response, resource)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                if strict:
                    raise self._too_large(where, "sent a body", limit, response, resource)
                chunks.append(chunk[: limit - (size - len(chunk))])
                break
            chunks.append(chunk)
        # What httpx's own ``aread`` does, bounded: later ``.content``/``.json()`` use these bytes.
        response._content = b"".join(chunks)

    def _too_large(
        self, where: str, what: str, limit: int, response: httpx.Response, resource: str | None
    ) -> APIError:
        return APIError(
            f"{where} {what} over the limit of {limit} bytes (max_body_bytes)",
            facility=self.facility,
            resource=resource,
            status_code=response.status_code,
        )

    def json(self, response: httpx.Response, *, resource: str | None = None) -> Any:
        """Decode a JSON body, raising a clear :class:`APIError` for anything else."""
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            pass
        request = response.request
        error = APIError(
            f"{request.method} {request.url.path} answered a body that is not JSON",
            facility=self.facility,
            resource=resource,
            status_code=response.status_code,
            body=redact(response.text[:ERROR_BODY_BYTES], header_secrets(request.headers.items())),
        )
        del request, response  # they hold the sent request and its credentials
        raise error

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        resource: str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: Any = None,
        files: Any = None,
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> AsyncIterator[httpx.Response]:
        """Open a streamed call (large downloads and uploads). Not retried: callers retry whole
        transfers, since a half-read stream cannot be resumed blindly."""
        method = method.upper()
        build = {"params": _clean_params(params), "headers": headers, "content": content, "files": files}
        opened = await self._open(method, path, resource, build)
        if isinstance(opened, FacilityError):
            raise opened
        if opened.status_code not in ok:
            error = await self._stream_error(opened, method, path, resource)
            del opened  # it holds the sent request and its credentials
            raise error
        try:
            yield opened
        finally:
            await opened.aclose()

    async def _open(
        self, method: str, path: str, resource: str | None, build: Mapping[str, Any]
    ) -> httpx.Response | FacilityError:
        """Send a streamed call's request; a failure to get an answer is returned, not raised."""
        try:
            request = self._client.build_request(method, self._url(path), **build)
            return await self._exchange(request)
        except httpx.TransportError as exc:
            return self._certificate_error(exc, method, path, resource) or TransportError(
                f"{method} {path} got no answer: {type(exc).__name__}",
                facility=self.facility,
                resource=resource,
            )
        except FacilityError as exc:
            return detached(exc)

    async def _stream_error(
        self, response: httpx.Response, method: str, path: str, resource: str | None
    ) -> FacilityError:
        """The error of a streamed call answered with an error status (its body read, capped)."""
        try:
            await self._read_capped(response, ERROR_BODY_BYTES, strict=False, resource=resource)
        except httpx.TransportError:
            response._content = b""
        finally:
            await response.aclose()
        return self._error_for(method, path, response, resource)


@dataclasses.dataclass(frozen=True)
class _Failure:
    """One failed attempt of :meth:`ApiSession.request`: the error to raise if it is the last."""

    error: FacilityError
    retryable: bool
    retry_after: float | None = None


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Drop ``None`` values and render booleans the way the APIs expect (``true``/``false``)."""
    if params is None:
        return None
    cleaned: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        cleaned[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return cleaned

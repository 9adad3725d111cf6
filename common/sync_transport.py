"""The synchronous twin of an :class:`~facility_common.http.ApiSession`'s client.

While the sync facade drives a call on the caller's thread (:func:`facility_common.drive.drive`),
the session sends through an ``httpx.Client`` built with the very settings and auth of its
``httpx.AsyncClient`` (:func:`~facility_common.endpoints.sync_http_client`): :class:`SyncTwin`
builds it on first use and hands back each answer with its body readable through the async
interface (:class:`SyncBody`), so the session's one code path reads it either way. A session
whose auth or transport has no synchronous flow has no twin (:func:`speaks_sync`).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .endpoints import sync_http_client

__all__ = ["SyncBody", "SyncTwin", "speaks_sync"]


def speaks_sync(auth: httpx.Auth | None, transport: httpx.AsyncBaseTransport | None) -> bool:
    """Whether a session with ``auth`` and ``transport`` can also send through an
    ``httpx.Client``: the transport (if one is given) is a synchronous one too, and the auth has a
    synchronous flow equivalent to its async one: the class that writes its ``async_auth_flow``
    writes its ``sync_auth_flow`` too (as :class:`~facility_common.auth.FacilityAuth` does, whose
    subclasses only change how the token is written), or neither is overridden (only the shared
    ``auth_flow``)."""
    if transport is not None:
        if not isinstance(transport, httpx.BaseTransport):
            return False
        if isinstance(transport, httpx.MockTransport) and inspect.iscoroutinefunction(transport.handler):
            return False
    if auth is None:
        return True
    mro = type(auth).__mro__
    sync_owner = next(kind for kind in mro if "sync_auth_flow" in kind.__dict__)
    async_owner = next(kind for kind in mro if "async_auth_flow" in kind.__dict__)
    return sync_owner is async_owner


class SyncBody(httpx.AsyncByteStream):
    """A synchronous response body read through the async interface: each read blocks the
    driving thread and completes without suspending (see ``ApiSession._exchange``)."""

    def __init__(self, stream: httpx.SyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        self._stream.close()


class SyncTwin:
    """The ``httpx.Client`` of one session, built on first use from the session's settings
    (the keyword arguments of :func:`~facility_common.endpoints.sync_http_client`)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = settings
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _built(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = sync_http_client(**self._settings)
            return self._client

    def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on this thread, blocking; the body is left unread, to be read through
        the async interface."""
        response = self._built().send(request, stream=True)
        if isinstance(response.stream, httpx.SyncByteStream):
            response.stream = SyncBody(response.stream)
        return response

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

"""The synchronous facade: :class:`FacilityClient`, the same methods as the async client, blocking.

The facade is generated from :class:`~facility_common.AsyncFacilityClient`: every public coroutine
method gets a blocking twin that runs the async method itself, so the two surfaces cannot drift
(a parity test checks it) and each operation has one implementation. How the coroutine runs
(:mod:`facility_common.drive`):

* a plain request/response call (a job's state, a submit, a listing, a file operation) runs on
  the caller's thread, its HTTP going through the session's synchronous ``httpx.Client``: no
  thread hop and no async I/O layer, so it costs about what a bare ``httpx.Client`` request does;
* waits, batched polls, transfers, backend extras, and any call from a thread that already runs
  an event loop or of a backend that cannot speak synchronously, run on one background event-loop
  thread per process, shared by every sync client and replaced in a forked child.

A call interrupted in the caller's thread (Ctrl-C, a signal-based timeout) cancels its coroutine
and waits for it to stop, so an interrupted submit or wait does not go on in the background.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from .client import AsyncFacilityClient
from .drive import drive, on_home_loop, running_loop
from .options import BackendOptions

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["BlockingBackend", "FacilityClient"]

P = ParamSpec("P")
R = TypeVar("R")


def _sync(
    method: Callable[Concatenate[AsyncFacilityClient, P], Awaitable[R]], *, plain: bool = True
) -> Callable[Concatenate[FacilityClient, P], R]:
    """Make a blocking twin of an :class:`AsyncFacilityClient` method. ``plain`` marks a
    request/response call, run on the caller's thread where the backend allows it."""

    def blocking(self: FacilityClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        client = self._client_for_this_process()

        async def call() -> R:
            return await method(client, *args, **kwargs)

        return self._run(call, here=plain and client.backend.drives_synchronously())

    functools.update_wrapper(blocking, method)
    return blocking


def _sync_iter(
    method: Callable[Concatenate[AsyncFacilityClient, P], AsyncIterator[R]],
) -> Callable[Concatenate[FacilityClient, P], Iterator[R]]:
    """Make an iterator twin of an :class:`AsyncFacilityClient` async generator method: each item
    is fetched on the loop thread; leaving the loop early (``break``, an exception, the iterator
    collected) closes the async generator there too, which ends its open requests."""

    def iterate(self: FacilityClient, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[R]:
        agen = method(self._client_for_this_process(), *args, **kwargs)
        done = object()

        async def step() -> R | object:
            try:
                return await agen.__anext__()
            except StopAsyncIteration:
                return done

        async def close() -> None:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                await aclose()

        try:
            while True:
                item = self._run(step)
                if item is done:
                    return
                yield cast(R, item)
        finally:
            self._run(close)

    functools.update_wrapper(iterate, method)
    return iterate


class BlockingBackend:
    """The backend of a :class:`FacilityClient`, with its coroutine methods made blocking.

    ``client.backend.token_expiry()`` runs S3M's ``token_expiry`` coroutine on the facade's event
    loop and returns its result; any other attribute is the backend's own. It is how the API
    extras documented on the facility pages (``introspect``, ``command``, ``submit_path``...) are
    called from synchronous code.
    """

    def __init__(self, client: FacilityClient) -> None:
        self._facade = client

    def __getattr__(self, name: str) -> Any:
        if name == "_facade":  # not set yet (copy, unpickling): no backend to look in
            raise AttributeError(name)
        backend = self._facade._client_for_this_process().backend
        attribute = getattr(backend, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attribute):
            return attribute

        @functools.wraps(attribute)
        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._facade.call_backend(name, *args, **kwargs)

        return blocking

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._facade._client_for_this_process().backend)))

    def __repr__(self) -> str:
        return f"BlockingBackend({self._facade._client.backend.describe()})"


class FacilityClient:
    """Synchronous client with the same methods as :class:`AsyncFacilityClient`.

    Calls run on a background event-loop thread shared by all sync clients of the process, so a
    sync client may be used from any thread, including inside another event loop. After
    a fork, a client built with :meth:`connect` rebuilds its connections in the child.
    :attr:`backend` reaches the backend's own methods (the API extras of the facility pages),
    blocking too: ``client.backend.token_expiry()``; ``client.call_backend("token_expiry")`` is
    the same call.
    """

    def __init__(
        self,
        client: AsyncFacilityClient,
        _factory: Callable[[], AsyncFacilityClient] | None = None,
    ) -> None:
        self._client = client
        self._factory = _factory
        self._pid = os.getpid()

    @classmethod
    def connect(
        cls,
        facility: str,
        *,
        base_url: str,
        auth: Any = None,
        options: BackendOptions | None = None,
        **values: Any,
    ) -> FacilityClient:
        """Create a client for the API ``facility``; see :meth:`AsyncFacilityClient.connect`."""
        client = AsyncFacilityClient.connect(
            facility, base_url=base_url, auth=auth, options=options, **values
        )

        def factory() -> AsyncFacilityClient:
            return AsyncFacilityClient.connect(
                facility, base_url=base_url, auth=auth, options=options, **values
            )

        return cls(client, factory)

    @property
    def facility(self) -> str:
        return self._client.facility

    @property
    def async_client(self) -> AsyncFacilityClient:
        """The async client behind this facade (for use on its own event loop only)."""
        return self._client_for_this_process()

    @property
    def backend(self) -> BlockingBackend:
        """The backend, its coroutine methods made blocking (see :class:`BlockingBackend`)."""
        return BlockingBackend(self)

    def __repr__(self) -> str:
        return f"FacilityClient({self._client.backend.describe()})"

    def _client_for_this_process(self) -> AsyncFacilityClient:
        if self._pid != os.getpid() and self._factory is not None:
            self._client, self._pid = self._factory(), os.getpid()
        return self._client

    def _run(self, call: Callable[[], Coroutine[Any, Any, R]], *, here: bool = False) -> R:
        """Run ``call()`` to completion: on this thread when ``here`` and no event loop runs
        in it (:func:`~facility_common.drive.drive`), else on the home loop."""
        if here and running_loop() is None:
            return drive(call)
        return on_home_loop(call)

    def close(self) -> None:
        """Close the connections of this client."""
        client = self._client_for_this_process()
        self._run(client.aclose)

    def __enter__(self) -> FacilityClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    resources = _sync(AsyncFacilityClient.resources)
    resource = _sync(AsyncFacilityClient.resource)
    outages = _sync(AsyncFacilityClient.outages)
    outage = _sync(AsyncFacilityClient.outage)
    is_available = _sync(AsyncFacilityClient.is_available)
    whoami = _sync(AsyncFacilityClient.whoami)
    projects = _sync(AsyncFacilityClient.projects)
    allocations = _sync(AsyncFacilityClient.allocations)
    submit = _sync(AsyncFacilityClient.submit)
    get_job = _sync(AsyncFacilityClient.get_job)
    find_job_by_tag = _sync(AsyncFacilityClient.find_job_by_tag)
    list_jobs = _sync(AsyncFacilityClient.list_jobs)
    cancel = _sync(AsyncFacilityClient.cancel)
    update_job = _sync(AsyncFacilityClient.update_job)
    poll_jobs = _sync(AsyncFacilityClient.poll_jobs, plain=False)
    wait = _sync(AsyncFacilityClient.wait, plain=False)
    job_output = _sync(AsyncFacilityClient.job_output)
    follow_output = _sync_iter(AsyncFacilityClient.follow_output)
    call_backend = _sync(AsyncFacilityClient.call_backend, plain=False)
    ls = _sync(AsyncFacilityClient.ls)
    stat = _sync(AsyncFacilityClient.stat)
    mkdir = _sync(AsyncFacilityClient.mkdir)
    rm = _sync(AsyncFacilityClient.rm)
    mv = _sync(AsyncFacilityClient.mv)
    cp = _sync(AsyncFacilityClient.cp)
    chmod = _sync(AsyncFacilityClient.chmod)
    chown = _sync(AsyncFacilityClient.chown)
    symlink = _sync(AsyncFacilityClient.symlink)
    checksum = _sync(AsyncFacilityClient.checksum)
    file_type = _sync(AsyncFacilityClient.file_type)
    compress = _sync(AsyncFacilityClient.compress)
    extract = _sync(AsyncFacilityClient.extract)
    view = _sync(AsyncFacilityClient.view)
    head = _sync(AsyncFacilityClient.head)
    tail = _sync(AsyncFacilityClient.tail)
    upload = _sync(AsyncFacilityClient.upload, plain=False)
    download = _sync(AsyncFacilityClient.download, plain=False)


def run_blocking(
    call: Callable[[], Coroutine[Any, Any, R]],
    facade: str = "a blocking client",
    instead: str = "its async client",
) -> R:
    """Run ``call()`` on the process's home loop and wait for its result: what every blocking
    facade of the package (:class:`FacilityClient`, the transfer client's) does for a call that
    does not run on the caller's thread (see :func:`~facility_common.drive.on_home_loop`)."""
    return on_home_loop(call, facade, instead)

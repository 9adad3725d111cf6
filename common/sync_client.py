"""The synchronous facade: :class:`FacilityClient`, the same methods as the async client, blocking.

Calls run on one background event-loop thread per process (a plain asyncio loop), shared by every
sync client and replaced in a forked child. The facade is generated from
:class:`~facility_common.AsyncFacilityClient`: every public coroutine method gets a blocking twin,
so the two surfaces cannot drift (a parity test checks it). A call interrupted in the caller's
thread (Ctrl-C, a signal-based timeout) cancels its coroutine and waits for it to stop, so an
interrupted submit or wait does not go on in the background.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from .client import AsyncFacilityClient
from .options import BackendOptions

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["BlockingBackend", "FacilityClient"]

P = ParamSpec("P")
R = TypeVar("R")
#: How long an interrupted call may take to finish cancelling (seconds).
CANCEL_WAIT = 10.0


class _LoopThread:
    """One asyncio event loop on a daemon thread per process, shared by every sync client.

    A forked child does not inherit the parent's loop thread; ``os.register_at_fork`` drops the
    inherited reference so the child starts a loop of its own on first use.
    """

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="facility-client-loop", daemon=True)
                thread.start()
                cls._loop, cls._thread = loop, thread
            return cls._loop

    @classmethod
    def forget_after_fork(cls) -> None:
        cls._lock = threading.Lock()
        cls._loop = cls._thread = None

    @classmethod
    def shutdown(cls) -> None:
        with cls._lock:
            loop, thread = cls._loop, cls._thread
            cls._loop = cls._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            if not loop.is_running():
                loop.close()


atexit.register(_LoopThread.shutdown)
os.register_at_fork(after_in_child=_LoopThread.forget_after_fork)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _sync(
    method: Callable[Concatenate[AsyncFacilityClient, P], Awaitable[R]],
) -> Callable[Concatenate[FacilityClient, P], R]:
    """Make a blocking twin of an :class:`AsyncFacilityClient` method."""

    def blocking(self: FacilityClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        async def call() -> R:
            return await method(self._client_for_this_process(), *args, **kwargs)

        return self._run(call)

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

    def _run(self, call: Callable[[], Coroutine[Any, Any, R]]) -> R:
        return run_blocking(call, "FacilityClient", "AsyncFacilityClient")

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
    poll_jobs = _sync(AsyncFacilityClient.poll_jobs)
    wait = _sync(AsyncFacilityClient.wait)
    job_output = _sync(AsyncFacilityClient.job_output)
    follow_output = _sync_iter(AsyncFacilityClient.follow_output)
    call_backend = _sync(AsyncFacilityClient.call_backend)
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
    upload = _sync(AsyncFacilityClient.upload)
    download = _sync(AsyncFacilityClient.download)


def run_blocking(
    call: Callable[[], Coroutine[Any, Any, R]],
    facade: str = "a blocking client",
    instead: str = "its async client",
) -> R:
    """Run ``call()`` on the process's loop thread and wait for its result: what every blocking
    facade of the package (:class:`FacilityClient`, the transfer client's) does per call.

    An interruption in the caller's thread (Ctrl-C, a signal-based timeout) or a failure there
    cancels the coroutine and waits for it to stop, so an interrupted call does not go on in the
    background. Calling from the loop thread itself is refused (it would deadlock).
    """
    if _running_loop() is _LoopThread.loop():
        raise RuntimeError(f"{facade} cannot be called from its own event loop; use {instead}")
    finished = threading.Event()

    async def guarded() -> R:
        try:
            return await call()
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(guarded(), _LoopThread.loop())
    try:
        return future.result()
    except BaseException:
        # Interrupted here (KeyboardInterrupt, a signal-based timeout) or failed there: make
        # sure the call stops on the loop before the caller goes on.
        if not future.done():
            future.cancel()
            finished.wait(CANCEL_WAIT)
        raise

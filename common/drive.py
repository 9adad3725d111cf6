"""Running the async client's coroutines for synchronous callers, two ways.

* **The home loop**: one asyncio event loop on a daemon thread per process, shared by every sync
  client. :func:`on_home_loop` hands a coroutine to it and blocks until it is done. Everything
  that holds event-loop-bound state across calls lives there: token sources (their lock and their
  own HTTP clients), the shared status pollers, transfers.
* **The caller's thread** (the fast path): :func:`drive` runs a coroutine on a private event loop
  of the calling thread while :func:`driving` is true. :class:`~facility_common.http.ApiSession`
  then sends through its synchronous ``httpx.Client``, so a plain request/response call crosses no
  thread and no async I/O layer; every other await (a retry pause, a lock, a task group) works as
  usual on the private loop. The coroutine is the very one the async client runs: there is one
  implementation of each operation. A token the session's auth does not hold yet is fetched on
  the home loop (:func:`on_home_loop`), where its source lives.

Either way an interrupted call (Ctrl-C, a signal-based timeout) stops its coroutine before the
caller goes on, and a forked child starts with loops of its own.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import os
import threading
import weakref
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from typing import Any, TypeVar

import anyio

__all__ = [
    "CANCEL_WAIT",
    "HomeLoop",
    "SharedLock",
    "complete",
    "drive",
    "driving",
    "on_home_loop",
    "running_loop",
    "step_through",
]

R = TypeVar("R")
Y = TypeVar("Y")
S = TypeVar("S")

#: How long an interrupted call may take to finish cancelling (seconds).
CANCEL_WAIT = 10.0

_DRIVING: contextvars.ContextVar[bool] = contextvars.ContextVar("facility_common_driving", default=False)


def driving() -> bool:
    """True inside :func:`drive`: sessions send through their synchronous transport."""
    return _DRIVING.get()


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class HomeLoop:
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


atexit.register(HomeLoop.shutdown)
os.register_at_fork(after_in_child=HomeLoop.forget_after_fork)


def on_home_loop(
    call: Callable[[], Coroutine[Any, Any, R]],
    facade: str = "FacilityClient",
    instead: str = "AsyncFacilityClient",
) -> R:
    """Run ``call()`` on the home loop and return its result, blocking this thread.

    Interrupted here (KeyboardInterrupt, a signal-based timeout) or failed there, the coroutine
    is cancelled and waited for (at most :data:`CANCEL_WAIT` seconds) before the exception goes on.
    Calling from the home loop itself is refused (it would deadlock): ``facade`` names the caller
    and ``instead`` what to use there.
    """
    if running_loop() is HomeLoop.loop():
        raise RuntimeError(f"{facade} cannot be called from its own event loop; use {instead}")
    finished = threading.Event()

    async def guarded() -> R:
        try:
            return await call()
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(guarded(), HomeLoop.loop())
    try:
        return future.result()
    except BaseException:
        if not future.done():
            future.cancel()
            finished.wait(CANCEL_WAIT)
        raise


class _CallerLoop(threading.local):
    """The private event loop of one thread (and the process that made it)."""

    loop: asyncio.AbstractEventLoop | None = None
    pid: int = 0


_caller = _CallerLoop()
#: Loops a forked child inherited: never closed there, since closing one would take its
#: registrations out of the epoll set the parent's copy still uses.
_inherited: list[asyncio.AbstractEventLoop] = []


def _close_if_ours(loop: asyncio.AbstractEventLoop, pid: int) -> None:
    if os.getpid() == pid and not loop.is_running() and not loop.is_closed():
        loop.close()


def _caller_loop() -> asyncio.AbstractEventLoop:
    loop = _caller.loop
    if loop is not None and _caller.pid == os.getpid():
        return loop
    if loop is not None:
        _inherited.append(loop)
    loop = asyncio.new_event_loop()
    _caller.loop, _caller.pid = loop, os.getpid()
    # Closed when the thread ends (its locals go) or at exit, in the process that made it.
    weakref.finalize(threading.current_thread(), _close_if_ours, loop, os.getpid())
    return loop


def drive(call: Callable[[], Coroutine[Any, Any, R]]) -> R:
    """Run ``call()`` to completion on this thread's private event loop, :func:`driving` true.

    Must not be called from a thread with a running event loop (use :func:`on_home_loop`).
    Interrupted (KeyboardInterrupt, a signal-based timeout), the coroutine is cancelled and run
    until it has stopped (at most :data:`CANCEL_WAIT` seconds) before the exception goes on.
    """
    loop = _caller_loop()
    token = _DRIVING.set(True)
    try:
        task = loop.create_task(call())  # the task keeps a copy of this context
    finally:
        _DRIVING.reset(token)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            task.cancel()
            loop.run_until_complete(asyncio.wait([task], timeout=CANCEL_WAIT))
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: its own failure while stopping is not logged
        raise


def complete(awaitable: Coroutine[Any, Any, R]) -> R:
    """The result of a coroutine that finishes without ever suspending, run here and now.

    For code written once as a coroutine and also needed from synchronous code (an httpx auth
    flow) where every await it makes completes at once; raises RuntimeError if it suspends.
    """
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    awaitable.close()
    raise RuntimeError("a coroutine driven synchronously tried to wait")


def step_through(flow: AsyncGenerator[Y, S]) -> Generator[Y, S, None]:
    """An async generator whose awaits all complete at once, as a plain generator (httpx's sync
    auth flow from its async one): every ``asend`` is run by :func:`complete`."""
    try:
        sent: Any = None
        while True:
            try:
                item = complete(flow.asend(sent))
            except StopAsyncIteration:
                return
            sent = yield item
    finally:
        complete(flow.aclose())


class SharedLock:
    """An async lock that holds across the event loops and threads of one process.

    Backend caches filled once (the resource list, the data-parser version, the systems) may be
    filled from the home loop and from callers' private loops at the same time; an ``anyio.Lock``
    must not be shared between loops (a waiter on one loop is never woken by a release on
    another). This one is a thread lock taken without blocking, retried after short sleeps: the
    contention it arbitrates is rare (the first calls of a client) and short.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def locked(self) -> bool:
        return self._lock.locked()

    async def __aenter__(self) -> None:
        pause = 0.001
        while not self._lock.acquire(blocking=False):
            await anyio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def __aexit__(self, *exc_info: object) -> None:
        self._lock.release()

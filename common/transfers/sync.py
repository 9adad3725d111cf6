"""``TransferClient``: the blocking facade of :class:`~facility_common.transfers.AsyncTransferClient`.

Built the way :class:`~facility_common.FacilityClient` is: every public coroutine method of the
async client gets a blocking twin of the same name, signature and docstring (a parity test keeps
them so), run on the process's one event-loop thread
(:func:`facility_common.sync_client.run_blocking`); a client made with :meth:`connect` rebuilds
itself in a forked child, and an interrupted call stops its coroutine.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from ..sync_client import run_blocking
from .client import AsyncTransferClient

if TYPE_CHECKING:
    from types import TracebackType

    from .poller import TransferPoller
    from .sites import FacilitySite

__all__ = ["TransferClient"]

P = ParamSpec("P")
R = TypeVar("R")


def _blocking(
    method: Callable[Concatenate[AsyncTransferClient, P], Awaitable[R]],
) -> Callable[Concatenate[TransferClient, P], R]:
    """The blocking twin of an :class:`AsyncTransferClient` method."""

    def blocking(self: TransferClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        async def call() -> R:
            return await method(self._client_for_this_process(), *args, **kwargs)

        return self._run(call)

    functools.update_wrapper(blocking, method)
    return blocking


class TransferClient:
    """Blocking client with the methods of :class:`AsyncTransferClient`."""

    def __init__(
        self, client: AsyncTransferClient, _factory: Callable[[], AsyncTransferClient] | None = None
    ) -> None:
        self._client = client
        self._factory = _factory
        self._pid = os.getpid()

    @classmethod
    def connect(cls, **arguments: Any) -> TransferClient:
        """A client built by :meth:`AsyncTransferClient.connect` with the same arguments."""
        return cls(AsyncTransferClient.connect(**arguments), lambda: AsyncTransferClient.connect(**arguments))

    @property
    def async_client(self) -> AsyncTransferClient:
        """The async client behind this facade (for use on its own event loop only)."""
        return self._client_for_this_process()

    def add_site(self, site: FacilitySite) -> None:
        """Make ``site`` known to endpoints (see :meth:`AsyncTransferClient.add_site`)."""
        self._client_for_this_process().add_site(site)

    def route(self, name: str | None = None) -> Any:
        """The route ``name`` (see :meth:`AsyncTransferClient.route`)."""
        return self._client_for_this_process().route(name)

    def poller(self, route: str | None = None) -> TransferPoller:
        """The shared poller of a route."""
        return self._client_for_this_process().poller(route)

    def __repr__(self) -> str:
        return f"TransferClient({self._client!r})"

    def _client_for_this_process(self) -> AsyncTransferClient:
        if self._pid != os.getpid() and self._factory is not None:
            self._client, self._pid = self._factory(), os.getpid()
        return self._client

    def _run(self, call: Callable[[], Coroutine[Any, Any, R]]) -> R:
        return run_blocking(call, "TransferClient", "AsyncTransferClient")

    def close(self) -> None:
        """Close the connections of this client."""
        self._run(self._client_for_this_process().aclose)

    def __enter__(self) -> TransferClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    resolve = _blocking(AsyncTransferClient.resolve)
    submission_id = _blocking(AsyncTransferClient.submission_id)
    prepare = _blocking(AsyncTransferClient.prepare)
    submit = _blocking(AsyncTransferClient.submit)
    transfer = _blocking(AsyncTransferClient.transfer)
    get_transfer = _blocking(AsyncTransferClient.get_transfer)
    list_transfers = _blocking(AsyncTransferClient.list_transfers)
    find_transfer = _blocking(AsyncTransferClient.find_transfer)
    cancel = _blocking(AsyncTransferClient.cancel)
    events = _blocking(AsyncTransferClient.events)
    failed_files = _blocking(AsyncTransferClient.failed_files)
    mkdir = _blocking(AsyncTransferClient.mkdir)
    poll = _blocking(AsyncTransferClient.poll)
    wait = _blocking(AsyncTransferClient.wait)

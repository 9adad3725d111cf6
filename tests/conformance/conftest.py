"""The backend contract's fixtures: every registered backend flavour, driven sync and async.

A flavour is one backend pointed at its emulated API; each backend adds a module to
``flavours/`` with a ``FLAVOURS`` mapping. The async client is driven on a test-owned event loop
through :class:`PortalDriver`, so the same test bodies exercise both implementations.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anyio.from_thread
import pytest

from facility_common import AsyncFacilityClient, FacilityClient
from facility_common.backends.base import Capability

from . import flavours
from .flavour import Flavour


def _discover_flavours() -> dict[str, Callable[[Any], Flavour]]:
    """Every module in ``flavours/`` contributes a ``FLAVOURS`` mapping (one per backend), and
    may add ``REFERENCE_FLAVOURS``: the same backend against its real server's behaviours."""
    found: dict[str, Callable[[Any], Flavour]] = {}
    for info in pkgutil.iter_modules(flavours.__path__):
        module = importlib.import_module(f"{flavours.__name__}.{info.name}")
        found.update(module.FLAVOURS)
        found.update(getattr(module, "REFERENCE_FLAVOURS", {}))
    return found


FLAVOURS = _discover_flavours()


class PortalDriver:
    """Calls an :class:`AsyncFacilityClient`'s coroutines on a blocking portal's event loop."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, client: AsyncFacilityClient) -> None:
        self._portal = portal
        self._client = client

    def __getattr__(self, name: str) -> Any:
        member = getattr(self._client, name)
        if not inspect.iscoroutinefunction(member):
            return member

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._portal.call(functools.partial(member, *args, **kwargs))

        return call


@pytest.fixture(scope="module", params=sorted(FLAVOURS))
def flavour(request: pytest.FixtureRequest, emulator: Any, emulator_of: Any) -> Flavour:
    """The flavour, pointed at the session's emulator of the fidelity it runs against."""
    built = FLAVOURS[request.param](emulator)
    if built.fidelity == "spec":
        return built
    return FLAVOURS[request.param](emulator_of(built.fidelity))


@pytest.fixture(scope="module", params=["sync", "async"])
def client(request: pytest.FixtureRequest, flavour: Flavour) -> Iterator[Any]:
    """A client of the flavour, through the sync facade or the async implementation (a flavour
    against a real server's behaviours runs through the sync facade only: the two surfaces are
    shown to agree on the spec flavours, and the second run would only cost time)."""
    if request.param == "async" and flavour.fidelity != "spec":
        pytest.skip("reference-mode flavours run through the sync facade only")
    if request.param == "sync":
        with FacilityClient.connect(
            flavour.facility, base_url=flavour.base_url, auth=flavour.auth, **flavour.options
        ) as sync_client:
            yield sync_client
        return
    with anyio.from_thread.start_blocking_portal() as portal:
        async_client = AsyncFacilityClient.connect(
            flavour.facility, base_url=flavour.base_url, auth=flavour.auth, **flavour.options
        )
        yield PortalDriver(portal, async_client)
        portal.call(async_client.aclose)


@pytest.fixture
def workdir(client: Any, flavour: Flavour) -> str:
    """A fresh remote directory for one test (only for flavours with files)."""
    if Capability.FILES not in flavour.capabilities:
        pytest.skip(f"{flavour.facility} has no file operations")
    path = f"{flavour.scratch}/conformance-{uuid.uuid4().hex[:8]}"
    client.mkdir(flavour.compute, path, parents=True)
    return path

"""The backend contract's fixtures: every registered backend flavour, through the async client.

A flavour is one backend pointed at its emulated API; each backend adds a module to
``flavours/`` with a ``FLAVOURS`` mapping. The async client (the single implementation) is driven
on a test-owned event loop through :class:`PortalDriver` for every flavour. The sync facade is
generated from it method by method (``FacilityClient`` in ``common/client.py``), so it runs the
contract for one flavour only (``FACADE_FLAVOUR``), and tests/unit/test_public_api.py keeps its
methods and signatures identical to the async client's.

A test module may restrict the flavours it runs on with a module-level ``FLAVOUR_NAMES``.
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
        if inspect.isasyncgenfunction(member):
            # An async iterator (follow_output) is read to its end on the loop, as a list.
            async def collect(*args: Any, **kwargs: Any) -> list[Any]:
                return [item async for item in member(*args, **kwargs)]

            return lambda *args, **kwargs: self._portal.call(functools.partial(collect, *args, **kwargs))
        if not inspect.iscoroutinefunction(member):
            return member

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._portal.call(functools.partial(member, *args, **kwargs))

        return call


#: The flavour whose contract also runs through the sync facade: full capabilities (files too) and
#: quick jobs, so every facade method is called at least once.
FACADE_FLAVOUR = "iri-v2"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``flavour`` (and ``client``, where a test uses it) with module scope.

    Tests with a client run once per flavour through the async client and once more through the
    sync facade for :data:`FACADE_FLAVOUR`; tests of the flavour alone run once per flavour.
    """
    if "flavour" not in metafunc.fixturenames:
        return
    names = sorted(getattr(metafunc.module, "FLAVOUR_NAMES", FLAVOURS))
    if "client" not in metafunc.fixturenames:
        metafunc.parametrize("flavour", names, indirect=True, scope="module")
        return
    cases = [pytest.param(name, "async", id=f"{name}-async") for name in names]
    if FACADE_FLAVOUR in names:
        cases.append(pytest.param(FACADE_FLAVOUR, "sync", id=f"{FACADE_FLAVOUR}-sync"))
    metafunc.parametrize(("flavour", "client"), cases, indirect=True, scope="module")


@pytest.fixture(scope="module")
def flavour(request: pytest.FixtureRequest, emulator: Any, emulator_of: Any) -> Flavour:
    """The flavour, pointed at the session's emulator of the fidelity it runs against."""
    built = FLAVOURS[request.param](emulator)
    if built.fidelity == "spec":
        return built
    return FLAVOURS[request.param](emulator_of(built.fidelity))


@pytest.fixture(scope="module")
def client(request: pytest.FixtureRequest, flavour: Flavour) -> Iterator[Any]:
    """A client of the flavour, through the async implementation or the sync facade."""
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

"""The backend contract's fixtures: every registered backend flavour, driven sync and async.

A flavour is one backend pointed at its emulated API. The async client is driven on a test-owned
event loop through :class:`PortalDriver`, so the same test bodies exercise both implementations.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anyio.from_thread
import pytest

from facility_common import AsyncFacilityClient, FacilityClient

from ..conftest import resource_id


@dataclasses.dataclass(frozen=True)
class Flavour:
    """One backend flavour as the contract tests see it."""

    facility: str
    base_url: str
    auth: Any
    compute: str
    compute_id: str
    scratch: str
    options: dict[str, Any]


def iri_flavour(server: Any, version: str) -> Flavour:
    credentials = server.credentials
    return Flavour(
        facility="iri",
        base_url=server.iri_url(version),
        auth={
            "type": "oidc_client_credentials",
            "token_url": credentials["token_url"],
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
        compute="polaris",
        compute_id=resource_id(server, "polaris"),
        scratch=credentials["home"],
        options={"task_poll_interval": 0.02}
        if version == "v1"
        else {"task_poll_interval": 0.02, "project": "demo"},
    )


FLAVOURS: dict[str, Callable[[Any], Flavour]] = {
    "iri-v1": functools.partial(iri_flavour, version="v1"),
    "iri-v2": functools.partial(iri_flavour, version="v2"),
}


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
def flavour(request: pytest.FixtureRequest, emulator: Any) -> Flavour:
    return FLAVOURS[request.param](emulator)


@pytest.fixture(scope="module", params=["sync", "async"])
def client(request: pytest.FixtureRequest, flavour: Flavour) -> Iterator[Any]:
    """A client of the flavour, through the sync facade or the async implementation."""
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
    """A fresh remote directory for one test."""
    path = f"{flavour.scratch}/conformance-{uuid.uuid4().hex[:8]}"
    client.mkdir(flavour.compute, path, parents=True)
    return path

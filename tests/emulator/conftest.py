"""Fixtures for the emulator's own tests: one shared in-process server plus helpers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from facility_emulator import EmulatorConfig, EmulatorServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        root=tmp_path_factory.mktemp("emu-root"), queue_delay=0.1, task_delay=0.02, kill_grace=0.5
    )
    with EmulatorServer(config) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        srv: EmulatorServer = request.getfixturevalue("server")
        httpx.delete(f"{srv.url}/_emulator/faults")


@pytest.fixture(scope="session")
def reference_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """A second emulator whose IRI flavour answers as the IRI reference server does."""
    config = EmulatorConfig(
        root=tmp_path_factory.mktemp("emu-ref-root"),
        queue_delay=0.1,
        task_delay=0.02,
        kill_grace=0.5,
        fidelity="iri=reference",
    )
    with EmulatorServer(config) as srv:
        yield srv


def issue_token(server: EmulatorServer) -> str:
    """A client-credentials access token of ``server``."""
    creds = server.credentials
    resp = httpx.post(
        creds["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


@pytest.fixture(scope="session")
def token(server: EmulatorServer) -> str:
    return issue_token(server)


@pytest.fixture
def client(server: EmulatorServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.iri_url("v1"), headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as c:
        yield c


@pytest.fixture
def client_v2(server: EmulatorServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.iri_url("v2"), headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as c:
        yield c

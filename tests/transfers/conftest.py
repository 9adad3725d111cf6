"""Fixtures of the transfer suite: an emulator of its own (tests slow copies down and inject
faults), and transfer clients wired to it with three sites:

* ``alcf``: the emulated IRI v2 API, whose storage access endpoints name the ALCF collections;
* ``nersc``: the emulated Superfacility API, with its collections configured (``dtn``, ``hpss``);
* ``olcf``: a collection table alone (``orion``, ``kronos``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from facility_common import ClientSettings, RetryPolicy
from facility_common.transfers import AsyncTransferClient, FacilitySite, TransferClient

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05, jitter=0.0)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from facility_emulator import EmulatorConfig, EmulatorServer

    config = EmulatorConfig(root=tmp_path_factory.mktemp("transfers"), queue_delay=0.05, task_delay=0.01)
    with EmulatorServer(config) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _calm(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts without faults and copies at full speed."""
    yield
    if "server" in request.fixturenames:
        emulator = request.getfixturevalue("server")
        httpx.delete(f"{emulator.url}/_emulator/faults")
        httpx.put(f"{emulator.url}/_emulator/globus", json={"bytes_per_second": 0})


def collection_id(server: Any, name: str) -> str:
    return str(server.flavour_credentials("globus")["collections"][name]["id"])


def globus_auth(server: Any) -> dict[str, Any]:
    """The emulator's confidential client, its scopes managed by the route."""
    credentials = server.credentials
    return {
        "type": "globus_confidential",
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
        "auth_base_url": f"{server.url}/globus/",
    }


def iri_settings(server: Any, name: str = "alcf", version: str = "v2", **extra: Any) -> ClientSettings:
    credentials = server.credentials
    return ClientSettings(
        conn_id=name,
        backend="iri",
        base_url=server.iri_url(version),
        auth={
            "type": "oidc_client_credentials",
            "token_url": credentials["token_url"],
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
        options={"project": "demo"} if version == "v2" else {},
        **extra,
    )


def sfapi_settings(server: Any, name: str = "nersc") -> ClientSettings:
    extra = server.flavour_credentials("sfapi")
    return ClientSettings(
        conn_id=name,
        backend="sfapi",
        base_url=server.api_url("sfapi"),
        auth={
            "type": "private_key_jwt",
            "token_url": extra["token_url"],
            "client_id": extra["client_id"],
            "private_key": extra["private_key"],
        },
        collections={"dtn": collection_id(server, "nersc-dtn"), "hpss": collection_id(server, "nersc-hpss")},
    )


def sites(server: Any) -> list[FacilitySite]:
    return [
        FacilitySite("alcf", iri_settings(server)),
        FacilitySite("nersc", sfapi_settings(server)),
        FacilitySite(
            "olcf",
            collections={
                "orion": collection_id(server, "olcf-dtn"),
                "kronos": collection_id(server, "olcf-kronos"),
            },
        ),
    ]


def async_client(server: Any, *, retry: RetryPolicy = FAST_RETRY, **options: Any) -> AsyncTransferClient:
    return AsyncTransferClient.connect(
        globus_auth=globus_auth(server),
        globus_url=f"{server.url}/transfer/",
        sites=sites(server),
        retry=retry,
        **options,
    )


def sync_client(server: Any, **options: Any) -> TransferClient:
    return TransferClient(async_client(server, **options))


def stat(server: Any, route: str) -> int:
    return int(httpx.get(f"{server.url}/_emulator/stats").json()["routes"].get(route, 0))


def set_rate(server: Any, bytes_per_second: float) -> None:
    httpx.put(
        f"{server.url}/_emulator/globus", json={"bytes_per_second": bytes_per_second}
    ).raise_for_status()


def set_faults(server: Any, spec: str) -> None:
    httpx.put(f"{server.url}/_emulator/faults", json={"spec": spec}).raise_for_status()

"""A busy or restarting token endpoint is asked again; a refusal of the credentials is final."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from facility_common import FacilityClient
from facility_common.errors import AuthenticationError
from facility_emulator import EmulatorConfig, EmulatorServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    root: Path = tmp_path_factory.mktemp("token-faults")
    with EmulatorServer(EmulatorConfig(root=root, queue_delay=0.05, task_delay=0.0)) as running:
        yield running


def _faults(server: EmulatorServer, spec: str | None) -> None:
    if spec is None:
        httpx.delete(f"{server.url}/_emulator/faults").raise_for_status()
    else:
        httpx.put(f"{server.url}/_emulator/faults", json={"spec": spec}).raise_for_status()


def _token_requests(server: EmulatorServer) -> int:
    routes = httpx.get(f"{server.url}/_emulator/stats").json()["routes"]
    return int(routes.get("POST /auth/token", 0))


def _auth(server: EmulatorServer, secret: str | None = None) -> dict[str, str]:
    credentials = server.credentials
    return {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": secret or credentials["client_secret"],
    }


@pytest.mark.parametrize("fault", ["503", "429=retry_after:0", "502", "drop_before", "504"])
def test_a_busy_token_endpoint_is_asked_again(server: EmulatorServer, fault: str) -> None:
    _faults(
        server,
        f"{fault}=count:2@POST /auth/token" if "=" not in fault else f"{fault}:count:2@POST /auth/token",
    )
    try:
        before = _token_requests(server)
        with FacilityClient.connect("iri", base_url=server.iri_url("v1"), auth=_auth(server)) as client:
            assert client.resources()
        assert _token_requests(server) - before == 3
    finally:
        _faults(server, None)


def test_refused_credentials_are_not_asked_again(server: EmulatorServer) -> None:
    before = _token_requests(server)
    with (
        FacilityClient.connect(
            "iri", base_url=server.iri_url("v1"), auth=_auth(server, secret="wrong-secret")
        ) as client,
        pytest.raises(AuthenticationError) as raised,
    ):
        client.resources()
    assert not raised.value.transient
    assert "wrong-secret" not in str(raised.value)
    assert _token_requests(server) - before == 1

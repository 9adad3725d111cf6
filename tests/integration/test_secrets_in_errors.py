"""No credential can be reached from a raised error: its text, ``body``, chain or frames.

Error trackers capture an exception's ``__cause__``/``__context__`` chain and the local variables
of each frame. Each case makes a backend fail against the emulator (a token endpoint answering 503
to every try, an API whose connections drop, an API that echoes the request's headers in its
400 answer) and searches everything :mod:`tests.secret_search` renders of the error for every
credential the emulator knows and every token it issued.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from facility_common import FacilityClient, FacilityError, RetryPolicy
from facility_emulator import EmulatorConfig, EmulatorServer

from ..secret_search import leaks


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    root: Path = tmp_path_factory.mktemp("secrets-in-errors")
    with EmulatorServer(EmulatorConfig(root=root, queue_delay=0.05, task_delay=0.0)) as running:
        yield running


def _faults(server: EmulatorServer, spec: str | None) -> None:
    if spec is None:
        httpx.delete(f"{server.url}/_emulator/faults").raise_for_status()
    else:
        httpx.put(f"{server.url}/_emulator/faults", json={"spec": spec}).raise_for_status()


def _known(server: EmulatorServer) -> dict[str, str]:
    """Every credential of the emulator, and every token it has issued so far."""
    creds = server.credentials
    flux = server.flavour_credentials("flux")
    sfapi = server.flavour_credentials("sfapi")
    known = {
        "client secret": creds["client_secret"],
        "client credentials as HTTP Basic": base64.b64encode(
            f"{creds['client_id']}:{creds['client_secret']}".encode()
        ).decode(),
        "refresh token": creds["refresh_token"],
        "static token": creds["static_token"],
        "Flux token": flux["token"],
        "Flux secret key": flux["secret_key"],
        "S3M token": server.flavour_credentials("s3m")["token"],
        "slurmrestd token": server.flavour_credentials("slurmrestd")["token"],
    }
    for number, line in enumerate(sfapi["private_key"].splitlines()):
        if line and not line.startswith("-----"):
            known[f"SF API key line {number}"] = line
    for number, token in enumerate(list(server.state.tokens._tokens)):
        known[f"issued token {number}"] = token
    return known


def _case(server: EmulatorServer, name: str) -> tuple[str, str, Any, dict[str, Any]]:
    """(facility, base URL, auth, options) of each way in."""
    creds = server.credentials
    oidc = {
        "type": "oidc_client_credentials",
        "token_url": creds["token_url"],
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
    }
    flux = server.flavour_credentials("flux")
    sfapi = server.flavour_credentials("sfapi")
    slurm = server.flavour_credentials("slurmrestd")
    quick = {"retry": RetryPolicy(attempts=1)}
    cases: dict[str, tuple[str, str, Any, dict[str, Any]]] = {
        "iri-oidc": ("iri", server.iri_url("v1"), oidc, quick),
        "iri-static": ("iri", server.iri_url("v1"), creds["static_token"], quick),
        "iri-globus-refresh": (
            "iri",
            server.iri_url("v1"),
            {
                "type": "globus_refresh_token",
                "client_id": creds["native_client_id"],
                "refresh_token": creds["refresh_token"],
                "resource_server": "facility-emulator-iri",
                "auth_base_url": f"{server.url}/globus/",
            },
            quick,
        ),
        "sfapi": (
            "sfapi",
            server.api_url("sfapi"),
            {
                "type": "private_key_jwt",
                "token_url": sfapi["token_url"],
                "client_id": sfapi["client_id"],
                "private_key": sfapi["private_key"],
            },
            quick,
        ),
        "firecrest": ("firecrest", server.api_url("firecrest"), oidc, {**quick, "account": "demo"}),
        "flux": (
            "flux",
            server.api_url("flux"),
            None,
            {**quick, "user": flux["user"], "token": flux["token"], "secret_key": flux["secret_key"]},
        ),
        "s3m": ("s3m", server.api_url("s3m", "root"), server.flavour_credentials("s3m")["token"], quick),
        "slurmrest": (
            "slurmrest",
            server.api_url("slurmrestd", "root"),
            {"type": "token", "token": slurm["token"]},
            {**quick, "user_name": slurm["user_name"], "api_version": slurm["version"]},
        ),
    }
    return cases[name]


def _error_of(server: EmulatorServer, name: str) -> FacilityError:
    facility, url, auth, options = _case(server, name)
    with (
        FacilityClient.connect(facility, base_url=url, auth=auth, **options) as client,
        pytest.raises(FacilityError) as caught,
    ):
        client.resources()
    return caught.value


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("iri-oidc", "POST /auth/token"),
        ("iri-globus-refresh", "POST /globus/v2/oauth2/token"),
        ("sfapi", "POST /sfapi/oidc/token"),
        ("flux", "POST /flux/v1/token"),
    ],
)
def test_a_busy_token_endpoint_leaves_no_credential_in_the_error(
    server: EmulatorServer, name: str, route: str
) -> None:
    _faults(server, f"503@{route}")
    try:
        error = _error_of(server, name)
    finally:
        _faults(server, None)
    assert "503" in str(error), repr(error)
    assert leaks(error, _known(server)) == []


@pytest.mark.parametrize("name", ["iri-static", "iri-oidc", "s3m", "slurmrest", "flux"])
def test_a_dropped_connection_leaves_no_token_in_the_error(server: EmulatorServer, name: str) -> None:
    _case(server, name)
    _faults(server, "drop_before@GET *")
    try:
        error = _error_of(server, name)
    finally:
        _faults(server, None)
    assert "got no answer" in str(error), repr(error)
    assert error.__context__ is None and error.__cause__ is None
    assert leaks(error, _known(server)) == []


@pytest.mark.parametrize(
    "name", ["iri-static", "iri-oidc", "iri-globus-refresh", "sfapi", "firecrest", "flux", "s3m", "slurmrest"]
)
def test_an_api_that_echoes_the_request_headers_shows_no_token(server: EmulatorServer, name: str) -> None:
    """A 400 whose body repeats every request header: the error's text, ``body`` and chain stay
    clean (the bearer token, a raw S3M token, slurmrestd's X-SLURM-USER-TOKEN)."""
    _faults(server, "echo@GET *")
    try:
        error = _error_of(server, name)
    finally:
        _faults(server, None)
    assert error.status_code == 400 and "injected fault" in str(error), repr(error)
    assert "**********" in str(error) + (error.body or "")
    assert leaks(error, _known(server)) == []

"""Transport security end to end: TLS verification is on by default, a CA bundle opts in.

The emulator serves HTTPS with a certificate from a throwaway CA made in the test's temp dir.
For every backend:

* with default settings the first call fails with a clear error that names the facility and the
  certificate verification, before any API request reached the emulator and before any token
  was issued or sent;
* with ``verify=<ca.pem>`` the same client lists resources and runs a small job.

A client of a plain-HTTP emulator on ``localhost`` (loopback) works without any opt-in.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from facility_common import FacilityClient, JobAttributes, JobSpec, ResourceSpec
from facility_common.errors import ConfigurationError, FacilityError, TransportError
from facility_emulator import EmulatorConfig, EmulatorServer

from ..conformance.flavour import Flavour
from ..conformance.flavours.firecrest import FLAVOURS as FIRECREST
from ..conformance.flavours.flux import FLAVOURS as FLUX
from ..conformance.flavours.s3m import FLAVOURS as S3M
from ..conformance.flavours.sfapi import FLAVOURS as SFAPI
from .tls_certs import TlsFiles, make_tls_files


def _iri(version: str) -> Callable[[Any], Flavour]:
    """The IRI flavour without the resource-id look-up the conformance module makes (it would
    need the CA too); the tests here use resource names only."""

    def build(server: Any) -> Flavour:
        credentials = server.credentials
        options: dict[str, Any] = {"task_poll_interval": 0.02}
        if version == "v2":
            options["project"] = "demo"
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
            compute_id="polaris",
            scratch=credentials["home"],
            options=options,
        )

    return build


def _iri_globus(server: Any) -> Flavour:
    """IRI with a Globus refresh token: the token request goes through globus-sdk (requests),
    which must get the same TLS setting as the API."""
    credentials = server.credentials
    return Flavour(
        facility="iri",
        base_url=server.iri_url("v1"),
        auth={
            "type": "globus_refresh_token",
            "client_id": credentials["native_client_id"],
            "refresh_token": credentials["refresh_token"],
            "resource_server": "facility-emulator-iri",
            "auth_base_url": f"{server.url}/globus/",
        },
        compute="polaris",
        compute_id="polaris",
        scratch=credentials["home"],
        options={"task_poll_interval": 0.02},
    )


FLAVOURS: dict[str, Callable[[Any], Flavour]] = {
    "iri-v1": _iri("v1"),
    "iri-v2": _iri("v2"),
    "iri-globus": _iri_globus,
    **SFAPI,
    **FIRECREST,
    **FLUX,
    **S3M,
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def https_server(tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        root=tmp_path_factory.mktemp("tls-facility"),
        queue_delay=0.05,
        task_delay=0.01,
        ssl_certfile=tls.cert,
        ssl_keyfile=tls.key,
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def refusals() -> dict[str, FacilityError]:
    """Each flavour's refusal, kept so the wording test need not connect again."""
    return {}


def _api_calls(server: EmulatorServer, ca: Path) -> int:
    """Requests the emulator counted (its admin routes are not counted)."""
    context = ssl.create_default_context(cafile=str(ca))
    answer = httpx.get(f"{server.url}/_emulator/stats", verify=context, timeout=10)
    answer.raise_for_status()
    return int(answer.json()["total"])


def _spec() -> JobSpec:
    return JobSpec(
        executable="/bin/echo",
        arguments=["over", "tls"],
        resources=ResourceSpec(node_count=1),
        attributes=JobAttributes(duration=timedelta(seconds=60), queue_name="debug", account="demo"),
    )


def test_the_emulator_serves_https(https_server: EmulatorServer, tls: TlsFiles) -> None:
    assert https_server.url.startswith("https://127.0.0.1:")
    assert https_server.credentials["token_url"].startswith("https://")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{https_server.url}/_emulator/stats", timeout=10)


def _refusal(server: EmulatorServer, tls: TlsFiles, flavour: Flavour) -> FacilityError:
    """The error of a default-settings client's first call; checks nothing reached the API."""
    calls = _api_calls(server, tls.ca)
    issued = server.state.tokens.issued_count
    with (
        FacilityClient.connect(
            flavour.facility, base_url=flavour.base_url, auth=flavour.auth, **flavour.options
        ) as client,
        pytest.raises(FacilityError) as caught,
    ):
        client.resources()
    assert _api_calls(server, tls.ca) == calls, "an API request got through unverified TLS"
    assert server.state.tokens.issued_count == issued, "a token was issued over unverified TLS"
    return caught.value


@pytest.mark.parametrize("name", sorted(FLAVOURS))
def test_default_settings_refuse_an_unknown_ca(
    https_server: EmulatorServer, tls: TlsFiles, refusals: dict[str, FacilityError], name: str
) -> None:
    flavour = FLAVOURS[name](https_server)
    assert flavour.base_url.startswith("https://")
    error = refusals.setdefault(name, _refusal(https_server, tls, flavour))
    assert error.facility == flavour.facility, repr(error)


@pytest.mark.parametrize("name", sorted(FLAVOURS))
def test_a_certificate_failure_is_named_as_such(
    https_server: EmulatorServer, tls: TlsFiles, refusals: dict[str, FacilityError], name: str
) -> None:
    error = refusals.get(name) or _refusal(https_server, tls, FLAVOURS[name](https_server))
    assert isinstance(error, TransportError | ConfigurationError), repr(error)
    text = str(error).lower()
    assert "certificate" in text and "verif" in text, str(error)


@pytest.mark.parametrize("name", sorted(FLAVOURS))
def test_a_ca_bundle_option_makes_tls_work(https_server: EmulatorServer, tls: TlsFiles, name: str) -> None:
    flavour = FLAVOURS[name](https_server)
    options = {**flavour.options, "verify": str(tls.ca)}
    with FacilityClient.connect(
        flavour.facility, base_url=flavour.base_url, auth=flavour.auth, **options
    ) as client:
        names = [status.name for status in client.resources()]
        assert flavour.compute in names or flavour.compute_id in names, names
        job = client.submit(flavour.compute, _spec())
        done = client.wait(flavour.compute, job.id, timeout=60, poll_interval=0.2)
        assert done.state.value == "COMPLETED", done


def test_plain_http_to_localhost_needs_no_opt_in(tmp_path: Path) -> None:
    """Loopback is the one place a bearer token may travel without TLS, no flag needed."""
    config = EmulatorConfig(root=tmp_path / "facility", queue_delay=0.05, task_delay=0.01)
    with EmulatorServer(config) as server:
        credentials = server.credentials
        port = server.port
        auth = {
            "type": "oidc_client_credentials",
            "token_url": f"http://localhost:{port}/auth/token",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        }
        with FacilityClient.connect(
            "iri", base_url=f"http://localhost:{port}/iri/api/v1", auth=auth
        ) as client:
            assert "polaris" in [status.name for status in client.resources()]
            job = client.submit("polaris", _spec())
            assert client.wait("polaris", job.id, timeout=60, poll_interval=0.2).state.value == "COMPLETED"
        assert server.state.tokens.issued_count >= 1

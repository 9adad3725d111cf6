"""Every auth flow against the emulator's real token endpoints, and no secret ever shown.

Globus flows use globus-sdk itself, pointed at the emulator's Globus-compatible token endpoint.
The secrets check drives a whole session (including failures) with DEBUG logging captured and
searches every log record, repr and exception text for the credentials and issued tokens.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from facility_common import (
    AuthenticationError,
    FacilityClient,
    FacilityError,
    JobAttributes,
    JobSpec,
    JobState,
)
from facility_common.auth import GlobusRefreshToken, TokenFile
from facility_emulator import EmulatorServer

SCOPE = "https://auth.globus.org/scopes/facility-emulator-iri/iri_api"
RESOURCE_SERVER = "facility-emulator-iri"


def globus_base(server: EmulatorServer) -> str:
    return f"{server.url}/globus/"


def run_echo(client: FacilityClient) -> None:
    job = client.submit(
        "polaris",
        JobSpec(
            executable="/bin/echo",
            arguments=["auth ok"],
            attributes=JobAttributes(duration=timedelta(seconds=30)),
        ),
    )
    assert client.wait("polaris", job.id, timeout=30, poll_interval=0.1).state is JobState.COMPLETED


def test_static_token(emulator: EmulatorServer) -> None:
    token = emulator.credentials["static_token"]
    with FacilityClient.connect("iri", base_url=emulator.iri_url("v1"), auth=token) as client:
        run_echo(client)


def test_token_file_is_reread_after_a_401(emulator: EmulatorServer, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("stale-token\n")
    path.chmod(0o600)
    with FacilityClient.connect(
        "iri", base_url=emulator.iri_url("v1"), auth=TokenFile(path, check_interval=3600)
    ) as client:
        with pytest.raises(AuthenticationError):
            client.list_jobs("polaris")
        path.write_text(emulator.credentials["static_token"] + "\n")
        run_echo(client)


def test_globus_confidential_client(emulator: EmulatorServer) -> None:
    credentials = emulator.credentials
    auth = {
        "type": "globus_confidential",
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
        "scopes": SCOPE,
        "resource_server": RESOURCE_SERVER,
        "auth_base_url": globus_base(emulator),
        "allow_insecure_http": True,
    }
    with FacilityClient.connect("iri", base_url=emulator.iri_url("v1"), auth=auth) as client:
        run_echo(client)


def test_globus_refresh_token_storage_as_alcf_writes_it(emulator: EmulatorServer, tmp_path: Path) -> None:
    """The JSON token storage of ALCF's token script, with an expired access token: refreshed
    through globus-sdk, and the new tokens written back to the file."""
    credentials = emulator.credentials
    storage = tmp_path / "tokens.json"
    storage.touch(mode=0o600)  # globus-sdk writes its storages private to their owner
    storage.write_text(
        json.dumps(
            {
                "globus-sdk.version": "4.9.1",
                "format_version": "2.0",
                "data": {
                    "DEFAULT": {
                        RESOURCE_SERVER: {
                            "resource_server": RESOURCE_SERVER,
                            "identity_id": "00000000-0000-0000-0000-000000000001",
                            "scope": SCOPE,
                            "access_token": "expired-access-token",
                            "refresh_token": credentials["refresh_token"],
                            "expires_at_seconds": 1,
                            "token_type": "Bearer",
                        }
                    }
                },
            }
        )
    )
    source = GlobusRefreshToken.from_storage(
        storage,
        client_id=credentials["native_client_id"],
        resource_server=RESOURCE_SERVER,
        auth_base_url=globus_base(emulator),
        allow_insecure_http=True,
    )
    with FacilityClient.connect("iri", base_url=emulator.iri_url("v1"), auth=source) as client:
        run_echo(client)
    stored = json.loads(storage.read_text())["data"]["DEFAULT"][RESOURCE_SERVER]
    assert stored["access_token"] != "expired-access-token"
    assert stored["expires_at_seconds"] > 1


def test_no_secret_in_repr_logs_or_errors(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    credentials = emulator.credentials
    secrets = {credentials["client_secret"], credentials["static_token"], credentials["refresh_token"]}
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    auth = {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }
    issued: list[str] = []

    async def remember_token(request: httpx.Request) -> None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            issued.append(header.removeprefix("Bearer "))

    with FacilityClient.connect("iri", base_url=emulator.iri_url("v1"), auth=auth) as client:
        client.async_client.backend._session.client.event_hooks["request"].append(remember_token)  # type: ignore[attr-defined]
        texts += [repr(client), repr(client.async_client), repr(client.async_client.backend)]
        run_echo(client)
        local = tmp_path / "in.txt"
        local.write_text("x")
        client.upload("polaris", local, f"{credentials['home']}/secret-check.txt")
        for failing in (
            lambda: client.stat("polaris", f"{credentials['home']}/does-not-exist"),
            lambda: client.get_job("polaris", "999999"),
            lambda: client.submit(
                "polaris", JobSpec(executable="/bin/echo", directory="/outside/the/sandbox")
            ),
        ):
            with pytest.raises(FacilityError) as info:
                failing()
            texts += [str(info.value), repr(info.value)]

    bad = dict(auth, client_secret=credentials["client_secret"] + "-wrong")
    with FacilityClient.connect("iri", base_url=emulator.iri_url("v1"), auth=bad) as client:
        with pytest.raises(AuthenticationError) as info:
            client.list_jobs("polaris")
        texts += [str(info.value), repr(info.value), repr(client)]
        secrets.add(bad["client_secret"])

    with FacilityClient.connect(
        "iri", base_url=emulator.iri_url("v1"), auth=credentials["static_token"]
    ) as client:
        texts.append(repr(client))
        texts.append(repr(client.async_client.backend._session.client.auth))  # type: ignore[attr-defined]

    assert issued, "the session sent no bearer token"
    secrets |= set(issued)
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    leaks = [text for text in texts for secret in secrets if secret in text]
    assert not leaks, leaks[:3]

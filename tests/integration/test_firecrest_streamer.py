"""FirecREST's streamer transfers end to end: the emulator's ``santis`` moves large files with the
streamer (each transfer job runs ``firecrest-streamer``'s own websocket server), and the client
picks the method from the system's ``dataTransfer.serviceType``.

* Files above ``max_ops_file_size`` go up and come back byte for byte, through the async client
  and the sync facade, with progress reported.
* The method is the system's: the server refuses another one, as FirecREST does.
* An upload whose target exists fails before any byte moves; a download of a missing file too.
* The coordinates' secret never shows in an error.
* Between the package's own client and server (0.0.21), the received file ends with the ``eof``
  message: why the client speaks the protocol itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from facility_common import AsyncFacilityClient, FacilityClient, FacilityError
from facility_emulator import EmulatorConfig, EmulatorServer

pytest.importorskip("streamer")

SIZE = 12 * 1024 * 1024 + 12345  # above santis' 1 MiB limit, over two 5 MiB messages


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("f7t-streamer"), queue_delay=0.05, task_delay=0.0)
    with EmulatorServer(config) as emulator:
        yield emulator


def auth(server: EmulatorServer) -> dict[str, str]:
    credentials = server.credentials
    return {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[FacilityClient]:
    with FacilityClient.connect(
        "firecrest", base_url=server.api_url("firecrest"), auth=auth(server), transfer_poll_interval=0.1
    ) as facility:
        yield facility


def random_file(path: Path, size: int = SIZE) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def routes(server: EmulatorServer) -> dict[str, int]:
    counts: dict[str, int] = httpx.get(f"{server.url}/_emulator/stats", timeout=10).json()["routes"]
    return counts


def test_a_large_file_goes_up_and_comes_back_byte_for_byte(
    client: FacilityClient, server: EmulatorServer, tmp_path: Path
) -> None:
    local = random_file(tmp_path / "up.bin")
    remote = f"{server.credentials['home']}/streamed.bin"
    before = routes(server)
    seen: list[tuple[int, int | None]] = []
    client.upload("santis", local, remote, progress=lambda done, total: seen.append((done, total)))
    assert Path(server.credentials["home"], "streamed.bin").read_bytes() == local.read_bytes()
    assert seen[-1] == (SIZE, SIZE)
    back = tmp_path / "back.bin"
    client.download("santis", remote, back, progress=lambda done, total: seen.append((done, total)))
    assert back.read_bytes() == local.read_bytes()
    assert not list(tmp_path.glob(".back.bin.*"))
    after = routes(server)
    for call in ("upload", "download"):
        route = f"POST /firecrest/filesystem/{{system_name}}/transfer/{call}"
        assert after.get(route, 0) == before.get(route, 0) + 1
    assert not [route for route in after if route.startswith("PUT /firecrest-s3/")]  # no staging


def test_the_async_client_streams_too(server: EmulatorServer, tmp_path: Path) -> None:
    local = random_file(tmp_path / "async.bin", 3 * 1024 * 1024)
    remote = f"{server.credentials['home']}/async-streamed.bin"

    async def both_ways() -> bytes:
        async with AsyncFacilityClient.connect(
            "firecrest", base_url=server.api_url("firecrest"), auth=auth(server), transfer_poll_interval=0.1
        ) as facility:
            await facility.upload("santis", local, remote)
            await facility.download("santis", remote, tmp_path / "async-back.bin")
        return await anyio.Path(tmp_path / "async-back.bin").read_bytes()

    assert anyio.run(both_ways) == local.read_bytes()


def test_the_system_names_the_method_and_the_server_refuses_another(
    client: FacilityClient, server: EmulatorServer
) -> None:
    from facility_common.backends.firecrest.parsers import transfer_service

    systems = {status.name: status.raw for status in client.resources()}
    assert transfer_service(systems["santis"]) == "streamer"
    assert transfer_service(systems["eiger"]) == "s3"
    token = httpx.post(
        server.credentials["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(server.credentials["client_id"], server.credentials["client_secret"]),
        timeout=10,
    ).json()["access_token"]
    answer = httpx.post(
        f"{server.api_url('firecrest')}/filesystem/santis/transfer/download",
        json={"sourcePath": "/etc/hostname", "transferDirectives": {"transferMethod": "s3"}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert (
        answer.status_code == 400
        and answer.json()["message"] == "Requested transfer method is not available."
    )


def test_an_existing_target_or_a_missing_source_fails_before_any_byte_moves(
    client: FacilityClient, server: EmulatorServer, tmp_path: Path
) -> None:
    local = random_file(tmp_path / "again.bin", 2 * 1024 * 1024)
    remote = f"{server.credentials['home']}/exists.bin"
    client.upload("santis", local, remote)
    with pytest.raises(FacilityError, match="already exists") as caught:
        client.upload("santis", local, remote)
    assert caught.value.status_code == 403
    with pytest.raises(FacilityError) as missing:
        client.download("santis", f"{server.credentials['home']}/no-such.bin", tmp_path / "never.bin")
    assert missing.value.status_code == 404
    assert not (tmp_path / "never.bin").exists()


def test_the_secret_never_shows_in_an_error(
    client: FacilityClient, server: EmulatorServer, tmp_path: Path
) -> None:
    """A transfer job that cannot take the connection: the error names where it tried, not how."""
    from facility_common.backends.firecrest.streamer import decode_coordinates

    secret = "a-secret-that-must-not-show"
    document = {"ports": [1, 1], "ips": ["127.0.0.1"], "secret": secret}
    text = base64.urlsafe_b64encode(json.dumps(document).encode()).decode()
    coordinates = decode_coordinates(text, "santis")
    assert secret not in repr(coordinates)
    with pytest.raises(FacilityError) as caught:
        decode_coordinates(text[:-6], "santis")
    assert secret not in str(caught.value) and text not in str(caught.value)


def test_the_packages_own_client_and_server_append_the_eof_message(tmp_path: Path) -> None:
    """firecrest-streamer 0.0.21 between its own peers: the receiver keeps the binary ``eof``."""
    from streamer import streamer_client
    from streamer.streamer_server import Operation, StreamConfig, stream

    source = random_file(tmp_path / "source.bin", 1024 * 1024)
    secret = "s3cret"
    ports = (45700, 45709)

    async def transfer() -> None:
        config = StreamConfig(
            operation=Operation.send,
            target=str(source),
            secret=secret,
            port_range=ports,
            ips=["127.0.0.1"],
            host="127.0.0.1",
            wait_timeout=60,
            inbound_transfer_limit=10**9,
        )
        serving = asyncio.create_task(stream(config))
        document = {"ports": list(ports), "ips": ["127.0.0.1"], "secret": secret}
        coordinates = base64.urlsafe_b64encode(json.dumps(document).encode()).decode()
        receiving = streamer_client.set_coordinates(coordinates)
        receiving.target = str(tmp_path / "received.bin")
        for _ in range(200):  # the server needs a moment to listen
            await streamer_client.client_receive(receiving)
            if (tmp_path / "received.bin").exists():
                break
            await asyncio.sleep(0.05)
        await asyncio.wait_for(serving, 30)

    asyncio.run(transfer())
    received = (tmp_path / "received.bin").read_bytes()
    assert received.startswith(source.read_bytes())
    tail = json.loads(received[len(source.read_bytes()) :])
    assert tail == {"type": "eof", "sha256_hash": hashlib.sha256(source.read_bytes()).hexdigest()}


def test_the_secret_does_not_reach_the_logs(
    client: FacilityClient, server: EmulatorServer, tmp_path: Path, caplog: Any
) -> None:
    local = random_file(tmp_path / "logged.bin", 2 * 1024 * 1024)
    remote = f"{server.credentials['home']}/logged.bin"
    with caplog.at_level("DEBUG"):
        client.upload("santis", local, remote)
    assert caplog.records  # the upload's requests were logged, without the coordinates
    assert "eyJwb3J0cyI6" not in caplog.text  # base64 of '{"ports":', how every coordinate starts

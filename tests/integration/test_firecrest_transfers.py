"""FirecREST files and transfer jobs through the emulator: errors of the staged path never show a
presigned URL's signature, a transfer job is awaited through failed status calls, ``view`` stays
within a system's ``max_ops_file_size``, and upload names the API cannot carry are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facility_common import FacilityClient, FacilityError, InvalidJobSpec, JobSpec, JobState
from facility_common.errors import APIError
from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.faults import parse_spec

SIGNATURE = "X-Amz-Signature"
BIG = 1536 * 1024  # above eiger's 1 MiB direct limit: the staged path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("f7t-transfers"), queue_delay=0.05, task_delay=0.0)
    with EmulatorServer(config) as emulator:
        yield emulator


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[Any]:
    credentials = server.credentials
    auth = {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }
    with FacilityClient.connect(
        "firecrest",
        base_url=server.api_url("firecrest"),
        auth=auth,
        account="demo",
        transfer_poll_interval=0.1,
    ) as facility:
        yield facility


@pytest.fixture
def faults(server: EmulatorServer) -> Iterator[Any]:
    yield lambda spec: server.state.install_faults(parse_spec(spec))
    server.state.install_faults(parse_spec(""))


def _texts(exc: BaseException) -> str:
    """Everything an exception and its chain would show."""
    seen: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 10:
        seen += [str(current), repr(current), repr(getattr(current, "args", ""))]
        current = current.__cause__ or current.__context__
    return "\n".join(seen)


def _random_file(path: Path, size: int) -> Path:
    path.write_bytes(bytes(range(256)) * (size // 256))
    return path


def test_a_failed_staged_download_is_a_facility_error_without_the_signature(
    client: Any, server: EmulatorServer, faults: Any, tmp_path: Path
) -> None:
    remote = f"{server.credentials['home']}/staged-down.bin"
    client.upload("eiger", _random_file(tmp_path / "big.bin", BIG), remote)
    faults("500@GET /firecrest-s3/*")
    target = tmp_path / "back.bin"
    with pytest.raises(FacilityError) as caught:
        client.download("eiger", remote, target)
    assert caught.value.status_code == 500 and "download" in caught.value.message
    assert SIGNATURE not in _texts(caught.value)
    assert not target.exists() and not list(tmp_path.glob(".back.bin.*"))


def test_a_failed_staged_upload_is_a_facility_error_without_the_signature(
    client: Any, server: EmulatorServer, faults: Any, tmp_path: Path
) -> None:
    faults("500@PUT /firecrest-s3/*")
    remote = f"{server.credentials['home']}/staged-up.bin"
    with pytest.raises(FacilityError) as caught:
        client.upload("eiger", _random_file(tmp_path / "big.bin", BIG), remote)
    assert caught.value.status_code == 500 and "part" in caught.value.message
    assert SIGNATURE not in _texts(caught.value)


def test_a_copy_is_awaited_through_failed_status_calls(
    client: Any, server: EmulatorServer, faults: Any, tmp_path: Path
) -> None:
    home = server.credentials["home"]
    client.upload("daint", _random_file(tmp_path / "small.bin", 4096), f"{home}/to-copy.bin")
    faults("500=count:2@GET /firecrest/compute/daint/jobs/*")
    client.cp("daint", f"{home}/to-copy.bin", f"{home}/copied.bin")
    assert client.stat("daint", f"{home}/copied.bin").size == 4096


def test_status_calls_that_keep_failing_end_the_wait_with_a_facility_error(
    client: Any, server: EmulatorServer, faults: Any, tmp_path: Path
) -> None:
    home = server.credentials["home"]
    client.upload("daint", _random_file(tmp_path / "small.bin", 4096), f"{home}/to-move.bin")
    faults("500@GET /firecrest/compute/daint/jobs/*")
    with pytest.raises(APIError, match="may still complete") as caught:
        client.mv("daint", f"{home}/to-move.bin", f"{home}/moved.bin")
    assert caught.value.facility == "firecrest"


def test_job_output_and_view_stay_within_a_smaller_direct_limit(
    client: Any, server: EmulatorServer, tmp_path: Path
) -> None:
    # eiger's max_ops_file_size is 1 MiB; ops/view defaults to 5 MiB and refuses more than the limit,
    # and the server's dd reads two blocks of `size`, which must stay under the limit together.
    job = client.submit("eiger", JobSpec(executable="/bin/echo", arguments=["small limit"]))
    done = client.wait("eiger", job.id, timeout=60, poll_interval=0.2)
    assert done.state is JobState.COMPLETED
    assert client.job_output("eiger", job.id).strip() == "small limit"
    remote = f"{server.credentials['home']}/large.txt"
    (tmp_path / "large.txt").write_text(("x" * 1023 + "\n") * 1536)
    client.upload("eiger", tmp_path / "large.txt", remote)
    assert len(client.view("eiger", remote)) == (1024 * 1024 - 1) // 2


@pytest.mark.parametrize("name", ['quo"te.txt', "tab\there.txt", "unit\x1fsep.txt", "back\\slash.txt"])
def test_an_upload_name_the_api_cannot_carry_is_refused_before_any_request(
    client: Any, server: EmulatorServer, tmp_path: Path, name: str
) -> None:
    source = _random_file(tmp_path / "plain.txt", 256)
    server.clear_exchanges()
    with pytest.raises(InvalidJobSpec) as caught:
        client.upload("daint", source, f"{server.credentials['home']}/{name}")
    assert (caught.value.field, caught.value.facility) == ("remote_path", "firecrest")
    assert not [e for e in server.exchanges() if e.path.startswith("/firecrest")]


def test_an_unusual_but_carried_name_is_stored_as_written(
    client: Any, server: EmulatorServer, tmp_path: Path
) -> None:
    home = server.credentials["home"]
    client.mkdir("daint", f"{home}/names", parents=True)
    name = "50%22 off; été & co.txt"
    client.upload("daint", _random_file(tmp_path / "plain.txt", 256), f"{home}/names/{name}")
    assert [entry.name for entry in client.ls("daint", f"{home}/names")] == [name]

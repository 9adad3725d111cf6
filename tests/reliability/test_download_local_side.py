"""A download checks the local side before any request and never leaves a partial file.

Per backend with downloads, through the emulator: a valid name as long as the file system allows
is written (a temporary name built from it once went past the limit); a local side that cannot
be written (no directory, a file where the directory should be, a directory as the target, a
name over the limit) is refused with ``InvalidJobSpec`` naming ``local_path`` and the facility
before the emulator sees any request; a download that fails leaves neither the target nor a
temporary file, and an existing target as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from facility_common import APIError, FacilityClient, FacilityError, InvalidJobSpec, TransportError
from facility_emulator import EmulatorConfig, EmulatorServer

from ..conformance.conftest import FLAVOURS
from ..conformance.flavour import Flavour

BACKENDS = ("iri-v1", "iri-v2", "sfapi", "firecrest")
NAME_MAX = os.pathconf("/", "PC_NAME_MAX")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("downloads"), queue_delay=0.05, task_delay=0.0)
    with EmulatorServer(config) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_faults(server: EmulatorServer) -> Iterator[None]:
    yield
    httpx.delete(f"{server.url}/_emulator/faults", timeout=10).raise_for_status()


def connect(flavour: Flavour) -> FacilityClient:
    return FacilityClient.connect(
        flavour.facility, base_url=flavour.base_url, auth=flavour.auth, **flavour.options
    )


def requests_seen(server: EmulatorServer) -> int:
    """Every request the emulator answered outside its admin routes (token requests included)."""
    return int(httpx.get(f"{server.url}/_emulator/stats", timeout=10).json()["total"])


def remote_file(flavour: Flavour, name: str, content: bytes) -> str:
    """A file in the emulator's sandbox (its paths are this host's)."""
    directory = Path(flavour.scratch) / "downloads"
    directory.mkdir(exist_ok=True)
    (directory / name).write_bytes(content)
    return str(directory / name)


def leftovers(directory: Path, *expected: str) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name not in expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_name_as_long_as_the_file_system_allows_is_written(
    server: EmulatorServer, tmp_path: Path, backend: str
) -> None:
    flavour = FLAVOURS[backend](server)
    remote = remote_file(flavour, f"long-{backend}.txt", b"long name\n")
    name = "n" * (NAME_MAX - 4) + ".txt"
    with connect(flavour) as client:
        client.download(flavour.compute, remote, tmp_path / name)
    assert (tmp_path / name).read_bytes() == b"long name\n"
    assert leftovers(tmp_path, name) == []


def _missing_directory(tmp: Path) -> Path:
    return tmp / "no-such-directory" / "out.txt"


def _file_as_directory(tmp: Path) -> Path:
    (tmp / "a-file").write_text("")
    return tmp / "a-file" / "out.txt"


def _directory_as_target(tmp: Path) -> Path:
    (tmp / "a-directory").mkdir()
    return tmp / "a-directory"


def _name_over_the_limit(tmp: Path) -> Path:
    return tmp / ("n" * (NAME_MAX + 1))


def _no_file_name(tmp: Path) -> str:
    return str(tmp) + "/"


UNWRITABLE: dict[str, Callable[[Path], Any]] = {
    "missing directory": _missing_directory,
    "file as directory": _file_as_directory,
    "directory as target": _directory_as_target,
    "name over the limit": _name_over_the_limit,
    "no file name": _no_file_name,
}


@pytest.mark.parametrize("case", sorted(UNWRITABLE))
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_local_side_that_cannot_be_written_is_refused_before_any_request(
    server: EmulatorServer, tmp_path: Path, backend: str, case: str
) -> None:
    flavour = FLAVOURS[backend](server)
    remote = remote_file(flavour, f"refused-{backend}.txt", b"x\n")
    local = UNWRITABLE[case](tmp_path)
    before_files = leftovers(tmp_path)
    before = requests_seen(server)
    with connect(flavour) as client, pytest.raises(InvalidJobSpec) as caught:
        client.download(flavour.compute, remote, local)
    error = caught.value
    assert error.field == "local_path" and error.facility == flavour.facility, error
    assert "local_path" in str(error) and flavour.facility in str(error)
    assert requests_seen(server) == before, "a request was sent before the local side was checked"
    assert leftovers(tmp_path) == before_files


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failed_download_leaves_the_target_as_it_was(
    server: EmulatorServer, tmp_path: Path, backend: str
) -> None:
    flavour = FLAVOURS[backend](server)
    target = tmp_path / "kept.txt"
    target.write_text("before\n")
    with connect(flavour) as client, pytest.raises(FacilityError) as caught:
        client.download(flavour.compute, f"{flavour.scratch}/downloads/no-such-file", target)
    assert isinstance(caught.value, APIError), caught.value
    assert target.read_text() == "before\n"
    assert leftovers(tmp_path, "kept.txt") == []


def test_a_firecrest_download_broken_off_leaves_no_file(server: EmulatorServer, tmp_path: Path) -> None:
    """The direct download is streamed to disk; a body cut short must not become the target."""
    flavour = FLAVOURS["firecrest"](server)
    remote = remote_file(flavour, "cut.bin", os.urandom(256 * 1024))
    spec = {"spec": "drop_after=count:1@GET */filesystem/*/ops/download"}
    httpx.put(f"{server.url}/_emulator/faults", json=spec, timeout=10).raise_for_status()
    with connect(flavour) as client, pytest.raises(TransportError):
        client.download(flavour.compute, remote, tmp_path / "cut.bin")
    assert leftovers(tmp_path) == []

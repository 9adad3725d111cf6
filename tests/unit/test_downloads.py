"""``DownloadTarget``: the target is the whole download or what it was before, nothing else."""

from __future__ import annotations

import errno
import functools
import os
from pathlib import Path

import anyio
import pytest

from facility_common import InvalidJobSpec, TransportError
from facility_common.downloads import DownloadTarget


def files_in(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_the_temporary_name_is_short_and_hidden_and_the_file_lands_whole(tmp_path: Path) -> None:
    name = "n" * 250
    seen: list[str] = []

    async def run() -> None:
        target = await DownloadTarget.check(tmp_path / name, facility="iri")
        async with target.writing() as handle:
            seen.extend(files_in(tmp_path))
            await handle.write(b"part one, ")
            assert not (tmp_path / name).exists()  # nothing under the final name while writing
            await handle.write(b"part two")

    anyio.run(run)
    assert len(seen) == 1 and seen[0].startswith(".") and seen[0].endswith(".part") and len(seen[0]) < 32
    assert (tmp_path / name).read_bytes() == b"part one, part two"
    assert files_in(tmp_path) == [name]


@pytest.mark.parametrize("failure", [TransportError("broke off", facility="firecrest"), KeyError("x")])
def test_a_failure_while_writing_leaves_the_old_target(tmp_path: Path, failure: Exception) -> None:
    (tmp_path / "out").write_text("before")

    async def run() -> None:
        target = await DownloadTarget.check(tmp_path / "out", facility="firecrest")
        async with target.writing() as handle:
            await handle.write(b"half")
            raise failure

    with pytest.raises(type(failure)):
        anyio.run(run)
    assert files_in(tmp_path) == ["out"] and (tmp_path / "out").read_text() == "before"


def test_a_cancelled_download_leaves_nothing(tmp_path: Path) -> None:
    async def run() -> None:
        target = await DownloadTarget.check(tmp_path / "out", facility="sfapi")
        with anyio.move_on_after(0.01):
            async with target.writing() as handle:
                await handle.write(b"half")
                await anyio.sleep_forever()

    anyio.run(run)
    assert files_in(tmp_path) == []


def test_a_local_write_failure_is_an_invalid_job_spec_naming_local_path(tmp_path: Path) -> None:
    async def run() -> None:
        target = await DownloadTarget.check(tmp_path / "out", facility="iri")
        async with target.writing():
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(InvalidJobSpec, match=r"local_path: .*No space left on device") as caught:
        anyio.run(run)
    assert caught.value.field == "local_path" and caught.value.facility == "iri"
    assert files_in(tmp_path) == []


def test_a_directory_removed_after_the_check_is_reported_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "gone").mkdir()

    async def checked_then_removed() -> None:
        target = await DownloadTarget.check(tmp_path / "gone" / "out", facility="iri")
        (tmp_path / "gone").rmdir()
        await target.write_bytes(b"x")

    with pytest.raises(InvalidJobSpec, match="local_path") as caught:
        anyio.run(checked_then_removed)
    assert caught.value.field == "local_path"


def test_an_unwritable_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, whom permission bits do not stop: the check asks os.access.
    monkeypatch.setattr("facility_common.downloads.os.access", lambda path, mode: False)
    with pytest.raises(InvalidJobSpec, match="is not writable") as caught:
        anyio.run(functools.partial(DownloadTarget.check, tmp_path / "out", facility="sfapi"))
    assert caught.value.field == "local_path" and caught.value.facility == "sfapi"

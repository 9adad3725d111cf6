"""The backend contract, run against every backend flavour through its emulator: through the async
client for every flavour, and through the sync facade for one (see conftest.py)."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from facility_common import (
    JobAttributes,
    JobSpec,
    JobState,
    NotFoundError,
    ResourceSpec,
    UnsupportedOperation,
)
from facility_common.backends.base import Capability

from .flavour import Flavour

WAIT = {"timeout": 60, "poll_interval": 0.2}


def spec(executable: str, *arguments: str, seconds: int = 60, **changes: Any) -> JobSpec:
    return JobSpec(
        executable=executable,
        arguments=list(arguments),
        resources=ResourceSpec(node_count=1),
        attributes=JobAttributes(duration=timedelta(seconds=seconds), queue_name="debug", account="demo"),
        **changes,
    )


def test_resources_by_name_and_id(client: Any, flavour: Flavour) -> None:
    names = {status.name for status in client.resources()}
    assert flavour.compute in names
    by_name = client.resource(flavour.compute)
    by_id = client.resource(flavour.compute_id)
    assert by_name.id == by_id.id == flavour.compute_id
    assert by_name.name == flavour.compute
    assert client.is_available(flavour.compute, timedelta(minutes=5)) is True


def has_output(flavour: Flavour) -> bool:
    """Whether a job's output can be read back (not where the API reports no output paths)."""
    return Capability.JOB_OUTPUT in flavour.capabilities


def test_echo_completes_with_its_output(client: Any, flavour: Flavour) -> None:
    job = client.submit(flavour.compute, spec("/bin/echo", "hello"))
    done = client.wait(flavour.compute, job.id, **WAIT)
    assert done.state is JobState.COMPLETED
    assert done.exit_code in (0, None)
    if has_output(flavour):
        assert client.job_output(flavour.compute, job.id).strip() == "hello"


def test_job_outliving_its_duration_times_out(client: Any, flavour: Flavour) -> None:
    job = client.submit(flavour.compute, spec("/bin/sleep", "600", seconds=flavour.walltime_seconds))
    done = client.wait(flavour.compute, job.id, timeout=flavour.walltime_seconds + 60, poll_interval=0.2)
    assert done.state is JobState.TIMEOUT


def test_cancelled_sleeper_ends_cancelled(client: Any, flavour: Flavour) -> None:
    job = client.submit(flavour.compute, spec("/bin/sleep", "60"))
    for _ in range(100):
        if client.get_job(flavour.compute, job.id).state is JobState.RUNNING:
            break
        time.sleep(0.1)
    client.cancel(flavour.compute, job.id)
    done = client.wait(flavour.compute, job.id, **WAIT)
    assert done.state is JobState.CANCELLED


def test_exit_3_fails_with_exit_code_3(client: Any, flavour: Flavour) -> None:
    job = client.submit(flavour.compute, spec("/bin/sh", "-c", "echo oops >&2; exit 3"))
    done = client.wait(flavour.compute, job.id, **WAIT)
    assert done.state is JobState.FAILED
    assert done.exit_code == 3
    if has_output(flavour):
        assert "oops" in client.job_output(flavour.compute, job.id, stream="stderr")


def test_follow_output_gives_the_lines_until_the_job_ends(client: Any, flavour: Flavour) -> None:
    if not has_output(flavour):
        pytest.skip(f"{flavour.facility} reports no output")
    job = client.submit(flavour.compute, spec("/bin/sh", "-c", "echo one; echo two"))
    lines = list(client.follow_output(flavour.compute, job.id, poll_interval=0.2))
    assert "".join(lines).split() == ["one", "two"]
    assert all(line.endswith("\n") for line in lines[:-1])
    assert client.get_job(flavour.compute, job.id).is_terminal


def test_resource_id_works_like_its_name(client: Any, flavour: Flavour) -> None:
    job = client.submit(flavour.compute_id, spec("/bin/echo", "by-id"))
    done = client.wait(flavour.compute, job.id, **WAIT)
    assert done.state is JobState.COMPLETED
    assert client.get_job(flavour.compute_id, job.id).id == job.id
    if has_output(flavour):
        assert client.job_output(flavour.compute, job.id, tail=1).strip() == "by-id"


def test_list_jobs_answers_for_the_given_ids(client: Any, flavour: Flavour) -> None:
    jobs = [client.submit(flavour.compute, spec("/bin/true")) for _ in range(3)]
    listed = {job.id for job in client.list_jobs(flavour.compute, [job.id for job in jobs])}
    assert listed == {job.id for job in jobs}
    for job in jobs:
        client.wait(flavour.compute, job.id, **WAIT)


def needs(flavour: Flavour, capability: str) -> None:
    if capability not in flavour.capabilities:
        pytest.skip(f"{flavour.facility} has no {capability} capability")


def test_file_operations_round_trip_byte_exact(
    client: Any, flavour: Flavour, workdir: str, tmp_path: Path
) -> None:
    needs(flavour, Capability.FILES)
    resource = flavour.compute
    payload = bytes(range(256)) * 64 + os.urandom(4096)
    local = tmp_path / "data.bin"
    local.write_bytes(payload)
    client.upload(resource, local, f"{workdir}/data.bin")

    entries = {entry.name: entry for entry in client.ls(resource, workdir)}
    assert entries["data.bin"].size == len(payload)
    assert entries["data.bin"].type == "file"
    assert client.stat(resource, f"{workdir}/data.bin").size == len(payload)

    back = tmp_path / "back.bin"
    client.download(resource, f"{workdir}/data.bin", back)
    assert back.read_bytes() == payload

    text = "".join(f"line {n}\n" for n in range(1, 21))
    (tmp_path / "lines.txt").write_text(text)
    client.upload(resource, tmp_path / "lines.txt", f"{workdir}/lines.txt")
    assert client.view(resource, f"{workdir}/lines.txt") == text
    assert client.view(resource, f"{workdir}/lines.txt", offset=7, size=6) == text[7:13]
    assert client.head(resource, f"{workdir}/lines.txt", lines=2) == "line 1\nline 2\n"
    assert client.tail(resource, f"{workdir}/lines.txt", lines=2) == "line 19\nline 20\n"

    client.chmod(resource, f"{workdir}/lines.txt", "640")
    assert client.stat(resource, f"{workdir}/lines.txt").permissions in (
        "rw-r-----",
        "-rw-r-----",
        "640",
        "0640",
    )

    client.mkdir(resource, f"{workdir}/a/b", parents=True)
    client.cp(resource, f"{workdir}/data.bin", f"{workdir}/a/b/copy.bin")
    client.mv(resource, f"{workdir}/lines.txt", f"{workdir}/a/moved.txt")
    names = {entry.name for entry in client.ls(resource, workdir)}
    assert "lines.txt" not in names and {"a", "data.bin"} <= names
    client.download(resource, f"{workdir}/a/b/copy.bin", tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == payload
    assert client.view(resource, f"{workdir}/a/moved.txt") == text

    client.rm(resource, f"{workdir}/a/b/copy.bin")
    with pytest.raises(NotFoundError):
        client.stat(resource, f"{workdir}/a/b/copy.bin")


def test_missing_file_is_not_found(client: Any, flavour: Flavour, workdir: str, tmp_path: Path) -> None:
    needs(flavour, Capability.FILES)
    with pytest.raises(NotFoundError):
        client.download(flavour.compute, f"{workdir}/nope.bin", tmp_path / "nope.bin")
    assert not (tmp_path / "nope.bin").exists()


def test_operations_the_api_lacks_say_so(client: Any, flavour: Flavour, tmp_path: Path) -> None:
    if Capability.FILES in flavour.capabilities:
        pytest.skip(f"{flavour.facility} has files")
    with pytest.raises(UnsupportedOperation):
        client.ls(flavour.compute, flavour.scratch)

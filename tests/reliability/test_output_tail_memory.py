"""``job_output(tail=N)`` of a large output takes memory of the tail, not of the output.

Per backend through the emulator: a job writes 32 MiB of output and then two last lines, and a
client in a child process (``tail_probe.py``, so the emulator's own memory is not counted) asks
for the last three lines with tracemalloc on. Its peak must stay under 2 MiB, a sixteenth of the
output. Flux is measured twice: a finished job (read from ``/output/stream``) and a job still
running (read from ``/output``). slurmrest and S3M read the file on this host:
``tests/emulator/test_slurmrest_output_tail.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from facility_common import FacilityClient, JobSpec, JobState
from facility_emulator import EmulatorConfig, EmulatorServer

from ..conformance.conftest import FLAVOURS
from ..conformance.flavour import Flavour

ROOT = Path(__file__).resolve().parents[2]
LINE = "x" * 63
LINES = 32 * 1024 * 1024 // 64
PEAK_LIMIT = 2 * 1024 * 1024
EXPECTED = f"{LINE}\nsecond to last\nlast line, no break"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        root=tmp_path_factory.mktemp("tails"), queue_delay=0.0, task_delay=0.0, record_exchanges=False
    )
    with EmulatorServer(config) as srv:
        yield srv


def connect(flavour: Flavour) -> FacilityClient:
    return FacilityClient.connect(
        flavour.facility, base_url=flavour.base_url, auth=flavour.auth, **flavour.options
    )


def writer(marker: Path, then: str = "") -> JobSpec:
    """A job writing 32 MiB of 64-byte lines, two last lines (the last without a break), then
    ``marker``, then ``then``."""
    script = (
        f"yes {LINE} | head -n {LINES}; echo 'second to last'; printf 'last line, no break'; "
        f"touch {marker}; {then}"
    )
    return JobSpec(executable="/bin/bash", arguments=["-c", script])


def probe(flavour: Flavour, job_id: str, tail: int) -> dict[str, object]:
    args = {
        "facility": flavour.facility,
        "base_url": flavour.base_url,
        "auth": flavour.auth,
        "options": flavour.options,
        "resource": flavour.compute,
        "job_id": job_id,
        "tail": tail,
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.tail_probe"],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def wait_for_file(path: Path, client: FacilityClient, flavour: Flavour, job_id: str) -> None:
    for _ in range(1200):
        if path.exists():
            return
        assert not client.get_job(flavour.compute, job_id).state.is_terminal, "the job ended early"
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear")


@pytest.mark.parametrize("name", ["iri-v1", "iri-v2", "sfapi", "firecrest", "flux"])
def test_a_short_tail_of_a_finished_jobs_large_output(server: EmulatorServer, name: str) -> None:
    flavour = FLAVOURS[name](server)
    marker = Path(flavour.scratch) / f"tail-{uuid.uuid4().hex}"
    with connect(flavour) as client:
        job = client.submit(flavour.compute, writer(marker))
        done = client.wait(flavour.compute, job.id, timeout=120, poll_interval=0.1)
        assert done.state is JobState.COMPLETED, done
    result = probe(flavour, job.id, 3)
    assert result["text"] == EXPECTED
    assert isinstance(result["peak"], int) and result["peak"] < PEAK_LIMIT, (
        f"{name}: peak {result['peak']} bytes for a 3-line tail of {LINES * 64} bytes"
    )


def test_a_short_tail_of_a_running_flux_jobs_large_output(server: EmulatorServer) -> None:
    flavour = FLAVOURS["flux"](server)
    marker = Path(flavour.scratch) / f"tail-{uuid.uuid4().hex}"
    with connect(flavour) as client:
        job = client.submit(flavour.compute, writer(marker, then="sleep 120"))
        try:
            wait_for_file(marker, client, flavour, job.id)
            result = probe(flavour, job.id, 3)
        finally:
            client.cancel(flavour.compute, job.id)
    assert result["text"] == EXPECTED
    assert isinstance(result["peak"], int) and result["peak"] < PEAK_LIMIT, (
        f"flux: peak {result['peak']} bytes for a 3-line tail of {LINES * 64} bytes"
    )


@pytest.mark.parametrize("running", [True, False])
def test_a_flux_tail_read_as_it_arrives_is_retried_from_the_start(
    server: EmulatorServer, running: bool
) -> None:
    """A body cut short, then a 502: the tail is read again from the start, not spliced."""
    flavour = FLAVOURS["flux"](server)
    marker = Path(flavour.scratch) / f"tail-{uuid.uuid4().hex}"
    script = f"seq 1 5000; touch {marker}; " + ("sleep 120" if running else "")
    route = "GET */v1/jobs/*/output" if running else "GET */v1/jobs/*/output/stream"
    with connect(flavour) as client:
        job = client.submit(flavour.compute, JobSpec(executable="/bin/bash", arguments=["-c", script]))
        try:
            if running:
                wait_for_file(marker, client, flavour, job.id)
            else:
                client.wait(flavour.compute, job.id, timeout=60, poll_interval=0.1)
            faults = {"spec": f"drop_after=count:1@{route},502=count:1@{route}"}
            httpx.put(f"{server.url}/_emulator/faults", json=faults, timeout=10).raise_for_status()
            assert client.job_output(flavour.compute, job.id, tail=2) == "4999\n5000\n"
            fired = httpx.get(f"{server.url}/_emulator/faults", timeout=10).json()
        finally:
            httpx.delete(f"{server.url}/_emulator/faults", timeout=10)
            if running:
                client.cancel(flavour.compute, job.id)
    assert [rule["fired"] for rule in fired["rules"]] == [1, 1], fired

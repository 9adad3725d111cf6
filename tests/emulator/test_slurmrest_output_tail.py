"""``job_output(tail=N)`` with ``local_output=True`` reads the end of the output file, not all of
it: the memory it takes follows the tail asked for, not the file (slurmrest and S3M)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facility_common import FacilityClient, JobSpec, JobState
from facility_emulator import EmulatorConfig, EmulatorServer

FILE_BYTES = 32 * 1024 * 1024
LINE = b"x" * 63 + b"\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("tail"), queue_delay=0.0, record_exchanges=False)
    with EmulatorServer(config) as srv:
        yield srv


def connect(server: EmulatorServer, api: str) -> FacilityClient:
    if api == "slurmrest":
        credentials = server.flavour_credentials("slurmrestd")
        extra: dict[str, Any] = {"user_name": credentials["user_name"]}
        base_url = server.api_url("slurmrestd", "root")
    else:
        credentials = server.flavour_credentials("s3m")
        extra = {}
        base_url = server.url
    return FacilityClient.connect(
        api,
        base_url=base_url,
        auth={"type": "token", "token": credentials["token"]},
        directory=credentials["home"],
        local_output=True,
        **extra,
    )


@pytest.mark.parametrize("api", ["slurmrest", "s3m"])
def test_a_short_tail_of_a_large_output_takes_memory_of_the_tail(server: EmulatorServer, api: str) -> None:
    with connect(server, api) as client:
        job = client.submit("polaris", JobSpec(executable="/bin/echo", arguments=["first"]))
        done = client.wait("polaris", job.id, timeout=30, poll_interval=0.05)
        assert done.state is JobState.COMPLETED and done.stdout_path
        path = Path(done.stdout_path)
        with path.open("ab") as handle:
            for _ in range(FILE_BYTES // (len(LINE) * 1024)):
                handle.write(LINE * 1024)
            handle.write(b"second to last\nlast line, no break")
        client.job_output("polaris", job.id, tail=1)  # warm: connections, imports
        tracemalloc.start()
        try:
            tail = client.job_output("polaris", job.id, tail=3)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert tail == LINE.decode() + "second to last\nlast line, no break"
        assert peak < 2 * 1024 * 1024, f"peak {peak} bytes for a 3-line tail of {FILE_BYTES} bytes"
        head = client.job_output("polaris", job.id)
        assert head.startswith("first\n") and len(head) > FILE_BYTES

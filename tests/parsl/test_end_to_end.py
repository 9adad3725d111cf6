"""Parsl's HighThroughputExecutor with FacilityProvider: real workers started by pilot jobs that
the emulated facility runs. Covers results, scaling out and in, a broken pilot, a pilot killed at
its walltime, and secrets kept out of Parsl's run directory."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import parsl
import pytest
from parsl.jobs.states import JobState as ParslState

from facility_emulator import EmulatorConfig, EmulatorServer

from .conftest import emulator_jobs, htex_config, make_provider

pytestmark = pytest.mark.slow

TASKS = 200


@parsl.python_app
def square(x: int) -> int:
    import time

    time.sleep(0.05)
    return x * x


@parsl.python_app
def worker_block() -> str:
    """The id of the block (pilot job) whose worker runs this app."""
    import os

    return os.environ.get("PARSL_WORKER_BLOCK_ID", "")


@parsl.bash_app
def greet(name: str, stdout: str | None = None) -> str:
    return f"echo hello {name} from $PARSL_WORKER_RANK"


@pytest.fixture(scope="module")
def facility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("parsl-e2e"), queue_delay=0.1, task_delay=0.01)
    with EmulatorServer(config) as server:
        yield server


def eventually(condition: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Wait for ``condition()`` to be truthy and return it; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.25)


def files_holding(root: Path, *needles: str) -> list[str]:
    """Paths under ``root`` whose bytes contain any of ``needles``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(needle.encode() in data for needle in needles):
                found.append(str(path))
    return found


@dataclass
class Run:
    """What the scaling workflow observed."""

    results: list[int]
    greeting: str
    run_dir: Path
    token: str
    jobs_at_end: list[dict[str, Any]] = field(default_factory=list)
    final_states: dict[str, ParslState] = field(default_factory=dict)


@pytest.fixture(scope="module")
def scaling_run(facility: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """200 python_apps and a bash_app on up to three blocks that are scaled in once idle."""
    run_dir = tmp_path_factory.mktemp("e2e-runinfo")
    token = facility.credentials["static_token"]
    provider = make_provider(facility, auth=token, init_blocks=1, min_blocks=0, max_blocks=3)
    config = htex_config(provider, run_dir, "e2e", strategy="htex_auto_scale", max_idletime=1.0)
    with parsl.load(config) as dfk:
        futures = [square(n) for n in range(TASKS)]
        greeting_file = run_dir / "greeting.txt"
        greeting = greet("facility", stdout=str(greeting_file))
        results = [future.result(timeout=180) for future in futures]
        assert greeting.result(timeout=60) == 0
        run = Run(results=results, greeting=greeting_file.read_text(), run_dir=run_dir, token=token)

        def all_scaled_in() -> bool:
            jobs = emulator_jobs(facility, "parsl.e2e.block-")
            return bool(jobs) and all(job["state"] in ("canceled", "completed") for job in jobs)

        eventually(all_scaled_in, "idle blocks to be scaled in")
        run.jobs_at_end = emulator_jobs(facility, "parsl.e2e.block-")
        executor = dfk.executors["e2e"]
        run.final_states = {block: status.state for block, status in executor.status_facade.items()}
    parsl.clear()
    return run


def test_every_result_is_correct(scaling_run: Run) -> None:
    assert scaling_run.results == [n * n for n in range(TASKS)]
    assert scaling_run.greeting.startswith("hello facility")


def test_blocks_scale_out_then_in(scaling_run: Run) -> None:
    jobs = scaling_run.jobs_at_end
    assert len(jobs) >= 2, f"expected the executor to scale out, saw {len(jobs)} block(s)"
    assert len(jobs) <= 3  # max_blocks
    # Scaled in by Parsl's strategy while the DFK was still running: the pilots were cancelled.
    assert {job["state"] for job in jobs} == {"canceled"}
    assert set(scaling_run.final_states.values()) == {ParslState.SCALED_IN}


def test_the_run_dir_holds_no_token(scaling_run: Run) -> None:
    logs = list(scaling_run.run_dir.rglob("parsl.log"))
    assert logs, "no parsl.log written"
    assert "FacilityProvider(" in "".join(log.read_text() for log in logs)  # the repr was logged
    assert files_holding(scaling_run.run_dir, scaling_run.token) == []


def test_a_pilot_that_exits_3_fails_the_app_with_its_stderr(facility: EmulatorServer, tmp_path: Path) -> None:
    provider = make_provider(
        facility,
        worker_init="echo 'worker_init: module parsl-env not found' >&2; exit 3",
        init_blocks=1,
        max_blocks=1,
    )
    with parsl.load(htex_config(provider, tmp_path, "broken")):
        future = square(3)
        with pytest.raises(Exception) as caught:
            future.result(timeout=120)
    parsl.clear()
    report = str(caught.value)
    assert "module parsl-env not found" in report, report
    assert "EXIT CODE: 3" in report, report
    [job] = emulator_jobs(facility, "parsl.broken.block-")
    assert job["state"] == "failed"


#: Bound on each step of the walltime test (first result, the kill noticed, the killed workers
#: dropped, the replacement's result). Generous: a loaded machine starts workers slowly, and the
#: test waits only as long as each step takes.
PATIENCE = 150.0


@pytest.mark.timeout(4 * PATIENCE + 60)
def test_a_pilot_killed_at_walltime_is_replaced(facility: EmulatorServer, tmp_path: Path) -> None:
    credentials = facility.credentials
    auth = {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }
    provider = make_provider(facility, auth=auth, walltime=20, init_blocks=1, min_blocks=0, max_blocks=1)
    config = htex_config(provider, tmp_path, "walltime", retries=2)
    with parsl.load(config) as dfk:
        executor = dfk.executors["walltime"]
        worker_block().result(timeout=PATIENCE)
        first_job = emulator_jobs(facility, "parsl.walltime.block-")[0]

        def block_0_timed_out() -> bool:
            status = executor.status_facade.get("0")
            return status is not None and status.state == ParslState.TIMEOUT

        eventually(block_0_timed_out, "block 0 to be reported TIMEOUT", timeout=PATIENCE)
        assert not executor.bad_state_is_set
        # The replacement block gets time enough to start and run its task on a loaded machine.
        provider.walltime = "00:10:00"

        def block_0_workers_gone() -> bool:
            return all(manager["block_id"] != "0" for manager in executor.connected_managers())

        # The interchange learns of the killed workers by missed heartbeats, not from the provider.
        eventually(
            block_0_workers_gone, "the interchange to drop the killed block's workers", timeout=PATIENCE
        )
        assert not executor.bad_state_is_set
        # Work submitted after the kill completes, on a block started to replace the killed one.
        replacement = worker_block().result(timeout=PATIENCE)
        jobs = emulator_jobs(facility, "parsl.walltime.block-")
    parsl.clear()
    assert replacement not in ("", "0"), replacement
    assert len(jobs) >= 2, "Parsl did not start a new block after the walltime kill"
    killed = next(job for job in jobs if job["id"] == first_job["id"])
    assert killed["meta_data"].get("reason") == "walltime"
    assert files_holding(tmp_path, credentials["client_secret"]) == []

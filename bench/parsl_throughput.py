"""Task throughput of Parsl's HighThroughputExecutor on FacilityProvider versus LocalProvider.

Both runs use the same executor settings on this machine: one block of two workers. The
FacilityProvider block is a pilot job submitted through the local facility emulator (IRI API);
the LocalProvider block is a local process. Each run first waits for its block to serve one task
(start-up is reported separately), then times ``--tasks`` trivial python_apps (the makespan of
the tasks; also printed with start-up included). The ratio shows
what the provider costs once workers are up: the task path (interchange -> workers) is the same,
so it should be close to 1.

    uv run python bench/parsl_throughput.py --tasks 2000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import parsl
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import LocalProvider
from parsl.providers.base import ExecutionProvider

from facility_emulator import EmulatorConfig, EmulatorServer
from parsl_facility import FacilityProvider

WORKERS = 2


@parsl.python_app
def noop(x: int) -> int:
    return x


@dataclass
class Measure:
    """One provider's figures."""

    name: str
    startup_s: float
    tasks: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        return self.tasks / self.elapsed_s


def run(name: str, provider: ExecutionProvider, run_dir: Path, tasks: int) -> Measure:
    """Start a DFK with one block from ``provider`` and time ``tasks`` trivial apps."""
    executor = HighThroughputExecutor(
        label=name, address="127.0.0.1", max_workers_per_node=WORKERS, provider=provider
    )
    config = Config(executors=[executor], run_dir=str(run_dir), strategy_period=0.5)
    started = time.perf_counter()
    with parsl.load(config):
        noop(-1).result(timeout=300)
        ready = time.perf_counter()
        futures = [noop(n) for n in range(tasks)]
        assert [future.result(timeout=600) for future in futures] == list(range(tasks))
        done = time.perf_counter()
    parsl.clear()
    return Measure(name=name, startup_s=ready - started, tasks=tasks, elapsed_s=done - ready)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=2000, help="trivial tasks per provider (default 2000)")
    args = parser.parse_args(argv)
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])

    with tempfile.TemporaryDirectory(prefix="parsl-bench-") as scratch_name:
        scratch = Path(scratch_name)
        with EmulatorServer(EmulatorConfig(root=scratch / "facility", queue_delay=0.1)) as server:
            facility = FacilityProvider(
                base_url=server.iri_url("v1"),
                resource="polaris",
                auth=server.credentials["static_token"],
                account="bench",
                walltime="00:30:00",
                init_blocks=1,
                max_blocks=1,
                status_polling_interval=5,
            )
            measures = [run("facility", facility, scratch / "runinfo-facility", args.tasks)]
        local = LocalProvider(init_blocks=1, max_blocks=1)  # type: ignore[no-untyped-call]
        measures.append(run("local", local, scratch / "runinfo-local", args.tasks))

    print(f"{'provider':<10} {'start-up s':>10} {'tasks':>7} {'elapsed s':>10} {'tasks/s':>9}")
    for m in measures:
        print(f"{m.name:<10} {m.startup_s:>10.2f} {m.tasks:>7} {m.elapsed_s:>10.2f} {m.rate:>9.0f}")
    ratio = measures[0].rate / measures[1].rate
    print(f"throughput ratio FacilityProvider / LocalProvider: {ratio:.2f}")
    facility_run, local_run = measures
    print(
        "ratio makespan of the tasks FacilityProvider / LocalProvider: "
        f"{facility_run.elapsed_s / local_run.elapsed_s:.2f}   (goal <= 1.10)"
    )
    print(
        "ratio makespan with start-up FacilityProvider / LocalProvider: "
        f"{(facility_run.startup_s + facility_run.elapsed_s) / (local_run.startup_s + local_run.elapsed_s):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Task throughput of Parsl's HighThroughputExecutor on FacilityProvider versus LocalProvider.

Both runs use the same executor settings on this machine: one block of two workers. The
FacilityProvider block is a pilot job submitted through the local facility emulator (IRI API);
the LocalProvider block is a local process. Each run first waits for its block to serve one task
(start-up is reported separately), then times ``--tasks`` trivial python_apps (the makespan of
the tasks; also printed with start-up included). The ratio shows what the provider costs once
workers are up: the task path (interchange -> workers) is the same, so it should be close to 1.
``--repeats`` runs several pairs, alternating which provider goes first, and prints the medians
of the per-pair ratios (a single pair on a busy 2-core machine is easily 15 % off either way).

    uv run python bench/parsl_throughput.py --tasks 2000
    uv run python bench/parsl_throughput.py --tasks 5000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def _run_one(name: str, scratch: Path, tasks: int) -> Measure:
    """One provider's run; the facility one gets a fresh emulator."""
    if name == "local":
        local = LocalProvider(init_blocks=1, max_blocks=1)  # type: ignore[no-untyped-call]
        return run("local", local, scratch / "runinfo-local", tasks)
    with EmulatorServer(EmulatorConfig(root=scratch / "facility", queue_delay=0.1)) as server:
        facility = FacilityProvider(
            facility="iri",
            base_url=server.iri_url("v1"),
            resource="polaris",
            auth=server.credentials["static_token"],
            account="bench",
            walltime="00:30:00",
            init_blocks=1,
            max_blocks=1,
            status_polling_interval=5,
        )
        return run("facility", facility, scratch / "runinfo-facility", tasks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=2000, help="trivial tasks per provider (default 2000)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="pairs of runs, order alternating; ratios are medians (default 1)",
    )
    args = parser.parse_args(argv)
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])

    pairs: list[tuple[Measure, Measure]] = []
    with tempfile.TemporaryDirectory(prefix="parsl-bench-") as scratch_name:
        scratch = Path(scratch_name)
        for repeat in range(args.repeats):
            # Alternate which provider goes first: the second run of a pair finds warm caches.
            order = ["facility", "local"] if repeat % 2 == 0 else ["local", "facility"]
            runs = {name: _run_one(name, scratch / f"r{repeat}", args.tasks) for name in order}
            pairs.append((runs["facility"], runs["local"]))

    print(f"{'run':<4} {'provider':<10} {'start-up s':>10} {'tasks':>7} {'elapsed s':>10} {'tasks/s':>9}")
    for index, pair in enumerate(pairs):
        for m in pair:
            print(
                f"{index:<4} {m.name:<10} {m.startup_s:>10.2f} {m.tasks:>7} {m.elapsed_s:>10.2f} {m.rate:>9.0f}"
            )
    throughput = statistics.median(f.rate / loc.rate for f, loc in pairs)
    makespan = statistics.median(f.elapsed_s / loc.elapsed_s for f, loc in pairs)
    with_startup = statistics.median(
        (f.startup_s + f.elapsed_s) / (loc.startup_s + loc.elapsed_s) for f, loc in pairs
    )
    what = f"median of {len(pairs)} pairs" if len(pairs) > 1 else "one pair"
    print(f"throughput ratio FacilityProvider / LocalProvider ({what}): {throughput:.2f}")
    print(
        f"ratio makespan of the tasks FacilityProvider / LocalProvider ({what}): {makespan:.2f}   (goal <= 1.10)"
    )
    print(f"ratio makespan with start-up FacilityProvider / LocalProvider ({what}): {with_startup:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The demo's Parsl step: a small workflow whose apps run on workers started by a pilot job that
was submitted through the (emulated) facility's IRI API.

``run(server, scratch)`` configures a HighThroughputExecutor with a FacilityProvider, runs a few
python_apps and a bash_app, shows which pilot job their workers live in, and returns whether
every result was right. Run it alone with ``uv run python scripts/demo_parsl.py``.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile
import time

import parsl
from parsl.config import Config
from parsl.executors import HighThroughputExecutor

from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.config import CREDENTIALS_ENV
from parsl_facility import FacilityProvider

RESOURCE = "polaris"
TEXTS = [
    "the quick brown fox",
    "jumps over the lazy dog",
    "pilot jobs carry workers",
    "workers dial back to the interchange",
]


@parsl.python_app
def count_words(text: str) -> int:
    return len(text.split())


@parsl.python_app
def where_am_i() -> dict[str, str]:
    import os
    import socket

    return {"job": os.environ.get("IRI_JOB_ID", "?"), "host": socket.gethostname(), "pid": str(os.getpid())}


@parsl.bash_app
def summarise(total: int, stdout: str | None = None) -> str:
    return f"echo 'the texts hold {total} words' && echo \"worker in pilot job $IRI_JOB_ID\""


def _worker_pythonpath() -> str:
    """Workers import the apps' module by name: this directory (``demo_parsl``) and the
    repository root (``scripts.demo_parsl``) go on their PYTHONPATH."""
    here = pathlib.Path(__file__).resolve().parent
    parts = [str(here), str(here.parent), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(part for part in parts if part)


def run(server: EmulatorServer, scratch: pathlib.Path) -> bool:
    """Run the Parsl workflow against ``server``; Parsl's run dir goes under ``scratch``."""
    saved_path = os.environ.get("PATH", "")
    # Parsl starts interchange.py and the pilot starts process_worker_pool.py through PATH.
    os.environ["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), saved_path])
    try:
        return _workflow(server, scratch)
    finally:
        os.environ["PATH"] = saved_path


def _workflow(server: EmulatorServer, scratch: pathlib.Path) -> bool:
    provider = FacilityProvider(
        facility="iri",
        base_url=server.iri_url("v1"),
        resource=RESOURCE,
        auth=server.credentials["static_token"],
        account="demo",
        queue="debug",
        walltime="00:10:00",
        init_blocks=1,
        max_blocks=1,
        worker_init='echo "pilot job $IRI_JOB_ID starting Parsl workers on $(hostname)"',
        environment={"PYTHONPATH": _worker_pythonpath()},
        status_polling_interval=2,
    )
    executor = HighThroughputExecutor(
        label="facility", address="127.0.0.1", max_workers_per_node=2, provider=provider
    )
    config = Config(executors=[executor], run_dir=str(scratch / "parsl-runinfo"), strategy_period=1)
    print(
        f"  Parsl HighThroughputExecutor, one block = one pilot job on {RESOURCE} via {server.iri_url('v1')}"
    )
    started = time.monotonic()
    with parsl.load(config):
        counts = [count_words(text) for text in TEXTS]
        place = where_am_i().result(timeout=120)
        pilots = sorted(str(job_id) for job_id in provider.resources)
        print(f"  pilot job(s) submitted through the API: {', '.join(pilots)}")
        print(f"  apps run in pilot job {place['job']} on {place['host']} (worker pid {place['pid']})")
        words = [future.result(timeout=120) for future in counts]
        print(f"  count_words over {len(TEXTS)} texts -> {words}")
        summary_file = scratch / "parsl-summary.txt"
        code = summarise(sum(words), stdout=str(summary_file)).result(timeout=120)
        for line in summary_file.read_text().splitlines():
            print(f"  | {line}")
        states = provider.status(pilots)
        print(
            f"  pilot states: {', '.join(f'{p}={s.state.name}' for p, s in zip(pilots, states, strict=True))}"
        )
    parsl.clear()
    print(f"  Parsl workflow finished in {time.monotonic() - started:.1f}s; blocks cancelled at shutdown")
    expected = [len(text.split()) for text in TEXTS]
    return words == expected and code == 0 and place["job"] in pilots


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="facility-parsl-demo-") as scratch_name:
        scratch = pathlib.Path(scratch_name)
        config = EmulatorConfig(
            root=scratch / "facility", credentials_file=os.environ.get(CREDENTIALS_ENV) or None
        )
        emulator = EmulatorServer(config)
        with emulator as server:
            ok = run(server, scratch)
    print("Parsl demo", "succeeded" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

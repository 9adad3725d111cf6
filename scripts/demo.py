"""The demo: a small experiment run at an emulated facility through the IRI Facility API.

It starts the local facility emulator, shows the resources' status, stages an input file, submits
a job that reads it, waits with visible progress, prints the job's output and the facility's view
of the result files. Then the same facility serves a Parsl workflow whose workers run in a pilot
job, and an Airflow DAG that moves data between two sites. Everything runs on 127.0.0.1.

Two environment variables make runs inspectable afterwards (the secrets test uses both):
``FACILITY_EMULATOR_CREDENTIALS`` names a JSON file fixing the emulator's credentials (see
``EmulatorConfig.credentials_file``), and ``FACILITY_DEMO_DIR`` names a directory to work in
instead of a temporary one, kept afterwards with the facility's files, Parsl's run directory and
Airflow's home.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from facility_common import FacilityClient, Job, JobAttributes, JobSpec, ResourceSpec
from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.config import CREDENTIALS_ENV

DEMO_DIR_ENV = "FACILITY_DEMO_DIR"

RESOURCE = "polaris"
INPUT_TEXT = "the quick brown fox jumps over the lazy dog\n" * 3

JOB_SCRIPT = """\
echo "job $FACILITY_JOB_LABEL on $(hostname) reading input.txt"
words=$(wc -w < input.txt)
echo "input has $words words"
sleep 2
tr 'a-z' 'A-Z' < input.txt > result.txt
echo "wrote result.txt"
"""


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def show_progress(started: float) -> Callable[[Job], None]:
    def on_update(job: Job) -> None:
        print(
            f"  {time.monotonic() - started:5.1f}s  job {job.id}: {job.state.value} ({job.native_state})",
            flush=True,
        )

    return on_update


# Further demo steps, each a module beside this script with run(server, scratch) -> bool. The
# Airflow step comes last: Airflow reads its configuration when first imported.
EXTRA_STEPS = {
    "demo_parsl": "Parsl: a workflow whose apps run on workers started by a pilot job",
    "demo_airflow": "Airflow: the cross-facility example DAG, waiting deferred",
}


#: What to try after the demo: (what it does, the command), printed at its end.
#: tests/docs/test_demo_next_steps.py runs the three commands.
NEXT_STEPS = (
    (
        "start an emulator in a terminal of its own, from this directory (Ctrl-C stops it)",
        "source .venv/bin/activate && facility emulate",
    ),
    (
        "in a second terminal, run `source .venv/bin/activate`, paste the export lines it printed, and check",
        "facility check polaris",
    ),
    (
        "submit a first job and read what it printed",
        "facility submit --wait --output -- /bin/echo hello from polaris",
    ),
)


def next_steps() -> str:
    """The demo's last words: the three commands to try next."""
    lines = ["", "== what to try next"]
    for number, (what, command) in enumerate(NEXT_STEPS, start=1):
        lines += [f"  {number}. {what}:", f"       {command}"]
    lines.append("  docs/getting-started.md walks through every command.")
    return "\n".join(lines)


def run_step(module_name: str, server: EmulatorServer, scratch: Path) -> bool:
    module = importlib.import_module(module_name)
    section(EXTRA_STEPS[module_name])
    ok = bool(module.run(server, scratch))
    print(f"  {module_name.removeprefix('demo_')} step {'succeeded' if ok else 'FAILED'}", flush=True)
    return ok


@contextlib.contextmanager
def work_directory() -> Iterator[str]:
    """``$FACILITY_DEMO_DIR`` (created, kept) or a temporary directory (removed)."""
    chosen = os.environ.get(DEMO_DIR_ENV)
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        yield str(Path(chosen).resolve())
        return
    with tempfile.TemporaryDirectory(prefix="facility-demo-") as scratch:
        yield scratch


def main() -> int:
    ok = run_demo()
    print(next_steps(), flush=True)
    return 0 if ok else 1


def run_demo() -> bool:
    """Every step of the demo; True when all succeeded."""
    with work_directory() as scratch:
        config = EmulatorConfig(
            root=Path(scratch) / "facility", credentials_file=os.environ.get(CREDENTIALS_ENV) or None
        )
        emulator = EmulatorServer(config)
        with emulator as server:
            credentials = server.credentials
            base_url = server.iri_url("v1")
            print(f"facility emulator serving the IRI Facility API at {base_url}")
            if config.credentials_file is not None:
                print(f"  with the credentials fixed in {config.credentials_file}")
            auth = {
                "type": "oidc_client_credentials",
                "token_url": credentials["token_url"],
                "client_id": credentials["client_id"],
                "client_secret": credentials["client_secret"],
            }
            with FacilityClient.connect("iri", base_url=base_url, auth=auth) as client:
                section("resource status")
                for status in client.resources():
                    print(f"  {status.name:<10} {status.resource_type or '':<9} {status.state.value}")
                print(
                    f"  {RESOURCE} available for the next hour: {client.is_available(RESOURCE, timedelta(hours=1))}"
                )

                section("stage input")
                home = credentials["home"]
                workdir = f"{home}/demo-run"
                local_input = Path(scratch) / "input.txt"
                local_input.write_text(INPUT_TEXT)
                client.mkdir(RESOURCE, workdir, parents=True)
                client.upload(RESOURCE, local_input, f"{workdir}/input.txt")
                print(f"  uploaded {local_input.stat().st_size} bytes to {workdir}/input.txt")

                section("submit")
                spec = JobSpec(
                    executable="/bin/bash",
                    arguments=["-c", JOB_SCRIPT],
                    name="demo",
                    directory=workdir,
                    environment={"FACILITY_JOB_LABEL": "demo"},
                    resources=ResourceSpec(node_count=1),
                    attributes=JobAttributes(
                        duration=timedelta(minutes=5), queue_name="debug", account="demo"
                    ),
                )
                job = client.submit(RESOURCE, spec)
                print(f"  submitted job {job.id} ({job.state.value})")

                section("wait")
                job = client.wait(
                    RESOURCE,
                    job.id,
                    timeout=120,
                    poll_interval=0.5,
                    on_update=show_progress(time.monotonic()),
                )  # type: ignore[arg-type]
                print(f"  job {job.id} ended {job.state.value} with exit code {job.exit_code}")

                section("job output")
                for line in client.job_output(RESOURCE, job.id).splitlines():
                    print(f"  | {line}")

                section("result files at the facility")
                for entry in client.ls(RESOURCE, workdir):
                    print(f"  {entry.permissions or '':<10} {entry.size or 0:>6}  {entry.name}")
                print("  result.txt begins:", client.head(RESOURCE, f"{workdir}/result.txt", lines=1).strip())
                client_ok = job.state.value == "COMPLETED"

            steps_ok = [run_step(name, server, Path(scratch)) for name in EXTRA_STEPS]
        print("\nemulator stopped; demo finished")
        return client_ok and all(steps_ok)


if __name__ == "__main__":
    sys.exit(main())

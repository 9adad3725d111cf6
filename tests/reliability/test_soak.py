"""Soak: 300 jobs through Parsl's provider and Airflow's operators over every emulated API, with
faults injected on about a tenth of the requests; afterwards the emulator's own records must show
that every job ran exactly once, every wait ended and every cancelled job stopped.

Reproduce with ``.venv/bin/pytest tests/reliability/test_soak.py -m soak -s``. The report line
and the per-kind fault counts go to the terminal (with or without ``-s``) and to
``soak-report.json`` in the test's tmp directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from facility_emulator import EmulatorConfig, EmulatorServer

from ..airflow.conftest import (
    DAGS_FOLDER,
    airflow_db,  # noqa: F401 - the metadata database fixture
)
from .soak_airflow import KilledTask, build_dag, record_outcomes
from .soak_backends import API_ROUTES, BACKENDS, SUBMIT_ROUTES, connection_env, make_provider, resource
from .soak_htex import VENV_BIN, HtexRun
from .soak_ledger import LogicalJob, audit, plan, run_lines
from .soak_parsl import ProviderDriver

pytestmark = pytest.mark.soak

JOBS_PER_BACKEND = 22
"""Per side and backend: 22 x 7 backends x 2 sides = 308 jobs."""
SLEEPERS_PER_BACKEND = 3
"""Of those, sleepers to cancel (Parsl: provider.cancel; Airflow: the operator's on_kill)."""
TOKEN_LIFETIME = 20.0
HTEX_BACKEND = "iri-v1"
HTEX_APPS = 40
"""Apps run by a real DataFlowKernel on HighThroughputExecutor blocks, besides the 300 jobs."""
DAG_ID = "facility_soak"
DRIVE_SECONDS = 480.0
"""Bound on the whole run: a job still open after it counts as hung."""


def fault_spec() -> str:
    """The injected faults: about one API request in ten fails or is dropped, plus slow bursts and
    tokens that die at half their advertised lifetime.

    Every rule is repeated per API, so each API sees the same cadence. Token endpoints are left
    alone. Submit failures after which a backend must look for its job (``drop_after``, ``504``)
    are injected on every API but Flux: its RESTful API shows neither a job's environment nor a
    name the client chose, so among identical jobs submitted at the same moment by other clients a
    backend cannot tell its own (the Flux backend refuses to guess);
    tests/integration/test_flux_reliability.py covers a lost answer with a single submitter.
    """
    items = [f"drop_after=every:6@{route}" for api, route in SUBMIT_ROUTES.items() if api != "flux"]
    for api, route in API_ROUTES.items():
        items += [
            f"429=every:39:retry_after:0.2@* {route}",
            f"503=every:43@* {route}",
            f"504=every:97@{'GET' if api == 'flux' else '*'} {route}",
            f"502=every:29@GET {route}",
            f"drop_before=every:61@GET {route}",
        ]
    items += ["latency=every:240:burst:8:seconds:0.4", "token_expiry=0.5"]
    return ",".join(items)


def admin(server: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    """Call an ``/_emulator`` admin route (never faulted, never counted)."""
    answer = httpx.request(method, f"{server.url}/_emulator/{path}", json=body, timeout=30)
    answer.raise_for_status()
    return answer.json() if answer.content else None


@pytest.fixture
def soak_facility(tmp_path: Path) -> Iterator[EmulatorServer]:
    """A private emulator: fast queue, 20 s tokens, no exchange log (300 jobs would fill it)."""
    config = EmulatorConfig(
        root=tmp_path / "facility",
        queue_delay=0.05,
        task_delay=0.01,
        token_lifetime=TOKEN_LIFETIME,
        record_exchanges=False,
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def soak_dag_file() -> Iterator[None]:
    """The soak DAG file linked into the Airflow DAGs folder for the test's duration."""
    link = DAGS_FOLDER / "soak_dag.py"
    link.symlink_to(Path(__file__).with_name("soak_dag.py"))
    try:
        yield
    finally:
        link.unlink()


def fault_counts(faults: dict[str, Any], statuses: dict[str, int]) -> dict[str, int]:
    """Injected faults per kind: the rules' own counters plus the 401s of expired tokens."""
    counts: dict[str, int] = {}
    for rule in faults["rules"]:
        kind = rule["kind"] if rule["kind"] != "drop_after" else "drop_after (submit)"
        counts[kind] = counts.get(kind, 0) + int(rule["fired"])
    counts["401 (token expired)"] = int(statuses.get("401", 0))
    return counts


@pytest.mark.timeout(900)
def test_soak(
    soak_facility: EmulatorServer,
    airflow_db: None,  # noqa: F811
    soak_dag_file: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    server = soak_facility
    for name, value in connection_env(server).items():
        monkeypatch.setenv(name, value)
    marker_dir = Path(server.credentials["home"]) / "soak"
    marker_dir.mkdir()
    resources = {backend: resource(server, backend) for backend in BACKENDS}

    parsl_jobs = plan("p", BACKENDS, JOBS_PER_BACKEND, SLEEPERS_PER_BACKEND)
    airflow_jobs = plan("a", BACKENDS, JOBS_PER_BACKEND, SLEEPERS_PER_BACKEND)
    killed = [job for job in airflow_jobs if job.sleeper]
    in_dag = [job for job in airflow_jobs if not job.sleeper]
    dag = link_dag(tmp_path, monkeypatch, in_dag, resources, str(marker_dir))

    admin(server, "DELETE", "stats")
    admin(server, "PUT", "faults", {"spec": fault_spec()})
    started = time.monotonic()
    deadline = started + DRIVE_SECONDS

    drivers = [
        ProviderDriver(
            make_provider(server, backend),
            [job for job in parsl_jobs if job.backend == backend],
            marker_dir,
            deadline,
        )
        for backend in BACKENDS
    ]
    kills = [
        KilledTask(job, resources[job.backend], str(marker_dir), _has_started(marker_dir), deadline)
        for job in killed
    ]
    # Parsl starts its interchange (and the pilots their workers) through PATH.
    monkeypatch.setenv("PATH", os.pathsep.join([VENV_BIN, os.environ.get("PATH", "")]))
    htex = HtexRun(server, HTEX_BACKEND, tmp_path / "runinfo", marker_dir, HTEX_APPS)
    try:
        htex.start()
        for thread in [*drivers, *kills]:
            thread.start()
        run = dag.test()
        record_outcomes(run, in_dag)
        for thread in [*drivers, *kills]:
            thread.join(timeout=max(1.0, deadline - time.monotonic()))
        htex_result = htex.finish(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        htex.close()
    elapsed = time.monotonic() - started

    faults = admin(server, "GET", "faults")
    stats = admin(server, "GET", "stats")
    admin(server, "DELETE", "faults")
    records = admin(server, "GET", "jobs")["jobs"]

    all_jobs: list[LogicalJob] = [*parsl_jobs, *airflow_jobs]
    for thread in [*drivers, *kills]:
        if thread.is_alive():
            for job in getattr(thread, "jobs", [getattr(thread, "job", None)]):
                if job is not None and job.outcome is None:
                    job.outcome = "hung"
    result = audit(all_jobs, records, marker_dir)
    counts = fault_counts(faults, stats["statuses"])
    injected = sum(counts.values())
    total = int(stats["total"])
    line = (
        f"soak: {len(all_jobs)} jobs ({len(parsl_jobs)} parsl, {len(airflow_jobs)} airflow) over "
        f"{len(BACKENDS)} backends, {total} requests, {injected} faults injected "
        f"({100.0 * injected / max(total, 1):.1f}%), lost {len(result.lost)}, duplicated "
        f"{len(result.duplicated)}, hung {len(result.hung)}, cancelled {result.cancelled} "
        f"stopped {result.stopped}"
    )
    htex_line = (
        f"soak: and a DataFlowKernel ran {htex_result.apps} apps on {htex_result.blocks} "
        f"HighThroughputExecutor blocks ({htex_result.block_jobs} facility jobs)"
    )
    report = {
        "line": line,
        "htex_line": htex_line,
        "elapsed_seconds": round(elapsed, 1),
        "requests": total,
        "faults": counts,
        "fault_spec": fault_spec(),
        "statuses": stats["statuses"],
        "emulator_jobs": len(records),
        "airflow_tasks_retried": sum(1 for job in in_dag if "tries" in job.detail)
        + sum(1 for kill in kills if kill.tries > 1),
        "unexpected_outcomes": {
            job.key: f"{job.outcome}: {job.detail}"
            for job in all_jobs
            if job.outcome != ("cancelled" if job.sleeper else "completed")
        },
        "problems": result.problems(),
        "htex": dataclasses.asdict(htex_result),
        "driver_errors": [repr(d.error) for d in drivers if d.error is not None],
    }
    (tmp_path / "soak-report.json").write_text(json.dumps(report, indent=2))
    with capsys.disabled():
        details = {key: value for key, value in report.items() if not key.endswith("line")}
        print(f"\n{line}\n{htex_line}\n{json.dumps(details, indent=2)}")

    assert not report["driver_errors"]
    assert htex_result.ok, htex_result
    assert not result.problems(), result.problems()
    assert len(result.lost) == len(result.duplicated) == len(result.hung) == 0
    assert result.cancelled == result.stopped == SLEEPERS_PER_BACKEND * len(BACKENDS) * 2


def link_dag(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    jobs: list[LogicalJob],
    resources: dict[str, str],
    marker_dir: str,
) -> Any:
    """Write the plan for the soak DAG file and build the same DAG here."""
    plan_file = tmp_path / "soak-plan.json"
    plan_file.write_text(
        json.dumps(
            {
                "dag_id": DAG_ID,
                "jobs": [dataclasses.asdict(job) for job in jobs],
                "resources": resources,
                "marker_dir": marker_dir,
            }
        )
    )
    monkeypatch.setenv("FACILITY_SOAK_PLAN", str(plan_file))
    return build_dag(DAG_ID, jobs, resources, marker_dir)


def _has_started(marker_dir: Path) -> Any:
    def started(job: LogicalJob) -> bool:
        return run_lines(marker_dir, job.key, "run") > 0

    return started


def test_provider_resends_a_submit_of_unknown_outcome_under_its_tag(soak_facility: EmulatorServer) -> None:
    """A block submit that times out while the server is still creating the job ends with one job:
    the provider sends the same tagged spec again and the backend finds the job by its tag."""
    server = soak_facility
    admin(server, "PUT", "faults", {"spec": "latency=count:1:seconds:2@POST /iri/api/v1/compute/job/*"})
    provider = make_provider(server, "iri-v1", cmd_timeout=1)
    job_id = provider.submit("true", 1, "parsl.unknown.block-0")
    records = [
        r for r in admin(server, "GET", "jobs")["jobs"] if "parsl.unknown.block-0" in json.dumps(r["spec"])
    ]
    assert [record["id"] for record in records] == [job_id]
    assert admin(server, "GET", "faults")["rules"][0]["fired"] == 1

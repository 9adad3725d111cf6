"""A retried submit task finds the job of an earlier try by its tag, on every backend.

The emulator creates the job, then answers the submit with a 504 as a gateway whose upstream was
slow does (``504_after``), and keeps the new job out of listings for a moment (``invisible``), so
the first try's own look-up finds nothing: its submit's outcome is unknown and the task fails.
The retry runs with a fresh operator, hence a fresh hook and client (a new process in Airflow,
which remembers nothing of the first try): it asks the facility for the job carrying the task
instance's submit tag, re-attaches to it and waits for it. The emulator's own records then show
exactly one job for that tag, completed. The same client then finds that finished job by its tag
(and nothing for a tag never used), and a cleared task runs a new one.

IRI v2 sends one idempotency key with every resend of a submit, so its first try already
resends safely and gets the one job: there the first try succeeds. A backend whose API shows a new client no tag (Flux's
listing has no environment: its ``find_job_by_tag`` raises UnsupportedOperation) is skipped,
with the backend's reason.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_facility.attach import submit_tag
from airflow_facility.operators import FacilitySubmitJobOperator
from facility_common import FacilityClient, JobSubmissionError, UnsupportedOperation, get_descriptor
from facility_emulator import EmulatorConfig, EmulatorServer

from ..conformance.flavour import Flavour
from ..conformance.flavours import firecrest, flux, iri, s3m, sfapi, slurmrest_emulated
from .conftest import emulator_admin
from .test_kill_and_retry import TaskInstanceStandIn

FLAVOURS: dict[str, Callable[[Any], Flavour]] = {
    **iri.FLAVOURS,
    **sfapi.FLAVOURS,
    **firecrest.FLAVOURS,
    **flux.FLAVOURS,
    **s3m.FLAVOURS,
    **slurmrest_emulated.FLAVOURS,
}
SUBMIT_ROUTES = {
    "iri-v1": "POST /iri/api/*/compute/job/*",
    "iri-v2": "POST /iri/api/*/compute/job/*",
    "sfapi": "POST /sfapi/api/*/compute/jobs/*",
    "firecrest": "POST /firecrest/compute/*/jobs",
    "flux": "POST /flux/v1/jobs/submit",
    "s3m": "POST /slurm/*/job/submit",
    "slurmrest-emulated": "POST /slurmrestd/slurm/*/job/submit",
}
#: How long a new job stays out of listings: longer than the first try's single look-up.
INVISIBLE_SECONDS = 1.0
#: How long the job runs: it must still run when the retry looks for it (a finished job is not
#: re-attached), and the look-up comes about INVISIBLE_SECONDS after the submit.
RUN_SECONDS = "3"
#: Backends whose API lists jobs but keeps idempotent resends of one submit to one job.
IDEMPOTENT = {"iri-v2"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("reattach"), queue_delay=0.05, task_delay=0.0)
    with EmulatorServer(config) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def clear_faults(server: EmulatorServer) -> Iterator[None]:
    yield
    emulator_admin(server, "DELETE", "faults")


def _conn_id(backend: str) -> str:
    return "reattach_" + backend.replace("-", "_")


def _connection(flavour: Flavour) -> str:
    """The flavour as an ``AIRFLOW_CONN_*`` value; one look-up right after an ambiguous submit."""
    options = {**json.loads(json.dumps(flavour.options)), "submit_lookup_delays": [0.0]}
    value: dict[str, Any] = {
        "conn_type": get_descriptor(flavour.facility).conn_type,
        "host": flavour.base_url,
    }
    extra: dict[str, Any] = {"backend_options": options}
    if isinstance(flavour.auth, str):
        value["password"] = flavour.auth
    elif flavour.auth is not None:
        extra["auth"] = flavour.auth
    value["extra"] = extra
    return json.dumps(value)


def _operator(
    backend: str, flavour: Flavour, seconds: str = RUN_SECONDS, delays: tuple[float, ...] = ()
) -> FacilitySubmitJobOperator:
    """A fresh operator: its own hook, hence its own client and submit memory. Without ``delays``
    a submit of unknown outcome fails the try at once (the retry's path is under test)."""
    return FacilitySubmitJobOperator(
        unknown_outcome_delays=delays,
        task_id="compute",
        facility_conn_id=_conn_id(backend),
        resource=flavour.compute,
        executable="/bin/sleep",
        arguments=[seconds],
        duration=120,
        poll_interval=0.2,
        timeout=90,
        deferrable=False,
    )


def _jobs_tagged(server: EmulatorServer, tag: str) -> list[dict[str, Any]]:
    """The emulator's own records of the jobs submitted with ``tag`` (each API keeps it in its
    own place: the environment, the job comment...; the tag is unique, so its text suffices)."""
    jobs = emulator_admin(server, "GET", "jobs")["jobs"]
    return [job for job in jobs if tag in json.dumps(job.get("spec"))]


def _client(flavour: Flavour) -> FacilityClient:
    return FacilityClient.connect(
        flavour.facility, base_url=flavour.base_url, auth=flavour.auth, **flavour.options
    )


def _skip_without_lookup(flavour: Flavour) -> None:
    """Skip a backend whose API shows a fresh client no tag (find_job_by_tag unsupported)."""
    with _client(flavour) as client:
        try:
            client.find_job_by_tag(flavour.compute, f"probe-{uuid.uuid4().hex}")
        except UnsupportedOperation as exc:
            pytest.skip(f"{flavour.facility}: a new client cannot find a job by its tag: {exc.message}")


@pytest.mark.parametrize("backend", sorted(FLAVOURS))
def test_retry_after_unknown_outcome_reattaches(
    airflow_env: None, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    flavour = FLAVOURS[backend](server)
    _skip_without_lookup(flavour)
    monkeypatch.setenv(f"AIRFLOW_CONN_{_conn_id(backend).upper()}", _connection(flavour))
    run_id = f"run-{uuid.uuid4().hex}"
    tag = submit_tag("reattach_dag", "compute", run_id, -1)
    rule = f"504_after=count:1@{SUBMIT_ROUTES[backend]},invisible={INVISIBLE_SECONDS}"
    emulator_admin(server, "PUT", "faults", {"spec": rule})

    first = TaskInstanceStandIn("reattach_dag", "compute", run_id, try_number=1)
    if backend in IDEMPOTENT:
        # The resend under the same key gets the one job: the first try needs no retry.
        final = _operator(backend, flavour).execute({"ti": first})  # type: ignore[arg-type]
    else:
        with pytest.raises(JobSubmissionError) as caught:
            _operator(backend, flavour).execute({"ti": first})  # type: ignore[arg-type]
        assert caught.value.outcome_unknown, caught.value
        assert "job_id" not in first.xcoms
    created = _jobs_tagged(server, tag)
    assert len(created) == 1, created
    # Airflow waits retry_delay before the next try; by then the facility lists the job.
    time.sleep(INVISIBLE_SECONDS)
    emulator_admin(server, "DELETE", "faults")

    retry = first
    if backend not in IDEMPOTENT:
        retry = TaskInstanceStandIn("reattach_dag", "compute", run_id, try_number=2)
        final = _operator(backend, flavour).execute({"ti": retry})  # type: ignore[arg-type]

    records = _jobs_tagged(server, tag)
    assert [record["id"] for record in records] == [created[0]["id"]] == [retry.xcoms["job_id"]]
    assert final is not None and final["state"] == "COMPLETED", final
    assert records[0]["state"] == "completed", records[0]

    with _client(flavour) as client:
        found = client.find_job_by_tag(flavour.compute, tag)
        assert found is not None and found.id == retry.xcoms["job_id"] and found.is_terminal
        assert client.find_job_by_tag(flavour.compute, f"never-used-{uuid.uuid4().hex}") is None

    # A cleared task runs a new one: clearing at try 2 sets max_tries to 2 + retries (0).
    cleared = TaskInstanceStandIn("reattach_dag", "compute", run_id, try_number=3, max_tries=2)
    _operator(backend, flavour, seconds="0").execute({"ti": cleared})  # type: ignore[arg-type]
    assert cleared.xcoms["job_id"] != retry.xcoms["job_id"]
    assert len(_jobs_tagged(server, tag)) == 1
    # under the tag of its own cycle, which no earlier try's look-up could find
    cleared_tag = submit_tag("reattach_dag", "compute", run_id, -1, cycle=3)
    assert [job["id"] for job in _jobs_tagged(server, cleared_tag)] == [cleared.xcoms["job_id"]]


@pytest.mark.parametrize("backend", sorted(FLAVOURS))
def test_unknown_outcome_is_resolved_within_the_try(
    airflow_env: None, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The operator looks again after a pause with the same client, which remembers the doubt:
    the try finds its job once the facility lists it, on every backend (Flux included)."""
    flavour = FLAVOURS[backend](server)
    monkeypatch.setenv(f"AIRFLOW_CONN_{_conn_id(backend).upper()}", _connection(flavour))
    run_id = f"run-{uuid.uuid4().hex}"
    tag = submit_tag("reattach_dag", "compute", run_id, -1)
    rule = f"504_after=count:1@{SUBMIT_ROUTES[backend]},invisible={INVISIBLE_SECONDS}"
    emulator_admin(server, "PUT", "faults", {"spec": rule})
    only = TaskInstanceStandIn("reattach_dag", "compute", run_id, try_number=1)
    final = _operator(backend, flavour, seconds="0", delays=(0.5, 1.0, 2.0)).execute({"ti": only})  # type: ignore[arg-type]
    records = _jobs_tagged(server, tag)
    assert [record["id"] for record in records] == [only.xcoms["job_id"]]
    assert final is not None and final["state"] == "COMPLETED", final

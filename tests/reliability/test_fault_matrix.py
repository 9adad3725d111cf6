"""The fault matrix: every backend, through the emulator, under every kind of fault a facility API
shows in production. One test per row, parametrised by flavour.

Each row injects its fault (``PUT /_emulator/faults``), drives the public sync client and checks
the outcome against the emulator's own records: the faults really fired, calls that may be
retried succeed, and a submit never leaves two jobs behind (``GET /_emulator/jobs``, searched for
the submit tag every spec carries).

Run: ``.venv/bin/pytest tests/reliability/test_fault_matrix.py -q`` (about three minutes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from facility_common import FacilityClient, Job, JobSpec, JobState
from facility_common.errors import JobSubmissionError
from facility_emulator import EmulatorConfig, EmulatorServer
from tests.conformance.flavour import Flavour

from .fault_cases import (
    BLIND_SUBMITS,
    NO_OUTAGES,
    STATIC_TOKENS,
    TOKEN_LIFETIMES,
    Admin,
    announce_outage,
    connect,
    discover_flavours,
    new_tag,
    revoke_tokens,
    shell_for,
    submit_route,
    tagged_spec,
    token_requests,
    with_expiring_tokens,
)

FLAVOURS = discover_flavours()
WAIT = {"timeout": 60, "poll_interval": 0.1}
TOKEN_LIFETIME = 5.0

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        root=tmp_path_factory.mktemp("fault-matrix"),
        queue_delay=0.05,
        task_delay=0.0,
        token_lifetime=TOKEN_LIFETIME,
    )
    with EmulatorServer(config) as emulator:
        yield emulator


@pytest.fixture
def admin(server: EmulatorServer) -> Iterator[Admin]:
    helper = Admin(server)
    helper.clear()
    yield helper
    helper.clear()


@pytest.fixture(params=sorted(FLAVOURS))
def flavour(request: pytest.FixtureRequest, server: EmulatorServer) -> Iterator[Flavour]:
    """The flavour; for the row's length the emulator answers in the flavour's fidelity, with
    tokens of the flavour's lifetime (:data:`TOKEN_LIFETIMES`)."""
    built = FLAVOURS[request.param](server)
    lifetime = TOKEN_LIFETIMES.get(request.param, TOKEN_LIFETIME)
    if built.fidelity == "spec" and lifetime == TOKEN_LIFETIME:
        yield built
        return
    server.state.set_fidelity(built.fidelity)
    server.state.tokens.lifetime = lifetime
    try:
        yield built
    finally:
        server.state.set_fidelity("spec")
        server.state.tokens.lifetime = TOKEN_LIFETIME


@pytest.fixture
def name(flavour: Flavour, request: pytest.FixtureRequest) -> str:
    """The flavour's name, as in the test id."""
    return str(request.node.callspec.params["flavour"])


@pytest.fixture
def client(flavour: Flavour) -> Iterator[FacilityClient]:
    with connect(flavour) as sync_client:
        yield sync_client


def spec(admin: Admin, name: str, tag: str, command: str = "echo ok") -> JobSpec:
    """The row's job: a shell command carrying ``tag``."""
    return tagged_spec(tag, command, shell=shell_for(admin.server, name, tag))


def finished_job(admin: Admin, name: str, client: FacilityClient, flavour: Flavour) -> str:
    """A job submitted and completed with no fault active, for the read rows."""
    job = client.submit(flavour.compute, spec(admin, name, new_tag()))
    assert client.wait(flavour.compute, job.id, **WAIT).state is JobState.COMPLETED
    return job.id


def reads(client: FacilityClient, flavour: Flavour, job_id: str) -> None:
    """The read calls every backend offers: resources, one job, the job list."""
    assert any(status.name == flavour.compute for status in client.resources())
    assert client.get_job(flavour.compute, job_id).id == job_id
    assert job_id in {job.id for job in client.list_jobs(flavour.compute, [job_id])}
    assert client.list_jobs(flavour.compute) is not None


def submit_once(admin: Admin, name: str, client: FacilityClient, flavour: Flavour) -> str:
    """Submit a tagged job; check it ran and that the emulator holds exactly that one job."""
    tag = new_tag()
    job = client.submit(flavour.compute, spec(admin, name, tag))
    assert client.wait(flavour.compute, job.id, **WAIT).state is JobState.COMPLETED
    assert [record["id"] for record in admin.jobs_tagged(tag)] == [job.id]
    return job.id


# -- reads ------------------------------------------------------------------------------------


def test_429_on_reads(admin: Admin, client: FacilityClient, flavour: Flavour, name: str) -> None:
    job_id = finished_job(admin, name, client, flavour)
    admin.inject("429=count:2:retry_after:0.05@GET *")
    reads(client, flavour, job_id)
    assert admin.fired() == 2


def test_5xx_bursts_on_reads(admin: Admin, client: FacilityClient, flavour: Flavour, name: str) -> None:
    job_id = finished_job(admin, name, client, flavour)
    admin.inject("502=burst:2:count:2@GET *,503=count:2@GET *,504=count:2@GET *")
    reads(client, flavour, job_id)
    assert admin.fired_by_kind() == {"502": 2, "503": 2, "504": 2}


def test_drop_before_and_after_on_reads(
    admin: Admin, client: FacilityClient, flavour: Flavour, name: str
) -> None:
    job_id = finished_job(admin, name, client, flavour)
    admin.inject("drop_before=count:2@GET *,drop_after=count:2@GET *")
    reads(client, flavour, job_id)
    assert admin.fired_by_kind() == {"drop_before": 2, "drop_after": 2}


def test_latency_beyond_the_timeout_on_reads(admin: Admin, flavour: Flavour, name: str) -> None:
    with connect(flavour, timeout=1.0, settle_window=SETTLE_WINDOW) as client:
        job_id = finished_job(admin, name, client, flavour)
        admin.inject("latency=seconds:1.5:count:2@GET *")
        reads(client, flavour, job_id)
    assert admin.fired() == 2


# -- submits ----------------------------------------------------------------------------------


def test_429_and_503_on_submit(admin: Admin, client: FacilityClient, flavour: Flavour, name: str) -> None:
    route = submit_route(name)
    admin.inject(f"429=count:1:retry_after:0.05@{route},503=count:1@{route}")
    submit_once(admin, name, client, flavour)
    assert admin.fired_by_kind() == {"429": 1, "503": 1}


def submit_through_lost_answer(admin: Admin, name: str, client: FacilityClient, flavour: Flavour) -> None:
    """A submit whose answer is lost: it returns its one job, or for a flavour in
    :data:`BLIND_SUBMITS` it ends with its outcome unknown, naming its tag, and leaves no second
    job."""
    if name not in BLIND_SUBMITS:
        submit_once(admin, name, client, flavour)
        return
    tag = new_tag()
    with pytest.raises(JobSubmissionError) as unknown:
        client.submit(flavour.compute, spec(admin, name, tag))
    assert unknown.value.outcome_unknown and tag in str(unknown.value)
    assert len(admin.jobs_tagged(tag)) <= 1


def test_drop_before_on_submit(admin: Admin, client: FacilityClient, flavour: Flavour, name: str) -> None:
    admin.inject(f"drop_before=count:1@{submit_route(name)}")
    submit_through_lost_answer(admin, name, client, flavour)
    assert admin.fired() == 1


def test_drop_after_on_submit(admin: Admin, client: FacilityClient, flavour: Flavour, name: str) -> None:
    """The server created the job and the answer was lost: the job returned is that job."""
    admin.inject(f"drop_after=count:1@{submit_route(name)}")
    submit_through_lost_answer(admin, name, client, flavour)
    assert admin.fired() == 1


def test_502_on_submit(admin: Admin, client: FacilityClient, flavour: Flavour, name: str) -> None:
    """A gateway error: the server is done with the request; looked up, not found, sent again."""
    admin.inject(f"502=count:1@{submit_route(name)}")
    submit_through_lost_answer(admin, name, client, flavour)
    assert admin.fired() == 1


#: The settle window of the clients of the rows below (the default is 10 s): after a doubtful
#: submit, a listing without the job proves nothing for this long.
SETTLE_WINDOW = 1.0


def test_504_on_submit(admin: Admin, flavour: Flavour, name: str) -> None:
    """A gateway timeout: the server may still be at work, so the job is not sent blindly again."""
    admin.inject(f"504=count:1@{submit_route(name)}")
    with connect(flavour, settle_window=SETTLE_WINDOW) as client:
        submit_never_twice(admin, name, client, flavour, settle=0.0)
    assert admin.fired() == 1


def test_504_after_the_server_created_the_job(admin: Admin, flavour: Flavour, name: str) -> None:
    """A gateway gave up waiting while the server created the job: only a look-up finds it."""
    admin.inject(f"504_after=count:1@{submit_route(name)}")
    with connect(flavour, settle_window=SETTLE_WINDOW) as client:
        submit_never_twice(admin, name, client, flavour, settle=0.0)
    assert admin.fired() == 1


def test_latency_beyond_the_timeout_on_submit(admin: Admin, flavour: Flavour, name: str) -> None:
    """The answer would come after the client gave up."""
    admin.inject(f"latency=seconds:2:count:1@{submit_route(name)}")
    with connect(flavour, timeout=1.0, settle_window=SETTLE_WINDOW) as client:
        submit_never_twice(admin, name, client, flavour, settle=1.0)
    assert admin.fired() == 1


def resubmit_until_settled(client: FacilityClient, flavour: Flavour, job_spec: JobSpec) -> Job:
    """Submit the same tagged spec again, as a retried task does, until the backend stops saying
    the outcome is unknown (it does for a while after the doubtful submit, since a listing
    without the job proves nothing while the API may list it late)."""
    deadline = time.monotonic() + SETTLE_WINDOW + 30
    while True:
        try:
            return client.submit(flavour.compute, job_spec)
        except JobSubmissionError as exc:
            if not exc.outcome_unknown or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def submit_never_twice(
    admin: Admin, name: str, client: FacilityClient, flavour: Flavour, settle: float
) -> None:
    """Submit through a fault after which the server may still be at work. Never two jobs: a
    returned job is the one job; a raised error says the outcome is unknown and names the tag, and
    submitting the same tag again (what a retried Airflow task does), ``settle`` seconds later
    when the server is done with the first request, re-attaches or submits exactly once."""
    if name in BLIND_SUBMITS:
        submit_through_lost_answer(admin, name, client, flavour)
        return
    tag = new_tag()
    job_spec = spec(admin, name, tag)
    try:
        job = client.submit(flavour.compute, job_spec)
    except JobSubmissionError as exc:
        text = str(exc)
        assert "outcome is unknown" in text and tag in text, text
        assert flavour_secret_free(flavour, text)
        time.sleep(settle)
        job = resubmit_until_settled(client, flavour, job_spec)
    assert client.wait(flavour.compute, job.id, **WAIT).state is JobState.COMPLETED
    assert [record["id"] for record in admin.jobs_tagged(tag)] == [job.id]


def flavour_secret_free(flavour: Flavour, text: str) -> bool:
    """No credential of the flavour appears in ``text``."""
    secrets: list[str] = []
    if isinstance(flavour.auth, str):
        secrets.append(flavour.auth)
    elif isinstance(flavour.auth, dict):
        secrets += [str(v) for k, v in flavour.auth.items() if k in ("client_secret", "private_key", "token")]
    secrets += [str(v) for k, v in flavour.options.items() if k in ("token", "secret_key")]
    return not any(secret and secret in text for secret in secrets)


# -- tokens, visibility, restarts, outages ------------------------------------------------------


def test_tokens_expiring_mid_run(admin: Admin, server: EmulatorServer, flavour: Flavour, name: str) -> None:
    """Tokens die early and are revoked mid-wait: no 401 reaches the caller, the job completes."""
    if name in STATIC_TOKENS:
        pytest.skip(f"{name} uses a static token, which does not expire")
    flavour = with_expiring_tokens(server, name, flavour)
    admin.inject("token_expiry=0.1")  # tokens die after a tenth of their advertised lifetime
    admin.call("DELETE", "stats")
    with connect(flavour) as client:
        tag = new_tag()
        job = client.submit(flavour.compute, spec(admin, name, tag, "sleep 2; echo ok"))
        revoke = threading.Timer(1.0, revoke_tokens, (admin, name))
        revoke.start()
        try:
            assert client.wait(flavour.compute, job.id, **WAIT).state is JobState.COMPLETED
        finally:
            revoke.cancel()
        assert client.get_job(flavour.compute, job.id).state is JobState.COMPLETED
    assert [record["id"] for record in admin.jobs_tagged(tag)] == [job.id]
    assert token_requests(admin) >= 2  # the first token did not last: it was replaced


def test_jobs_invisible_after_submit(
    admin: Admin, client: FacilityClient, flavour: Flavour, name: str
) -> None:
    admin.inject("invisible=2")
    tag = new_tag()
    job = client.submit(flavour.compute, spec(admin, name, tag))
    assert client.get_job(flavour.compute, job.id).state is JobState.PENDING
    assert client.wait(flavour.compute, job.id, **WAIT).state is JobState.COMPLETED
    assert [record["id"] for record in admin.jobs_tagged(tag)] == [job.id]


def test_emulator_restarted_while_jobs_run(
    admin: Admin, server: EmulatorServer, flavour: Flavour, name: str
) -> None:
    with connect(flavour) as client:
        running_tag, late_tag = new_tag(), new_tag()
        running = client.submit(flavour.compute, spec(admin, name, running_tag, "sleep 3; echo ok"))
        restart = threading.Thread(target=server.restart, kwargs={"downtime": 1.0, "forget_tokens": True})
        restart.start()
        try:
            time.sleep(0.3)  # the port is closed now: this submit meets refused connections
            late = client.submit(flavour.compute, spec(admin, name, late_tag))
        finally:
            restart.join(timeout=30)
        for job in (running, late):
            assert client.wait(flavour.compute, job.id, **WAIT).state is JobState.COMPLETED
    assert [record["id"] for record in admin.jobs_tagged(running_tag)] == [running.id]
    assert [record["id"] for record in admin.jobs_tagged(late_tag)] == [late.id]


def test_planned_outage(admin: Admin, client: FacilityClient, flavour: Flavour, name: str) -> None:
    if name in NO_OUTAGES:
        pytest.skip(NO_OUTAGES[name])
    resource = flavour.compute
    assert client.is_available(resource, timedelta(hours=2))
    remove = announce_outage(admin, name, resource, start=0, duration=600)
    try:
        assert client.is_available(resource) is False
        status = next(s for s in client.resources() if s.name == resource)
        assert not status.state.is_usable
    finally:
        remove()
    remove = announce_outage(admin, name, resource, start=3600, duration=3600)
    try:
        assert client.is_available(resource, timedelta(hours=2)) is False
        assert client.is_available(resource, timedelta(minutes=30)) is True
    finally:
        remove()

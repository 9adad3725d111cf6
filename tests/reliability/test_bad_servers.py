"""Bad servers: answers that arrive complete but cannot be used.

For every backend the emulator serves, and a few operations of each (resources, get_job,
list_jobs, submit), the emulator answers with a body that is not JSON, a proxy's HTML error page,
the real answer with every value of the wrong type, or a 50 MiB body. Each must end in an
:class:`APIError` naming the facility (never a ``KeyError``, ``TypeError``... from deep inside a
parser), with no credential in its text; the huge body must not be read into memory (the client
stops at its ``max_body_bytes``, 1 MiB here, measured with ``tracemalloc``).

Each client is warmed up first (its token fetched, one job submitted), so the faults, installed on
every route, only meet API calls.
"""

from __future__ import annotations

import inspect
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from facility_common import (
    APIError,
    FacilityClient,
    FacilityError,
    Job,
    JobAttributes,
    JobSpec,
    JobState,
    JobSubmissionError,
    ResourceSpec,
    ResourceStatus,
    get_backend_class,
)
from facility_common.http import RetryPolicy
from facility_emulator import EmulatorConfig, EmulatorServer

from ..conformance.flavour import Flavour
from ..conformance.flavours import firecrest, flux, iri, s3m, sfapi

FLAVOURS: dict[str, Callable[[Any], Flavour]] = {
    **iri.FLAVOURS,
    **sfapi.FLAVOURS,
    **firecrest.FLAVOURS,
    **flux.FLAVOURS,
    **s3m.FLAVOURS,
}
BODY_LIMIT = 1024 * 1024
HUGE = 50 * 1024 * 1024
#: Backends that take a max_body_bytes option (all of them).
CAPPED = {"iri", "sfapi", "firecrest", "flux", "s3m"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    # No exchange log: it would keep a copy of every huge body and swamp the memory measure.
    config = EmulatorConfig(
        root=tmp_path_factory.mktemp("bad-servers"), queue_delay=0.05, task_delay=0.0, record_exchanges=False
    )
    with EmulatorServer(config) as emulator:
        yield emulator


def admin(server: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    answer = httpx.request(method, f"{server.url}/_emulator/{path}", json=body, timeout=10)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def spec(name: str) -> JobSpec:
    return JobSpec(
        executable="/bin/true",
        name=name,
        resources=ResourceSpec(node_count=1),
        attributes=JobAttributes(duration=timedelta(seconds=60), queue_name="debug", account="demo"),
    )


class Subject:
    """A warmed-up client of one flavour, the id of a job it submitted and its secrets."""

    def __init__(self, name: str, server: EmulatorServer) -> None:
        self.name = name
        self.flavour = FLAVOURS[name](server)
        backend = get_backend_class(self.flavour.facility)
        accepted = inspect.signature(backend.__init__).parameters
        options: dict[str, Any] = {
            **self.flavour.options,
            # One retry, quickly: a 502 page is retried once, then reported.
            "retry": RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, jitter=0),
        }
        if "submit_lookup_delays" in accepted:
            options["submit_lookup_delays"] = (0.0,)
        if self.flavour.facility in CAPPED:
            options["max_body_bytes"] = BODY_LIMIT
        self.client = FacilityClient.connect(
            self.flavour.facility, base_url=self.flavour.base_url, auth=self.flavour.auth, **options
        )
        self.secrets = _secrets(self.flavour, server)
        self.client.resources()
        self.job_id = self.client.submit(self.flavour.compute, spec("bad-servers-warmup")).id


def _secrets(flavour: Flavour, server: EmulatorServer) -> list[str]:
    found: list[str] = []
    for source in (
        flavour.auth,
        flavour.options,
        server.credentials,
        server.flavour_credentials(flavour.facility.split("-")[0]),
    ):
        if isinstance(source, str):
            found.append(source)
        elif isinstance(source, dict):
            found += [
                str(value)
                for key, value in source.items()
                if any(word in key for word in ("secret", "token", "private_key", "password"))
                and "url" not in key
                and isinstance(value, str)
            ]
    return [secret for secret in found if len(secret) >= 8]


@pytest.fixture(scope="module", params=sorted(FLAVOURS))
def subject(request: pytest.FixtureRequest, server: EmulatorServer) -> Iterator[Subject]:
    made = Subject(request.param, server)
    yield made
    made.client.close()


@pytest.fixture(autouse=True)
def clear_faults(server: EmulatorServer) -> Iterator[None]:
    yield
    admin(server, "DELETE", "faults")


Operation = Callable[[Subject], Any]
OPERATIONS: dict[str, Operation] = {
    "resources": lambda s: s.client.resources(),
    "get_job": lambda s: s.client.get_job(s.flavour.compute, s.job_id),
    "list_jobs": lambda s: s.client.list_jobs(s.flavour.compute, [s.job_id]),
    "submit": lambda s: s.client.submit(s.flavour.compute, spec("bad-servers-submit")),
}


def well_typed(result: Any) -> bool:
    """A result a tolerant parser may make of a scrambled answer: still our models, right types."""
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, Job):
            if not (isinstance(item.id, str) and isinstance(item.state, JobState)):
                return False
        elif isinstance(item, ResourceStatus):
            if not (isinstance(item.id, str) and isinstance(item.name, str)):
                return False
        else:
            return False
    return True


def run(subject: Subject, server: EmulatorServer, fault: str, operation: str) -> FacilityError | Any:
    admin(server, "PUT", "faults", {"spec": f"{fault}@*"})
    try:
        return OPERATIONS[operation](subject)
    except FacilityError as exc:
        return exc
    finally:
        admin(server, "DELETE", "faults")


def check_clear(exc: Any, subject: Subject, operation: str) -> None:
    """An APIError naming the facility and no secret. A submit may instead end in
    JobSubmissionError: after an unusable answer the backend cannot know whether the job exists,
    and says so (with the tag to look for)."""
    expected = (APIError, JobSubmissionError) if operation == "submit" else (APIError,)
    assert isinstance(exc, expected), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert f"facility={subject.flavour.facility}" in text, text
    for secret in subject.secrets:
        assert secret not in text
    assert "Bearer " not in text and "Authorization" not in text


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("fault", ["bad_json", "html"])
def test_unreadable_answer_is_a_clear_api_error(
    subject: Subject, server: EmulatorServer, fault: str, operation: str
) -> None:
    outcome = run(subject, server, fault, operation)
    check_clear(outcome, subject, operation)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_wrong_types_give_an_api_error_or_a_well_typed_result(
    subject: Subject, server: EmulatorServer, operation: str
) -> None:
    outcome = run(subject, server, "wrong_types", operation)
    if isinstance(outcome, FacilityError):
        check_clear(outcome, subject, operation)
    else:
        assert well_typed(outcome), repr(outcome)


@pytest.mark.parametrize("operation", ["get_job", "resources"])
def test_huge_body_is_refused_without_reading_it(
    subject: Subject, server: EmulatorServer, operation: str
) -> None:
    tracemalloc.start()
    try:
        outcome = run(subject, server, f"huge=bytes:{HUGE}", operation)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    check_clear(outcome, subject, operation)
    assert "max_body_bytes" in str(outcome)
    # A memory bound, not a timing: far below the body (the emulator's own pieces included).
    assert peak < HUGE // 5, f"peak {peak} bytes while refusing a {HUGE} byte body"

"""The IRI backend's readings of answers the reference server and the newest v2 spec give: HAL
links (parsed, checked, followed), a 404 that means an empty page, and whoami where it is absent.
On the in-memory facility of ``test_iri_backend``; the same behaviours run through the emulator in
``tests/integration/test_iri_reference_server.py``."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from facility_common.backends.iri.links import expand, parse_links, request_path, same_origin
from facility_common.backends.iri.parsers import _is_empty_page
from facility_common.errors import InvalidJobSpec, NotFoundError, UnsupportedOperation

from .test_iri_backend import POLARIS, FakeIRI, echo_spec, make_backend

BASE = "https://api.example.org/api/v2"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- pure readings ----------------------------------------------------------------------------


def test_parse_links_names_relations_by_the_registry() -> None:
    document = {
        "self_uri": f"{BASE}/status/resources/r1",
        "_links": {
            "self": {"href": f"{BASE}/status/resources/r1"},
            "curies": [{"name": "x", "href": "https://iri.science/rels/{rel}", "templated": True}],
            "iri:submit-job": {"href": f"{BASE}/compute/job/r1"},
            "x:cancel-job": {"href": f"{BASE}/compute/cancel/r1/{{job_id}}", "templated": True},
            "https://iri.science/rels/get-job": {"href": f"{BASE}/compute/status/r1/{{job_id}}"},
            "iri:has-capability": [{"href": f"{BASE}/account/capabilities/c1"}],
            "broken": {"title": "no href"},
        },
    }
    assert parse_links(document) == {
        "self": f"{BASE}/status/resources/r1",
        "submit-job": f"{BASE}/compute/job/r1",
        "cancel-job": f"{BASE}/compute/cancel/r1/{{job_id}}",
        "get-job": f"{BASE}/compute/status/r1/{{job_id}}",
    }
    disagreeing = copy.deepcopy(document)
    disagreeing["self_uri"] = f"{BASE}/status/resources/other"
    assert parse_links(disagreeing) == {}  # links that contradict the *_uri fields are not used
    assert parse_links({"id": "r1"}) == {} and parse_links(None) == {}


def test_links_are_followed_only_on_the_apis_own_origin() -> None:
    assert expand(f"{BASE}/compute/status/r1/{{job_id}}", {"job_id": "4012.pbs?x"}) == (
        f"{BASE}/compute/status/r1/4012.pbs%3Fx"
    )
    assert (
        expand(f"{BASE}/compute/status/r1/{{job_id}}", {"job_id": ".."}) == f"{BASE}/compute/status/r1/%2E%2E"
    )
    with pytest.raises(InvalidJobSpec, match="job_id"):  # servers decode %2F before they route
        expand(f"{BASE}/compute/status/r1/{{job_id}}", {"job_id": "4012.pbs/x"})
    assert expand(f"{BASE}/compute/status/{{rid}}/{{job_id}}", {"job_id": "1"}) is None
    assert request_path(f"{BASE}/compute/job/r1", BASE) == "compute/job/r1"
    assert request_path("https://api.example.org:443/gateway/job/r1", BASE) == (
        "https://api.example.org:443/gateway/job/r1"
    )
    for elsewhere in (
        "https://evil.example.net/api/v2/compute/job/r1",
        "http://api.example.org/api/v2/compute/job/r1",
        "https://api.example.org:8443/api/v2/compute/job/r1",
        f"{BASE}/compute/job/r1?token=1",
    ):
        assert request_path(elsewhere, BASE) is None, elsewhere
    assert same_origin("HTTPS://API.example.org/x", BASE)


def test_only_a_nothing_found_404_is_an_empty_page() -> None:
    assert _is_empty_page(404, "No events found")
    assert _is_empty_page(404, "No incidents found")
    assert not _is_empty_page(404, "Not Found")  # an unknown route (a wrong base URL)
    assert not _is_empty_page(404, "resource 'x' not found")
    assert not _is_empty_page(500, "No events found")
    assert not _is_empty_page(404, None)


# -- through the backend ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_full_last_page_then_404_ends_the_list() -> None:
    """The reference server answers the page past the end with 404 "No events found"."""
    fake = FakeIRI()
    fake.empty_lists_404 = True
    template = fake.events[0]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fake.events = [
        {**template, "id": f"e{n}", "occurred_at": (start + timedelta(minutes=n)).isoformat()}
        for n in range(1000)
    ]
    backend = make_backend(fake)
    assert len(await backend.events()) == 1000
    assert len(fake.requests_to("GET", "/status/events")) == 2
    fake.events = []
    assert await backend.events() == []
    fake.incidents = []
    assert await backend.outages("polaris") == []
    with pytest.raises(NotFoundError):
        await backend.event("no-such-event")
    await backend.aclose()


@pytest.mark.anyio
async def test_a_generic_404_on_a_list_stays_not_found() -> None:
    def unknown_route(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"title": "Not Found", "detail": "Not Found"})

    fake = FakeIRI()

    def transport(request: httpx.Request) -> httpx.Response:
        return unknown_route(request) if request.url.path.endswith("/status/events") else fake(request)

    backend = make_backend(fake, transport=httpx.MockTransport(transport))
    with pytest.raises(NotFoundError, match="Not Found"):
        await backend.events()
    await backend.aclose()


@pytest.mark.anyio
async def test_operations_go_where_the_resources_links_lead() -> None:
    """Links that differ from the built paths (a gateway's own layout) are followed; a link to
    another host is not, and the built path is used instead."""
    fake = FakeIRI("v2")
    host = "http://127.0.0.1:9"
    base = f"{host}/api/v2"
    gateway = {
        "/gw/submit/polaris": f"/api/v2/compute/job/{POLARIS}",
        "/gw/jobs/polaris/1001": f"/api/v2/compute/status/{POLARIS}/1001",
        "/gw/cancel/polaris/1001": f"/api/v2/compute/cancel/{POLARIS}/1001",
    }
    for resource in fake.resources:
        if resource["id"] == POLARIS:
            resource["self_uri"] = f"{base}/status/resources/{POLARIS}"
            resource["_links"] = {
                "self": {"href": resource["self_uri"]},
                "iri:submit-job": {"href": f"{host}/gw/submit/polaris"},
                "iri:get-job": {"href": f"{host}/gw/jobs/polaris/{{job_id}}", "templated": True},
                "iri:cancel-job": {"href": f"{host}/gw/cancel/polaris/{{job_id}}", "templated": True},
                "iri:query-jobs": {"href": f"https://elsewhere.example.net/gw/list/{POLARIS}"},
            }
    seen: list[str] = []

    def transport(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        path = gateway.get(request.url.path)
        if path is not None:
            request = httpx.Request(
                request.method,
                request.url.copy_with(path=path),
                headers=request.headers,
                content=request.content,
            )
        response: httpx.Response = fake(request)
        return response

    backend = make_backend(fake, transport=httpx.MockTransport(transport), project="demo")
    job = await backend.submit("polaris", echo_spec())
    assert job.id == "1001"
    assert (await backend.get_job("polaris", job.id)).id == job.id
    assert [j.id for j in await backend.list_jobs("polaris", [job.id])] == [job.id]
    await backend.cancel("polaris", job.id)
    await backend.aclose()
    assert "POST /gw/submit/polaris" in seen and "GET /gw/jobs/polaris/1001" in seen
    assert "DELETE /gw/cancel/polaris/1001" in seen
    assert f"POST /api/v2/compute/status/{POLARIS}" in seen  # the off-host link was not followed
    assert not any(entry.startswith("POST /api/v2/compute/job/") for entry in seen)


@pytest.mark.anyio
@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_whoami_where_the_deployment_lacks_it(version: str) -> None:
    fake = FakeIRI(version)
    backend = make_backend(fake)
    with pytest.raises(UnsupportedOperation, match=version):
        await backend.whoami()
    await backend.aclose()
    assert len(fake.log) == (1 if version == "v2" else 0)

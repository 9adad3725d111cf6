"""The newest IRI v2 revision (``iri-openapi-v2-9ef85ea.yaml``): HAL ``_links``, storage access
endpoints and locations, and every exchange of both fidelity modes checked against the documents.

Reference mode departs from the spec only where the spec leaves room, so its exchanges still
validate: an empty page of sites, incidents or events is one of the 404s every operation declares;
the list filter body is free-form and ignoring it changes which jobs come back, not their shape;
the download result is the base64 text inside the free-form ``result`` object; ``job_spec`` and
``_links`` are optional. ``/account/whoami`` is in no revision and is left out of the check.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.iri.links import REL_BASE

from ..spec_check import IRI_SPEC_FILES, iri_exchange_errors
from .conftest import issue_token
from .emu_helpers import wait_task

COMPUTE_RELATIONS = {"submit-job", "query-jobs", "get-job", "update-job", "cancel-job"}
STORAGE_RELATIONS = {"get-storage-access-endpoints", "resolve-storage-locations"}


@functools.cache
def spec_relations() -> dict[str, tuple[str, str]]:
    """Relation URI -> (method, path template) of the operations the newest v2 revision marks."""
    document = yaml.safe_load(IRI_SPEC_FILES["v2"].read_text())
    relations = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for relation in operation.get("x-iri-relation", []) if isinstance(operation, dict) else []:
                relations[relation] = (method.upper(), path)
    return relations


def template_regex(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape("/iri" + path)) + "$")


@pytest.fixture
def v2(server: EmulatorServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.iri_url("v2"), headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


def iri_links(links: dict[str, Any]) -> dict[str, Any]:
    return {name.removeprefix("iri:"): value for name, value in links.items() if name.startswith("iri:")}


def test_resource_links_follow_the_spec(v2: httpx.Client) -> None:
    polaris = v2.get("/status/resources/polaris").json()
    eagle = v2.get("/status/resources/eagle").json()
    service = v2.get("/status/resources/globus").json()
    assert polaris["_links"]["self"]["href"] == polaris["self_uri"]
    assert polaris["_links"]["iri:located-at"]["href"] == polaris["site_uri"]
    assert polaris["_links"]["curies"][0] == {"name": "iri", "href": REL_BASE + "{rel}", "templated": True}
    assert set(iri_links(polaris["_links"])) >= COMPUTE_RELATIONS
    assert set(iri_links(eagle["_links"])) >= STORAGE_RELATIONS
    assert not COMPUTE_RELATIONS & set(iri_links(eagle["_links"]))
    assert set(iri_links(service["_links"])) == {"located-at"}
    assert polaris["supported_endpoints"] == ["compute", "filesystem"]
    relations = spec_relations()
    served: set[str] = set()
    for resource in (polaris, eagle):
        for name, value in iri_links(resource["_links"]).items():
            if REL_BASE + name not in relations:
                continue  # a registry relation mirroring a *_uri field, checked above
            served.add(REL_BASE + name)
            _, path = relations[REL_BASE + name]
            href = httpx.URL(value["href"]).path
            assert template_regex(path).match(href), (name, href, path)
            assert value.get("templated", False) == ("{" in href)
    assert served == set(relations)  # all 25 operation relations are reachable from a resource


def test_links_lead_to_working_operations(v2: httpx.Client, server: EmulatorServer) -> None:
    links = v2.get("/status/resources/polaris").json()["_links"]
    job = v2.post(
        links["iri:submit-job"]["href"], json={"executable": "/bin/true", "attributes": {"account": "p"}}
    )
    assert job.status_code == 200
    job_links = job.json()["_links"]
    status = v2.get(job_links["self"]["href"]).json()
    assert status["id"] == job.json()["id"]
    expanded = links["iri:get-job"]["href"].replace("{job_id}", job.json()["id"])
    assert expanded == job_links["self"]["href"]
    listed = v2.post(links["iri:query-jobs"]["href"], json={"job_ids": [job.json()["id"]]})
    assert [j["id"] for j in listed.json()] == [job.json()["id"]]
    submitted = v2.post(links["iri:list-directory"]["href"], json={"path": server.credentials["home"]})
    assert submitted.json()["_links"] == {"monitor": {"href": submitted.json()["task_uri"]}}
    task = v2.get(submitted.json()["_links"]["monitor"]["href"]).json()
    assert task["_links"]["self"]["href"] == submitted.json()["task_uri"]


def test_status_objects_carry_links(v2: httpx.Client, server: EmulatorServer) -> None:
    start = datetime.now(UTC) + timedelta(days=40)
    added = httpx.post(
        f"{server.url}/_emulator/incidents",
        json={
            "name": "links",
            "type": "planned",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "resources": ["eagle"],
        },
    ).json()
    try:
        facility = v2.get("/facility").json()
        site = v2.get("/facility/sites").json()[0]
        incident = v2.get(f"/status/incidents/{added['id']}").json()
        event = v2.get("/status/events", params={"incident_id": added["id"]}).json()[0]
    finally:
        httpx.delete(f"{server.url}/_emulator/incidents/{added['id']}")
    assert facility["_links"]["iri:has-site"] == [{"href": uri} for uri in facility["site_uris"]]
    assert facility["_links"]["help"]["href"] == facility["support_uri"]
    assert site["_links"]["iri:has-resource"] == [{"href": uri} for uri in site["resource_uris"]]
    assert incident["_links"]["iri:has-event"] == [{"href": uri} for uri in incident["event_uris"]]
    assert incident["_links"]["iri:may-impact"] == [{"href": uri} for uri in incident["resource_uris"]]
    assert event["_links"]["iri:generated-by"]["href"] == event["incident_uri"]
    assert event["_links"]["iri:impacts"]["href"] == event["resource_uri"]
    for item in (facility, site, incident, event):
        assert item["_links"]["self"]["href"] == item["self_uri"]


def test_no_links_in_v1_or_reference_mode(server: EmulatorServer, reference_server: EmulatorServer) -> None:
    assert "_links" not in httpx.get(f"{server.iri_url('v1')}/status/resources/polaris").json()
    assert "_links" not in httpx.get(f"{reference_server.iri_url('v2')}/status/resources/polaris").json()
    assert "_links" not in httpx.get(f"{reference_server.iri_url('v2')}/facility").json()


def test_storage_access_endpoints(v2: httpx.Client, server: EmulatorServer, tmp_path: Path) -> None:
    endpoints = v2.get("/storage/access-endpoints/eagle").json()
    assert [e["protocol"] for e in endpoints] == ["globus"]
    globus = endpoints[0]
    assert "transfer" in globus["capabilities"]
    assert globus["uri"] == f"globus://{globus['endpoint_id']}/"
    root = Path(globus["root_path"])
    assert root.is_dir() and server.state.sandbox.contains(root)
    home = v2.get("/storage/access-endpoints/home").json()[0]
    assert Path(server.credentials["home"]).parent == Path(home["root_path"])
    assert home["endpoint_id"] != globus["endpoint_id"]
    with EmulatorServer(EmulatorConfig(root=tmp_path)) as other:  # stable across emulators
        headers = {"Authorization": f"Bearer {issue_token(other)}"}
        again = httpx.get(f"{other.iri_url('v2')}/storage/access-endpoints/eagle", headers=headers).json()
    assert again[0]["endpoint_id"] == globus["endpoint_id"]
    assert v2.get("/storage/access-endpoints/eagle", params={"protocol": "s3"}).json() == []
    assert v2.get("/storage/access-endpoints/eagle", params={"endpoint_id": globus["id"]}).json() == [globus]
    assert v2.get("/storage/access-endpoints/polaris").json() == []
    assert v2.get("/storage/access-endpoints/nowhere").status_code == 404
    assert httpx.get(f"{server.iri_url('v2')}/storage/access-endpoints/eagle").status_code == 401


def test_storage_locations(v2: httpx.Client, server: EmulatorServer) -> None:
    names = [loc["logical_name"] for loc in v2.get("/storage/locations/polaris").json()]
    assert names == ["home", "project"]
    project = v2.get("/storage/locations/polaris", params={"logicalpath": "project", "project": "p1"}).json()
    assert project[0]["path"].endswith("/eagle/p1")
    missing = v2.get("/storage/locations/polaris", params={"logicalpath": "archive"})
    assert missing.status_code == 404 and "archive" in missing.json()["detail"]
    assert v2.get("/storage/locations/polaris", params={"intent": "long-term-storage"}).json() == []
    assert v2.get("/storage/locations/globus").json() == []
    assert v2.get("/storage/locations/polaris", params={"intent": "nonsense"}).status_code == 422


def exercise(server: EmulatorServer, version: str) -> None:
    """Call every IRI route the emulator serves, the way a plain HTTP client would."""
    headers = {"Authorization": f"Bearer {issue_token(server)}"}
    home = server.credentials["home"]
    start = datetime.now(UTC) + timedelta(days=5)
    incident = httpx.post(
        f"{server.url}/_emulator/incidents",
        json={
            "name": "check",
            "type": "planned",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "resources": ["eagle"],
        },
    ).json()
    v2 = version == "v2"
    with httpx.Client(base_url=server.iri_url(version), headers=headers, timeout=10) as c:
        c.get("/facility")
        site = c.get("/facility/sites").json()[0]
        c.get(f"/facility/sites/{site['id']}")
        c.get("/facility/sites", params={"name": "nowhere"})
        c.get("/status/resources")
        resource_id = c.get("/status/resources/polaris").json()["id"]
        incidents = c.get("/status/incidents").json()
        c.get("/status/incidents", params={"offset": len(incidents), "limit": len(incidents)})
        c.get(f"/status/incidents/{incident['id']}")
        event = c.get("/status/events", params={"incident_id": incident["id"]}).json()[0]
        c.get(f"/status/events/{event['id']}")
        c.get("/status/events", params={"resource_id": "globus"})
        c.get("/compute/resources")
        (c.post if v2 else c.get)("/filesystem/resources")
        spec = {"executable": "/bin/sleep", "arguments": ["10"], "attributes": {"account": "demo"}}
        job = c.post(
            f"/compute/job/{resource_id}", json=spec, headers={"Idempotency-Key": f"check-{version}"}
        ).json()
        c.post(f"/compute/job/{resource_id}", json=spec, headers={"Idempotency-Key": f"check-{version}"})
        c.get(f"/compute/status/{resource_id}/{job['id']}", params={"include_spec": "true"})
        c.post(
            f"/compute/status/{resource_id}", json={"job_ids": [job["id"]]}, params={"include_spec": "true"}
        )
        c.delete(f"/compute/cancel/{resource_id}/{job['id']}")
        work = f"{home}/check-{version}"
        ops: list[tuple[str, dict[str, Any]]] = [
            ("mkdir", {"path": work, "parent": True}),
            ("ls", {"path": home}),
            ("stat", {"path": work}),
        ]
        for op, args in ops:
            task = (
                c.post(f"/filesystem/{op}/polaris", json=args)
                if v2 or op == "mkdir"
                else c.get(f"/filesystem/{op}/polaris", params=args)
            ).json()
            wait_task(c, task["task_id"])
        c.post(
            "/filesystem/upload/polaris",
            params={"path": f"{work}/up.txt"},
            files={"file": ("up.txt", b"hello\n")},
        )
        download = {"path": f"{work}/up.txt"}
        task = (
            c.post("/filesystem/download/polaris", json=download)
            if v2
            else c.get("/filesystem/download/polaris", params=download)
        ).json()
        wait_task(c, task["task_id"])
        c.get("/task")
        c.delete(f"/task/{task['task_id']}")
        if v2:
            c.get("/storage/locations/polaris")
            c.get("/storage/access-endpoints/eagle")
        capability = c.get("/account/capabilities", params={"limit": 1}).json()[0]
        c.get(f"/account/capabilities/{capability['id']}")
        c.get("/account/projects")
        c.get("/account/projects/demo")
        allocation = c.get("/account/projects/demo/project_allocations").json()[0]
        shares = f"/account/projects/demo/project_allocations/{allocation['id']}/user_allocations"
        c.get(f"/account/projects/demo/project_allocations/{allocation['id']}")
        c.get(f"{shares}/{c.get(shares).json()[0]['id']}")
        c.get("/account/projects/nosuch")
    httpx.delete(f"{server.url}/_emulator/incidents/{incident['id']}")


@pytest.mark.parametrize("fidelity", ["spec", "iri=reference"])
def test_every_exchange_follows_the_newest_spec(fidelity: str, tmp_path: Path) -> None:
    config = EmulatorConfig(root=tmp_path, queue_delay=0.05, task_delay=0.0, fidelity=fidelity)
    with EmulatorServer(config) as server:
        for version in ("v1", "v2"):
            exercise(server, version)
        exchanges = [e for e in server.exchanges() if e.path.startswith("/iri/api/")]
    statuses = {(e.method, e.route, e.status) for e in exchanges}
    if fidelity != "spec":  # the reference server's 404 pages were exercised
        assert ("GET", "/iri/api/v2/status/events", 404) in statuses
    assert len({(e.method, e.route) for e in exchanges}) >= 40
    failures = [message for exchange in exchanges for message in iri_exchange_errors(exchange)]
    assert not failures, "\n".join(failures[:20])

"""v2 idempotency and project rules, fault injection, stats, exchange recording."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from facility_emulator import EmulatorServer
from facility_emulator.faults import FaultSpecError, parse_spec
from facility_emulator.idempotency import fingerprint

JOB = {"executable": "/bin/true", "attributes": {"account": "proj"}}


def _jobs(server: EmulatorServer) -> int:
    return int(httpx.get(f"{server.url}/_emulator/jobs").json()["submit_count"])


def _faults(server: EmulatorServer, spec: str) -> None:
    resp = httpx.put(f"{server.url}/_emulator/faults", json={"spec": spec})
    assert resp.status_code == 200, resp.text


def test_v2_project_rule(client_v2: httpx.Client) -> None:
    assert client_v2.post("/compute/job/polaris", json={"executable": "/bin/true"}).status_code == 400
    both = client_v2.post("/compute/job/polaris", json=JOB, headers={"X-IRI-Facility-Project": "p"})
    assert both.status_code == 400
    header = client_v2.post(
        "/compute/job/polaris", json={"executable": "/bin/true"}, headers={"X-IRI-Facility-Project": "p"}
    )
    assert header.status_code == 200
    assert header.json()["job_spec"]["attributes"]["account"] == "p"


def test_v2_idempotency(client_v2: httpx.Client, server: EmulatorServer) -> None:
    key = str(uuid.uuid4())
    before = _jobs(server)
    first = client_v2.post("/compute/job/polaris", json=JOB, headers={"Idempotency-Key": key})
    assert first.status_code == 200
    again = client_v2.post("/compute/job/polaris", json=JOB, headers={"Idempotency-Key": key})
    assert again.status_code == 200 and again.headers["Idempotency-Key-Reply"] == "hit"
    assert again.json()["id"] == first.json()["id"]
    assert _jobs(server) == before + 1
    other = client_v2.post(
        "/compute/job/polaris", json={**JOB, "name": "x"}, headers={"Idempotency-Key": key}
    )
    assert other.status_code == 422
    in_flight = str(uuid.uuid4())
    server.state.idempotency.begin("submit", in_flight, fingerprint(JOB, None))
    busy = client_v2.post("/compute/job/polaris", json=JOB, headers={"Idempotency-Key": in_flight})
    assert busy.status_code == 409 and busy.headers["Retry-After"] == "2"


def test_fault_429_burst(client: httpx.Client, server: EmulatorServer) -> None:
    _faults(server, "429=every:2:burst:1:retry_after:1@GET */task")
    codes = [client.get("/task").status_code for _ in range(6)]
    assert codes == [200, 200, 429, 200, 200, 429]
    limited = client.get("/task")
    assert limited.status_code in (200, 429)
    rule = httpx.get(f"{server.url}/_emulator/faults").json()["rules"][0]
    assert rule["fired"] >= 2


def test_fault_5xx_count(client: httpx.Client, server: EmulatorServer) -> None:
    _faults(server, "503=count:2:retry_after:3")
    first = client.get("/task")
    assert first.status_code == 503 and first.headers["Retry-After"] == "3"
    assert first.headers["content-type"].startswith("application/problem+json")
    assert client.get("/task").status_code == 503
    assert client.get("/task").status_code == 200
    assert httpx.get(f"{server.url}/_emulator/stats").status_code == 200  # admin never faulted


def test_fault_latency(client: httpx.Client, server: EmulatorServer) -> None:
    _faults(server, "latency=0.3@GET */task")
    start = time.monotonic()
    client.get("/task")
    assert time.monotonic() - start >= 0.3


def test_fault_drop_before(client: httpx.Client, server: EmulatorServer) -> None:
    _faults(server, "drop_before=count:1@POST */compute/job/*")
    before = _jobs(server)
    with pytest.raises(httpx.TransportError):
        client.post("/compute/job/polaris", json={"executable": "/bin/true"})
    assert _jobs(server) == before
    assert client.post("/compute/job/polaris", json={"executable": "/bin/true"}).status_code == 200


def test_fault_drop_after_performs_action(client: httpx.Client, server: EmulatorServer) -> None:
    _faults(server, "drop_after=count:1@POST */compute/job/*")
    before = _jobs(server)
    with pytest.raises(httpx.TransportError):
        client.post("/compute/job/polaris", json={"executable": "/bin/true"})
    assert _jobs(server) == before + 1


def test_fault_invisible_jobs(client: httpx.Client, server: EmulatorServer) -> None:
    _faults(server, "invisible=0.6")
    job = client.post("/compute/job/polaris", json={"executable": "/bin/sleep", "arguments": ["1"]}).json()
    assert client.get(f"/compute/status/polaris/{job['id']}").status_code == 404
    assert job["id"] not in {j["id"] for j in client.post("/compute/status/polaris", json={}).json()}
    time.sleep(0.7)
    assert client.get(f"/compute/status/polaris/{job['id']}").status_code == 200


def test_fault_token_expiry(server: EmulatorServer) -> None:
    httpx.put(f"{server.url}/_emulator/faults", json={"token_expiry": 0.0003})  # 3600 s * 0.0003 ~ 1 s
    creds = server.credentials
    tok = httpx.post(
        creds["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
    ).json()
    assert tok["expires_in"] == 3600
    headers = {"Authorization": f"Bearer {tok['access_token']}"}
    assert httpx.get(f"{server.iri_url()}/task", headers=headers).status_code == 200
    time.sleep(1.2)
    assert httpx.get(f"{server.iri_url()}/task", headers=headers).status_code == 401


def test_fault_outage(client: httpx.Client, server: EmulatorServer) -> None:
    resp = httpx.put(
        f"{server.url}/_emulator/faults", json={"spec": "outage=resources:aurora:start:0:duration:30"}
    )
    incident = resp.json()["incident_ids"][0]
    try:
        aurora = httpx.get(f"{server.iri_url()}/status/resources", params={"name": "aurora"}).json()[0]
        assert aurora["current_status"] == "down"
        assert client.post("/compute/job/aurora", json={"executable": "/bin/true"}).status_code == 503
        planned = httpx.get(f"{server.iri_url()}/status/incidents", params={"type": "planned"}).json()
        assert incident in {i["id"] for i in planned}
    finally:
        httpx.delete(f"{server.url}/_emulator/incidents/{incident}")


def test_spec_parsing() -> None:
    faults = parse_spec(
        "latency=0.05,429=every:5:burst:2:retry_after:1,drop_after=count:1@POST */compute/job/*,invisible=2"
    )
    assert [r.kind for r in faults.rules] == ["latency", "429", "drop_after"]
    assert faults.rules[2].route == "POST */compute/job/*" and faults.invisible == 2
    with pytest.raises(FaultSpecError):
        parse_spec("bogus=1")


def test_stats_and_exchanges(client: httpx.Client, server: EmulatorServer) -> None:
    httpx.delete(f"{server.url}/_emulator/stats")
    server.clear_exchanges()
    client.post("/compute/status/polaris", json={})
    client.post("/compute/status/polaris", json={})
    httpx.get(f"{server.iri_url()}/facility")
    stats = httpx.get(f"{server.url}/_emulator/stats").json()
    assert stats["routes"]["POST /iri/api/v1/compute/status/{resource_id}"] == 2
    assert stats["routes"]["GET /iri/api/v1/facility"] == 1
    assert stats["total"] == 3
    exchanges = server.exchanges()
    assert len(exchanges) == 3
    assert exchanges[0].method == "POST" and exchanges[0].request_body == b"{}"
    assert exchanges[0].status == 200 and exchanges[0].response_content_type == "application/json"

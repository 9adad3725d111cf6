"""Token endpoints, bearer checks and the public status/facility routes."""

from __future__ import annotations

import time

import httpx

from facility_emulator import EmulatorConfig, EmulatorServer


def test_public_routes_need_no_token(server: EmulatorServer) -> None:
    base = server.iri_url("v1")
    facility = httpx.get(f"{base}/facility").json()
    assert facility["short_name"] == "ALCF"
    resources = httpx.get(f"{base}/status/resources").json()
    names = {r["name"] for r in resources}
    assert {"polaris", "aurora", "eagle", "home"} <= names
    compute = httpx.get(f"{base}/status/resources", params={"resource_type": "compute"}).json()
    assert {r["name"] for r in compute} == {"polaris", "aurora"}
    one = httpx.get(f"{base}/status/resources/{compute[0]['id']}").json()
    assert one["id"] == compute[0]["id"]
    assert httpx.get(f"{base}/status/resources/nope").status_code == 404
    sites = httpx.get(f"{base}/facility/sites").json()
    assert sites and sites[0]["operating_organization"]


def test_protected_route_requires_bearer(server: EmulatorServer) -> None:
    resp = httpx.post(f"{server.iri_url('v1')}/compute/job/polaris", json={"executable": "/bin/true"})
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.headers["www-authenticate"].startswith("Bearer")
    body = resp.json()
    assert body["status"] == 401 and body["instance"]
    bad = httpx.get(f"{server.iri_url('v1')}/task", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_wrong_client_secret_rejected(server: EmulatorServer) -> None:
    creds = server.credentials
    resp = httpx.post(
        creds["token_url"], data={"grant_type": "client_credentials"}, auth=(creds["client_id"], "x")
    )
    assert resp.status_code == 401


def test_form_credentials_and_static_token(server: EmulatorServer) -> None:
    creds = server.credentials
    resp = httpx.post(
        creds["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
        },
    )
    assert resp.status_code == 200 and resp.json()["token_type"] == "Bearer"
    ok = httpx.get(
        f"{server.iri_url('v1')}/task", headers={"Authorization": f"Bearer {creds['static_token']}"}
    )
    assert ok.status_code == 200


def test_globus_endpoints(server: EmulatorServer) -> None:
    creds = server.credentials
    refreshed = httpx.post(
        creds["globus_token_url"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": creds["refresh_token"],
            "client_id": creds["native_client_id"],
        },
    )
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert set(body) >= {
        "access_token",
        "expires_in",
        "resource_server",
        "token_type",
        "scope",
        "refresh_token",
    }
    assert body["other_tokens"] == []
    bad = httpx.post(
        creds["globus_token_url"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": "wrong",
            "client_id": creds["native_client_id"],
        },
    )
    assert bad.status_code == 400
    cc = httpx.post(
        creds["globus_token_url"],
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    assert cc.status_code == 200
    intro = httpx.post(
        f"{creds['globus_token_url']}/introspect",
        data={"token": body["access_token"]},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    assert intro.json()["active"] is True


def test_token_expiry(tmp_path: object) -> None:
    with EmulatorServer(EmulatorConfig(token_lifetime=1)) as srv:
        creds = srv.credentials
        tok = httpx.post(
            creds["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(creds["client_id"], creds["client_secret"]),
        ).json()
        assert tok["expires_in"] == 1
        headers = {"Authorization": f"Bearer {tok['access_token']}"}
        assert httpx.get(f"{srv.iri_url()}/task", headers=headers).status_code == 200
        time.sleep(1.1)
        expired = httpx.get(f"{srv.iri_url()}/task", headers=headers)
        assert expired.status_code == 401
        assert "expired" in expired.json()["detail"]


def test_admin_status_and_incidents(server: EmulatorServer, client: httpx.Client) -> None:
    base = server.iri_url("v1")
    admin = f"{server.url}/_emulator"
    assert httpx.put(f"{admin}/resources/aurora/status", json={"current_status": "down"}).status_code == 200
    try:
        aurora = httpx.get(f"{base}/status/resources", params={"name": "aurora"}).json()[0]
        assert aurora["current_status"] == "down"
        resp = client.post("/compute/job/aurora", json={"executable": "/bin/true"})
        assert resp.status_code == 503 and "aurora is down" in resp.json()["detail"]
    finally:
        httpx.put(f"{admin}/resources/aurora/status", json={"current_status": "up"})
    created = httpx.post(
        f"{admin}/incidents",
        json={
            "name": "maint",
            "type": "planned",
            "start": "2030-01-01T00:00:00Z",
            "end": "2030-01-02T00:00:00Z",
            "resources": ["polaris"],
        },
    )
    assert created.status_code == 201
    incident_id = created.json()["id"]
    planned = httpx.get(f"{base}/status/incidents", params={"type": "planned"}).json()
    assert any(i["id"] == incident_id for i in planned)
    assert httpx.get(f"{base}/status/incidents/{incident_id}").json()["type"] == "planned"
    future = httpx.get(f"{base}/status/incidents", params={"from": "2031-01-01T00:00:00Z"}).json()
    assert all(i["id"] != incident_id for i in future)
    events = httpx.get(f"{base}/status/events", params={"incident_id": incident_id}).json()
    assert len(events) == 2
    assert httpx.delete(f"{admin}/incidents/{incident_id}").status_code == 204
    assert httpx.get(f"{base}/status/incidents/{incident_id}").status_code == 404

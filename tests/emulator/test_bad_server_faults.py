"""The bad-server faults answer what broken services answer, and a restart keeps jobs running."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.faults import FaultSpecError, parse_spec
from facility_emulator.middleware import scramble_types


def _faults(server: EmulatorServer, spec: str) -> None:
    resp = httpx.put(f"{server.url}/_emulator/faults", json={"spec": spec})
    assert resp.status_code == 200, resp.text


def test_bad_json_is_announced_as_json_but_does_not_parse(
    client: httpx.Client, server: EmulatorServer
) -> None:
    _faults(server, "bad_json@GET */status/resources")
    answer = client.get("/status/resources")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        answer.json()


def test_html_is_a_proxy_error_page(client: httpx.Client, server: EmulatorServer) -> None:
    _faults(server, "html@GET */status/resources")
    answer = client.get("/status/resources")
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in answer.text


def test_wrong_types_keep_the_shape_and_change_every_type(
    client: httpx.Client, server: EmulatorServer
) -> None:
    honest = client.get("/status/resources").json()
    _faults(server, "wrong_types@GET */status/resources")
    scrambled = client.get("/status/resources").json()
    assert scrambled == scramble_types(honest)
    assert all(not isinstance(value, str) for value in scrambled[0].values())


def test_scramble_types_rules() -> None:
    assert scramble_types({"a": "xyz", "b": 2, "c": [1.5, True, None]}) == {
        "a": 3,
        "b": [2],
        "c": [[1.5], True, None],
    }


def test_huge_sends_the_announced_number_of_bytes(client: httpx.Client, server: EmulatorServer) -> None:
    _faults(server, "huge=bytes:3145729@GET */status/resources")
    with client.stream("GET", "/status/resources") as answer:
        assert answer.headers["content-length"] == "3145729"
        received = sum(len(piece) for piece in answer.iter_raw())
    assert received == 3145729


def test_huge_takes_a_default_and_rejects_unknown_arguments() -> None:
    assert parse_spec("huge").rules[0].bytes == 64 * 1024 * 1024
    assert parse_spec("huge=1000").rules[0].bytes == 1000
    with pytest.raises(FaultSpecError):
        parse_spec("huge=size:10")


def test_restart_keeps_jobs_running_and_can_forget_tokens(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(root=tmp_path, queue_delay=0.05)) as server:
        creds = server.credentials
        token = httpx.post(
            creds["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(creds["client_id"], creds["client_secret"]),
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        base = server.iri_url("v1")
        job = httpx.post(
            f"{base}/compute/job/polaris",
            json={"executable": "/bin/sleep", "arguments": ["2"]},
            headers=headers,
        ).json()
        port = server.port
        server.restart(downtime=0.5, forget_tokens=True)
        assert server.port == port
        refused = httpx.get(f"{base}/compute/status/polaris/{job['id']}", headers=headers)
        assert refused.status_code == 401
        deadline = time.monotonic() + 30
        states = []
        while time.monotonic() < deadline:
            record = next(
                j for j in httpx.get(f"{server.url}/_emulator/jobs").json()["jobs"] if j["id"] == job["id"]
            )
            states.append(record["state"])
            if record["state"] in ("completed", "failed", "canceled"):
                break
            time.sleep(0.2)
        assert states[-1] == "completed", states


def _submit_count(server: EmulatorServer) -> int:
    return int(httpx.get(f"{server.url}/_emulator/jobs").json()["submit_count"])


def test_504_after_creates_the_job_and_tells_the_client_nothing(
    client: httpx.Client, server: EmulatorServer
) -> None:
    _faults(server, "504_after=count:1@POST */compute/job/*")
    before = _submit_count(server)
    answer = client.post("/compute/job/polaris", json={"executable": "/bin/true"})
    assert answer.status_code == 504
    assert "id" not in answer.json()
    assert _submit_count(server) == before + 1


def test_a_delayed_request_is_carried_out_after_the_client_gave_up(
    client: httpx.Client, server: EmulatorServer
) -> None:
    _faults(server, "latency=seconds:1:count:1@POST */compute/job/*")
    before = _submit_count(server)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/compute/job/polaris", json={"executable": "/bin/true"}, timeout=0.3)
    deadline = time.monotonic() + 10
    while _submit_count(server) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _submit_count(server) == before + 1

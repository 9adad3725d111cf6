"""The emulated Flux RESTful server on the wire: its auth backends, submits that really run,
states and results, output, nodes and the 503 of a stopped instance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from facility_emulator import EmulatorServer

from .emu_helpers import wait_for


def flux_url(server: EmulatorServer, label: str = "none") -> str:
    return server.api_url("flux", label)


def creds(server: EmulatorServer) -> dict[str, Any]:
    return server.flavour_credentials("flux")


@pytest.fixture
def flux(server: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=flux_url(server) + "/v1", timeout=10) as client:
        yield client


def submit(client: httpx.Client, command: str, body: Any = None, **params: Any) -> int:
    answer = client.post("/jobs/submit", params={"command": command, **params}, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["Message"] == "Job submit."
    return int(answer.json()["id"])


def wait_inactive(client: httpx.Client, job_id: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        info: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        return info if info["state"] == "INACTIVE" else None

    result: dict[str, Any] = wait_for(done, timeout=20)
    return result


def test_a_job_runs_its_tasks_with_the_body_environment(flux: httpx.Client) -> None:
    job_id = submit(
        flux, "sh -c 'echo rank=$FLUX_TASK_RANK greeting=$GREETING'", {"GREETING": "hi there"}, num_tasks=2
    )
    info = wait_inactive(flux, job_id)
    assert (info["result"], info["returncode"], info["ntasks"]) == ("COMPLETED", 0, 2)
    lines = sorted("".join(flux.get(f"/jobs/{job_id}/output").json()["Output"]).splitlines())
    assert lines == ["rank=0 greeting=hi there", "rank=1 greeting=hi there"]


def test_results_failed_canceled_timeout(flux: httpx.Client) -> None:
    failed = submit(flux, "sh -c 'echo oops >&2; exit 3'")
    sleeper = submit(flux, "sleep 60")
    timed = submit(flux, "sleep 60", runtime=1)
    wait_for(lambda: flux.get(f"/jobs/{sleeper}").json()["state"] == "RUN", timeout=10)
    answer = flux.post(f"/jobs/{sleeper}/cancel")
    assert answer.json() == {"Message": "Job is requested to cancel.", "id": sleeper}
    assert wait_inactive(flux, failed)["result"] == "FAILED"
    assert wait_inactive(flux, failed)["returncode"] == 3
    canceled = wait_inactive(flux, sleeper)
    assert (canceled["result"], canceled["exception"]["type"]) == ("CANCELED", "cancel")
    timeout = wait_inactive(flux, timed)
    assert (timeout["result"], timeout["exception"]["type"]) == ("TIMEOUT", "timeout")
    assert flux.post(f"/jobs/{sleeper}/cancel").status_code == 400
    assert "oops" in "".join(flux.get(f"/jobs/{failed}/output").json()["Output"])


def test_submit_refusals_and_unknown_jobs(flux: httpx.Client) -> None:
    answer = flux.post("/jobs/submit", params={"command": "true", "num_nodes": 99})
    assert answer.status_code == 400
    assert answer.json()["Errors"] == ["The server only has 4 nodes, you requested 99"]
    assert flux.post("/jobs/submit", params={"num_tasks": 1}).status_code == 400
    assert flux.post("/jobs/submit", params={"command": "true", "num_tasks": "two"}).status_code == 422
    assert flux.post("/jobs/submit", params={"command": "true", "workdir": "/etc"}).status_code == 400
    assert flux.get("/jobs/987654321").json() == {"detail": "Job 987654321 not found"}
    assert flux.get("/jobs/987654321").status_code == 404


def test_listing_shapes(flux: httpx.Client) -> None:
    job_id = submit(flux, "true")
    assert {"id": job_id} in flux.get("/jobs").json()["jobs"]
    assert str(job_id) in flux.get("/jobs", params={"details": "true"}).json()
    listed = flux.get("/jobs", params={"details": "true", "listing": "true"}).json()["jobs"]
    assert any(item["id"] == job_id and "state" in item for item in listed)
    assert len(flux.get("/jobs", params={"limit": 1}).json()["jobs"]) == 1


def test_output_before_start_then_stream_to_the_end(flux: httpx.Client) -> None:
    job_id = submit(flux, "sh -c 'echo first; sleep 0.3; echo second'")
    early = flux.get(f"/jobs/{job_id}/output").json()
    assert (
        early in ({"Message": "The output does not exist yet, or the jobid is incorrect."},)
        or "Output" in early
    )
    streamed = flux.get(f"/jobs/{job_id}/output/stream").text
    assert streamed == "first\nsecond\n"


def test_nodes_list_the_ones_that_are_up_busy_or_not(server: EmulatorServer, flux: httpx.Client) -> None:
    assert len(flux.get("/nodes").json()["nodes"]) == 4
    job_id = submit(flux, "sleep 30", num_nodes=4)
    wait_for(lambda: flux.get(f"/jobs/{job_id}").json()["state"] == "RUN", timeout=10)
    assert len(flux.get("/nodes").json()["nodes"]) == 4  # busy nodes are still up
    flux.post(f"/jobs/{job_id}/cancel")
    admin = f"{server.url}/_emulator/flux/none"
    httpx.post(f"{admin}/nodes-down").raise_for_status()
    try:
        assert flux.get("/nodes").json() == {"nodes": []}
    finally:
        httpx.post(f"{admin}/nodes-up").raise_for_status()
    assert len(flux.get("/nodes").json()["nodes"]) == 4


def test_search_filters_by_regular_expression_and_pages_like_the_server(flux: httpx.Client) -> None:
    ids = [submit(flux, "true") for _ in range(3)]
    for job_id in ids:
        wait_inactive(flux, job_id)
    query = "|".join(str(job_id) for job_id in ids)  # matched against each job's values joined
    found = flux.get("/jobs/search", params={"search": query}).json()
    assert set(ids) <= {info["id"] for info in found["data"]}
    assert found["recordsTotal"] >= len(ids) and found["draw"] == 1
    assert found["recordsFiltered"] == len(found["data"])
    newest_first = [info["id"] for info in found["data"] if info["id"] in ids]
    assert newest_first == sorted(ids, reverse=True)
    page = flux.get("/jobs/search", params={"search": query, "start": 1, "length": 1}).json()
    assert [info["id"] for info in page["data"]] == [found["data"][1]["id"]]
    # A start past the matches is ignored, as the server does: the first page comes again.
    past = len(found["data"])
    again = flux.get("/jobs/search", params={"search": query, "start": past, "length": 1}).json()
    assert [info["id"] for info in again["data"]] == [found["data"][0]["id"]]
    alias = flux.get("/jobs/search", params={"search[value]": f"^{ids[1]}"}).json()["data"]
    assert [info["id"] for info in alias] == [ids[1]]
    assert flux.get("/jobs/search", params={"search": "("}).status_code == 500


def test_stopping_the_service_answers_null_then_503(server: EmulatorServer) -> None:
    admin = f"{server.url}/_emulator/flux/none"
    url = flux_url(server) + "/v1"
    try:
        answer = httpx.post(f"{url}/service/stop")
        assert (answer.status_code, answer.json()) == (200, None)
        assert httpx.get(f"{url}/nodes").status_code == 503
    finally:
        httpx.post(f"{admin}/start").raise_for_status()


def test_a_stopped_instance_answers_503_but_still_describes_its_auth(server: EmulatorServer) -> None:
    admin = f"{server.url}/_emulator/flux/none"
    url = flux_url(server) + "/v1"
    httpx.post(f"{admin}/stop").raise_for_status()
    try:
        answer = httpx.get(f"{url}/jobs")
        assert answer.status_code == 503
        assert answer.json() == {"detail": "Flux is not available"}
        assert httpx.get(f"{url}/auth").json()["backend"] == "none"
    finally:
        httpx.post(f"{admin}/start").raise_for_status()
    assert httpx.get(f"{url}/jobs").status_code == 200


def test_basic_backend_wants_user_and_token(server: EmulatorServer) -> None:
    url = flux_url(server, "basic") + "/v1"
    answer = httpx.get(f"{url}/jobs")
    assert (answer.status_code, answer.headers["www-authenticate"]) == (401, "Basic")
    assert httpx.get(f"{url}/jobs", auth=(creds(server)["user"], "wrong")).status_code == 401
    assert httpx.get(f"{url}/jobs", auth=(creds(server)["user"], creds(server)["token"])).status_code == 200


def test_shared_secret_handshake_and_token_revocation(server: EmulatorServer) -> None:
    from jose import jwt  # the Flux project's own JWT library signs the handshake here

    c = creds(server)
    url = flux_url(server, "shared-secret") + "/v1"
    assert httpx.get(f"{url}/auth").json() == {
        "backend": "shared-secret",
        "password_login": True,
        "shared_secret_handshake": True,
    }
    unauthenticated = httpx.get(f"{url}/jobs")
    assert (unauthenticated.status_code, unauthenticated.headers["www-authenticate"]) == (401, "Bearer")
    bad = jwt.encode({"user": c["user"], "pass": "nope", "scope": "token"}, c["secret_key"])
    assert httpx.post(f"{url}/token", headers={"Authorization": f"Bearer {bad}"}).status_code == 400
    forged = jwt.encode({"user": c["user"], "pass": c["token"], "scope": "token"}, "not-the-secret")
    assert httpx.post(f"{url}/token", headers={"Authorization": f"Bearer {forged}"}).status_code == 400
    good = jwt.encode({"user": c["user"], "pass": c["token"], "scope": "token"}, c["secret_key"])
    issued = httpx.post(f"{url}/token", headers={"Authorization": f"Bearer {good}"}).json()
    assert issued["token_type"] == "Bearer"
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    assert httpx.get(f"{url}/jobs", headers=bearer).status_code == 200
    httpx.post(f"{server.url}/_emulator/flux/shared-secret/revoke-tokens").raise_for_status()
    assert httpx.get(f"{url}/jobs", headers=bearer).status_code == 401


def test_database_backend_logs_in_with_the_password_form(server: EmulatorServer) -> None:
    c = creds(server)
    url = flux_url(server, "database") + "/v1"
    assert httpx.get(f"{url}/auth").json()["shared_secret_handshake"] is False
    refused = httpx.post(f"{url}/login/access-token", data={"username": c["user"], "password": "x"})
    assert refused.status_code == 400
    login = httpx.post(f"{url}/login/access-token", data={"username": c["user"], "password": c["token"]})
    token = login.json()["access_token"]
    assert httpx.get(f"{url}/nodes", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert httpx.post(f"{url}/token", headers={"Authorization": f"Bearer {token}"}).status_code == 400


def test_expired_tokens_are_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    from jose import jwt

    from facility_emulator import EmulatorConfig

    config = EmulatorConfig(root=tmp_path_factory.mktemp("flux-expiry"), token_lifetime=1)
    with EmulatorServer(config) as short:
        c = creds(short)
        url = flux_url(short, "database") + "/v1"
        login = httpx.post(f"{url}/login/access-token", data={"username": c["user"], "password": c["token"]})
        token = login.json()["access_token"]
        claims = jwt.get_unverified_claims(token)
        assert 1 <= claims["exp"] - claims["iat"] <= 2
        bearer = {"Authorization": f"Bearer {token}"}
        wait_for(
            lambda: httpx.get(f"{url}/nodes", headers=bearer).status_code == 401, timeout=10, interval=0.2
        )

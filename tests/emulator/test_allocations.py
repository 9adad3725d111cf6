"""The emulator's ledger and the routes that tell it: finished jobs charge their nodes times their
run time to their account's grant, every flavour with allocations sees the same usage, and
IRI's account routes answer as the spec (or, in reference mode, the reference server) does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.ledger import job_account, job_nodes

from .conftest import issue_token
from .emu_helpers import wait_job

MODES = ["spec", "reference"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """An emulator of this module's own, so that no other test's job has charged its ledger."""
    config = EmulatorConfig(root=tmp_path_factory.mktemp("ledger"), queue_delay=0.02, task_delay=0.0)
    with EmulatorServer(config) as server:
        yield server


@contextmanager
def iri(server: EmulatorServer, version: str = "v1") -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {issue_token(server)}"}
    with httpx.Client(base_url=server.iri_url(version), headers=headers, timeout=10) as client:
        yield client


def grants(server: EmulatorServer) -> dict[tuple[str, str, str], dict[str, Any]]:
    answer = httpx.get(f"{server.url}/_emulator/allocations", timeout=10).json()["allocations"]
    return {(g["project"], g["capability"], g["unit"]): g for g in answer}


def run_job(client: httpx.Client, spec: dict[str, Any]) -> dict[str, Any]:
    job = client.post("/compute/job/polaris", json=spec).json()
    return wait_job(client, "polaris", job["id"])


def test_job_records_give_their_account_and_nodes() -> None:
    assert job_account({"attributes": {"account": "demo"}}) == "demo"
    assert job_account({"account": "staff"}) == "staff" and job_account({}) == ""
    assert job_nodes({"resources": {"node_count": 3}}) == 3
    assert job_nodes({"nodes": "2-4"}) == 2 and job_nodes({"minimum_nodes": 5}) == 5
    assert job_nodes({}) == 1 and job_nodes({"nodes": True}) == 1


def test_finished_jobs_charge_their_accounts_grant(fresh: EmulatorServer) -> None:
    start = grants(fresh)
    with iri(fresh) as client:
        two_nodes = run_job(
            client,
            {
                "executable": "/bin/sleep",
                "arguments": ["0.2"],
                "resources": {"node_count": 2},
                "attributes": {"account": "staff"},
            },
        )
        run_job(client, {"executable": "/bin/true"})  # no account: the default project
        run_job(client, {"executable": "/bin/true", "attributes": {"account": "not-mine"}})
    after = grants(fresh)
    meta = two_nodes["status"]["meta_data"]
    seconds = -(-(meta["finished"] - meta["started"]) // 1)  # whole seconds, rounded up
    staff = ("staff", "polaris", "node_hours")
    assert after[staff]["usage"] - start[staff]["usage"] == pytest.approx(2 * seconds / 3600)
    demo = ("demo", "polaris", "node_hours")
    assert after[demo]["usage"] > start[demo]["usage"]
    assert after[("demo", "aurora", "node_hours")] == start[("demo", "aurora", "node_hours")]
    assert all(after[key]["base_usage"] == start[key]["base_usage"] for key in start)


def test_every_api_with_allocations_reports_the_same_usage(fresh: EmulatorServer) -> None:
    with iri(fresh, "v2") as client:
        allocations = client.get("/account/projects/staff/project_allocations").json()
    polaris = next(a for a in allocations if a["capability_uri"].endswith(_capability_id(fresh, "polaris")))
    [entry] = polaris["entries"]
    assert entry["unit"] == "urn:doe-iri:allocation:compute:node-hours"
    assert entry["usage"] == pytest.approx(grants(fresh)[("staff", "polaris", "node_hours")]["usage"])


def _capability_id(server: EmulatorServer, key: str) -> str:
    with httpx.Client(base_url=server.iri_url("v1"), timeout=10) as client:
        capabilities = client.get("/account/capabilities").json()
    return str(next(c["id"] for c in capabilities if c["name"].lower().startswith(key)))


def test_admin_changes_a_grant_and_refuses_nonsense(fresh: EmulatorServer) -> None:
    url = f"{fresh.url}/_emulator/allocations"
    answer = httpx.put(
        url, json={"project": "staff", "capability": "aurora", "allocation": 50, "base_usage": 49.5}
    )
    assert answer.status_code == 200
    assert grants(fresh)[("staff", "aurora", "node_hours")]["usage"] == 49.5
    for body, word in (
        ({"project": "nosuch", "capability": "polaris"}, "unknown project"),
        ({"project": "demo", "capability": "tape"}, "unknown capability"),
        ({"project": "demo", "capability": "eagle", "unit": "node_hours"}, "counted in"),
        ({"project": "demo", "capability": "polaris", "allocation": -1}, ">= 0"),
        ({"project": "demo", "capability": "polaris", "colour": "red"}, "unknown fields"),
        ({"project": "demo"}, "capability"),
    ):
        refused = httpx.put(url, json=body)
        assert refused.status_code == 422 and word in refused.text, body


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_iri_account_routes(server: EmulatorServer, version: str) -> None:
    assert httpx.get(f"{server.iri_url(version)}/account/projects").status_code == 401
    assert httpx.get(f"{server.iri_url(version)}/account/capabilities").status_code == 200  # public
    with iri(server, version) as client:
        projects = client.get("/account/projects").json()
        assert [p["id"] for p in projects] == ["demo", "staff"]
        assert projects[0]["user_ids"] == [server.config.user]
        assert client.get("/account/projects/staff").json()["name"] == "Staff project"
        missing = client.get("/account/projects/nosuch")
        assert missing.status_code == 404 and missing.json()["detail"] == "Project not found"
        [allocation, *_] = client.get("/account/projects/demo/project_allocations").json()
        path = f"/account/projects/demo/project_allocations/{allocation['id']}"
        assert client.get(path).json() == allocation
        assert client.get(f"{path[:-4]}nope").status_code == 404
        [share] = client.get(f"{path}/user_allocations").json()
        assert share["user_id"] == server.config.user and share["entries"] == allocation["entries"]
        assert client.get(f"{path}/user_allocations/{share['id']}").json() == share
        assert client.get(f"{path}/user_allocations/other").status_code == 404
        capability = client.get(allocation["capability_uri"]).json()
        assert capability["units"] == (
            ["node_hours"] if version == "v1" else ["urn:doe-iri:allocation:compute:node-hours"]
        )
        polaris = next(r for r in client.get("/status/resources").json() if r["name"] == "polaris")
        assert polaris["capability_uris"] == [allocation["capability_uri"]]
        by_capability = client.get("/status/resources", params={"capability": capability["id"]}).json()
        assert [r["name"] for r in by_capability] == ["polaris"]
    # The ALCF-like facility lists only its own resources' capabilities (no Perlmutter ones).
    names = [c["name"] for c in httpx.get(f"{server.iri_url(version)}/account/capabilities").json()]
    assert names and not [name for name in names if "Perlmutter" in name]


@pytest.mark.parametrize("mode", MODES)
def test_capability_filters_only_in_spec_mode(
    server: EmulatorServer, reference_server: EmulatorServer, mode: str
) -> None:
    chosen = server if mode == "spec" else reference_server
    url = f"{chosen.iri_url('v1')}/account/capabilities"
    every = httpx.get(url).json()
    named = httpx.get(url, params={"name": every[0]["name"]}).json()
    paged = httpx.get(url, params={"limit": 1, "offset": 1}).json()
    if mode == "spec":
        assert named == every[:1] and paged == every[1:2]
    else:  # the reference server's demo adapter returns every capability, whatever is asked
        assert named == every and paged == every


def test_sfapi_and_firecrest_tell_the_same_projects(fresh: EmulatorServer, tmp_path: Path) -> None:
    token = issue_token(fresh)
    headers = {"Authorization": f"Bearer {token}"}
    sfapi = httpx.get(f"{fresh.api_url('sfapi')}/account/projects", headers=headers).json()
    assert [p["repo_name"] for p in sfapi] == ["demo", "staff"]
    cpu = grants(fresh)[("demo", "perlmutter-cpu", "node_hours")]
    assert sfapi[0]["cpu_project_hours_given"] == cpu["allocation"]
    assert sfapi[0]["cpu_project_hours_used"] == pytest.approx(cpu["usage"])
    assert "gpu_project_hours_given" not in sfapi[1]  # staff has no GPU grant
    user = httpx.get(f"{fresh.api_url('sfapi')}/account/", headers=headers).json()
    assert user["name"] == fresh.config.user
    info = httpx.get(f"{fresh.api_url('firecrest')}/status/daint/userinfo", headers=headers).json()
    assert info["accounts"] == [{"name": "demo", "default": True}, {"name": "staff", "default": False}]

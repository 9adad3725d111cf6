"""The fidelity switch, and each IRI reference-server behaviour: present in reference mode, absent
in spec mode. Where the spec is silent (idempotency details, whoami) both modes answer as the
reference server does."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.cli import main as cli_main
from facility_emulator.fidelity import Fidelity, FidelityError
from facility_emulator.idempotency import fingerprint

from .conftest import issue_token
from .emu_helpers import wait_task

MODES = ["spec", "reference"]
JOB = {"executable": "/bin/true", "attributes": {"account": "proj"}}


@contextmanager
def iri(server: EmulatorServer, version: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {issue_token(server)}"}
    with httpx.Client(base_url=server.iri_url(version), headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def pick(request: pytest.FixtureRequest) -> Any:
    """``pick(mode)`` -> the emulator of that fidelity."""

    def choose(mode: str) -> EmulatorServer:
        server: EmulatorServer = request.getfixturevalue("server" if mode == "spec" else "reference_server")
        return server

    return choose


# -- the switch ----------------------------------------------------------------------------


def test_fidelity_setting_forms() -> None:
    assert Fidelity.parse("").of("iri") == "spec"
    assert Fidelity.parse("reference").of("firecrest") == "reference"
    mixed = Fidelity.parse("reference, firecrest=spec")
    assert (mixed.of("iri"), mixed.of("firecrest")) == ("reference", "spec")
    assert Fidelity.parse({"iri": "reference"}).of("iri") == "reference"
    assert Fidelity.parse({"*": "reference", "iri": "spec"}).of("iri") == "spec"
    assert Fidelity.parse(mixed.text()) == mixed
    with pytest.raises(FidelityError, match="unknown flavour 'irl'"):
        Fidelity.parse("irl=reference")
    with pytest.raises(FidelityError, match="of iri: unknown level 'real'"):
        EmulatorConfig(fidelity="iri=real")


def test_state_fidelity_and_runtime_change(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(root=tmp_path, fidelity="iri=reference")) as server:
        assert server.state.fidelity("iri") == "reference"
        assert server.state.fidelity("sfapi") == "spec"
        changed = httpx.put(f"{server.url}/_emulator/config", json={"fidelity": "reference,iri=spec"})
        assert changed.json()["fidelity"] == "reference,iri=spec"
        assert server.state.fidelity("iri") == "spec" and server.state.fidelity("flux") == "reference"
        bad = httpx.put(f"{server.url}/_emulator/config", json={"fidelity": "iri=nope"})
        assert bad.status_code == 422 and "unknown level 'nope'" in bad.json()["detail"]


def test_cli_refuses_a_bad_fidelity(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--fidelity", "iri=reference", "--fidelity", "nowhere=spec"]) == 2
    assert "invalid --fidelity" in capsys.readouterr().err


# -- a. empty pages ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_empty_pages(mode: str, pick: Any) -> None:
    server = pick(mode)
    start = datetime.now(UTC) + timedelta(days=30)
    added = httpx.post(
        f"{server.url}/_emulator/incidents",
        json={"name": "pages", "type": "planned", "start": start.isoformat(), "resources": ["aurora"]},
    )
    added.raise_for_status()
    try:
        with iri(server, "v1") as client:
            incidents = client.get("/status/incidents").json()
            # a full last page makes a client ask for the next one, which is past the end
            past = client.get("/status/incidents", params={"offset": len(incidents), "limit": len(incidents)})
            events = client.get("/status/events", params={"resource_id": "globus"})
            sites = client.get("/facility/sites", params={"name": "nowhere"})
            resources = client.get("/status/resources", params={"name": "nowhere"})
            jobs = client.post("/compute/status/aurora", params={"offset": 10_000}, json=None)
    finally:
        httpx.delete(f"{server.url}/_emulator/incidents/{added.json()['id']}")
    assert resources.status_code == 200 and resources.json() == []  # no 404 for resources
    assert jobs.status_code == 200 and jobs.json() == []  # nor for jobs
    pages = {"incidents": past, "events": events, "sites": sites}
    if mode == "spec":
        assert all(page.status_code == 200 and page.json() == [] for page in pages.values())
        return
    for what, page in pages.items():
        assert page.status_code == 404, what
        assert page.headers["content-type"].startswith("application/problem+json")
        assert {k: page.json()[k] for k in ("title", "detail")} == {
            "title": "Not Found",
            "detail": f"No {what} found",
        }


# -- b. download result --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_download_result(mode: str, pick: Any) -> None:
    server = pick(mode)
    target = Path(server.credentials["home"]) / f"dl-{mode}.bin"
    target.write_bytes(b"\x00\x01payload")
    with iri(server, "v2") as client:
        submitted = client.post("/filesystem/download/polaris", json={"path": str(target)})
        task = wait_task(client, submitted.json()["task_id"])
    output = task["result"]["output"]
    if mode == "reference":
        assert base64.b64decode(output) == b"\x00\x01payload"
    else:
        assert output["encoding"] == "base64" and base64.b64decode(output["content"]) == b"\x00\x01payload"


# -- c./d. job lists and job_spec ----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_job_list_filter_and_job_spec(mode: str, pick: Any) -> None:
    server = pick(mode)
    spec = {"executable": "/bin/sleep", "arguments": ["20"]}
    with iri(server, "v1") as client:
        first = client.post("/compute/job/aurora", json=spec).json()
        second = client.post("/compute/job/aurora", json=spec).json()
        asked = client.post(
            "/compute/status/aurora", json={"job_ids": [first["id"]]}, params={"include_spec": True}
        )
        listed = [job["id"] for job in asked.json()]
        one = client.get(f"/compute/status/aurora/{first['id']}", params={"include_spec": True}).json()
        page = client.post("/compute/status/aurora", json={"job_ids": [first["id"]]}, params={"limit": 1})
        for job in (first, second):
            client.delete(f"/compute/cancel/aurora/{job['id']}")
    if mode == "reference":
        assert {first["id"], second["id"]} <= set(listed)  # the filter is ignored
        assert len(page.json()) == 1  # paging still applies
        assert all("job_spec" not in job for job in [first, one, *asked.json()])
    else:
        assert listed == [first["id"]]
        assert first["job_spec"]["executable"] == "/bin/sleep" and one["job_spec"] is not None
        assert all(job["job_spec"] is not None for job in asked.json())


# -- e. the v2 project ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_v2_project_header(mode: str, pick: Any) -> None:
    server = pick(mode)
    bare = {"executable": "/bin/true"}
    header = {"X-IRI-Facility-Project": "from-header"}
    with iri(server, "v2") as client:
        neither = client.post("/compute/job/polaris", json=bare)
        both = client.post("/compute/job/polaris", json=JOB, headers=header)
        only_header = client.post("/compute/job/polaris", json=bare, headers=header)
        if mode == "reference":
            assert [r.status_code for r in (neither, both, only_header)] == [200, 200, 200]
            spec = client.get(f"/compute/status/polaris/{both.json()['id']}").json()
            assert "job_spec" not in spec
            jobs = httpx.get(f"{server.url}/_emulator/jobs").json()["jobs"]
            accounts = {j["id"]: (j["spec"].get("attributes") or {}).get("account") for j in jobs}
            assert accounts[both.json()["id"]] == "proj"  # the header is ignored
            assert accounts[only_header.json()["id"]] is None
        else:
            assert [r.status_code for r in (neither, both, only_header)] == [400, 400, 200]
            assert only_header.json()["job_spec"]["attributes"]["account"] == "from-header"


# -- f. idempotency ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_idempotency_answers(mode: str, pick: Any) -> None:
    server = pick(mode)
    key = str(uuid.uuid4())
    with iri(server, "v2") as client:
        first = client.post("/compute/job/polaris", json=JOB, headers={"Idempotency-Key": key})
        assert first.headers["Idempotency-Key-Reply"] == "miss"
        # the key is scoped per operation, not per resource: the same body elsewhere is a replay
        elsewhere = client.post("/compute/job/aurora", json=JOB, headers={"Idempotency-Key": key})
        assert elsewhere.headers["Idempotency-Key-Reply"] == "hit"
        assert elsewhere.json()["id"] == first.json()["id"]
        changed = client.post(
            "/compute/job/polaris", json={**JOB, "name": "x"}, headers={"Idempotency-Key": key}
        )
        assert changed.status_code == 422 and "Idempotency-Key-Reply" not in changed.headers
        in_flight = str(uuid.uuid4())
        server.state.idempotency.begin("submit", in_flight, fingerprint(JOB))
        # while the first is in flight any body answers 409, before the body is compared
        busy = client.post(
            "/compute/job/polaris", json={**JOB, "name": "y"}, headers={"Idempotency-Key": in_flight}
        )
        assert busy.status_code == 409
        server.state.idempotency.finish("submit", in_flight, None)
    if mode == "reference":
        assert "Retry-After" not in busy.headers  # its error handler drops the header
    else:
        assert busy.headers["Retry-After"] == "2"


def test_idempotency_without_a_store(tmp_path: Path) -> None:
    config = EmulatorConfig(root=tmp_path, idempotency_store=False, fidelity="iri=reference")
    with EmulatorServer(config) as server, iri(server, "v2") as client:
        keyed = client.post("/compute/job/polaris", json=JOB, headers={"Idempotency-Key": "k"})
        assert keyed.status_code == 501
        assert "no idempotency store is configured" in keyed.json()["detail"]
        assert client.post("/compute/job/polaris", json=JOB).status_code == 200
        with iri(server, "v1") as v1:  # v1 has no idempotency: the key is ignored
            assert (
                v1.post("/compute/job/polaris", json=JOB, headers={"Idempotency-Key": "k"}).status_code == 200
            )


def test_concurrent_duplicates_submit_once(tmp_path: Path) -> None:
    """Two racing requests with one key: one job; the loser is a replay or a 409."""
    with EmulatorServer(EmulatorConfig(root=tmp_path)) as server, iri(server, "v2") as client:
        key = str(uuid.uuid4())
        answers: list[httpx.Response] = []

        def send() -> None:
            answers.append(client.post("/compute/job/polaris", json=JOB, headers={"Idempotency-Key": key}))

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(a.status_code for a in answers) in ([200, 200], [200, 409])
        assert httpx.get(f"{server.url}/_emulator/jobs").json()["submit_count"] == 1


# -- g. whoami, task deletion --------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_whoami(mode: str, pick: Any) -> None:
    server = pick(mode)
    with iri(server, "v2") as client:
        assert client.get("/account/whoami").json() == {"username": server.config.user}
    assert httpx.get(f"{server.iri_url('v2')}/account/whoami").status_code == 401
    assert httpx.get(f"{server.iri_url('v1')}/account/whoami").status_code == 404


@pytest.mark.parametrize("mode", MODES)
def test_task_deletion_message(mode: str, pick: Any) -> None:
    server = pick(mode)
    with iri(server, "v1") as client:
        task_id = client.get("/filesystem/ls/polaris", params={"path": server.credentials["home"]}).json()[
            "task_id"
        ]
        wait_task(client, task_id)
        deleted = client.delete(f"/task/{task_id}").json()
    assert deleted == (
        f"Task {task_id} deleted successfully" if mode == "reference" else f"task {task_id} deleted"
    )

"""The Globus Transfer flavour, driven by globus-sdk's own ``TransferClient``.

Collections sit on the emulated facilities' storage and tasks really copy. The tree test moves
64 MiB by default and 1 GiB with ``FACILITY_TEST_LARGE=1``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest
from globus_sdk import TransferAPIError, TransferClient, TransferData
from globus_sdk.gare import to_gare

from facility_emulator import EmulatorConfig, EmulatorServer
from facility_emulator.globus.collections import catalog_of
from facility_emulator.globus.scopes import TRANSFER_SCOPE

from .emu_helpers import wait_for
from .globus_support import (
    collection,
    make_tree,
    set_rate,
    transfer_client,
    transfer_token,
    tree_digests,
    wait_task,
)

LARGE = os.environ.get("FACILITY_TEST_LARGE") == "1"
TREE_BYTES = 1024**3 if LARGE else 64 * 1024**2


@pytest.fixture(scope="module")
def client(server: EmulatorServer) -> TransferClient:
    """A TransferClient whose token carries the data_access consent of every collection."""
    return transfer_client(server, transfer_token(server, *catalog_of(server.state).all()))


def _stat(server: EmulatorServer, route: str) -> int:
    return int(httpx.get(f"{server.url}/_emulator/stats").json()["routes"].get(route, 0))


def test_token_endpoint_gives_the_transfer_scope_its_own_token(server: EmulatorServer) -> None:
    creds = server.credentials
    eagle = collection(server, "alcf-eagle")
    iri_scope = "https://auth.globus.org/scopes/facility-emulator-iri/iri_api"
    asked = f"{TRANSFER_SCOPE}[*{eagle.data_access_scope}] {iri_scope}"
    answer = httpx.post(
        creds["globus_token_url"],
        data={"grant_type": "client_credentials", "scope": asked},
        auth=(creds["client_id"], creds["client_secret"]),
    ).json()
    assert answer["resource_server"] == "facility-emulator-iri" and answer["scope"] == iri_scope
    [transfer] = answer["other_tokens"]
    assert transfer["resource_server"] == "transfer.api.globus.org" and transfer["scope"] == TRANSFER_SCOPE
    plain = httpx.post(
        creds["globus_token_url"],
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
    ).json()
    assert plain["resource_server"] == "facility-emulator-iri" and plain["other_tokens"] == []


def test_collections_are_the_iri_storage_endpoints_and_more(
    server: EmulatorServer, client: TransferClient
) -> None:
    token = httpx.post(
        server.credentials["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(server.credentials["client_id"], server.credentials["client_secret"]),
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for name in ("eagle", "home"):
        [endpoint] = httpx.get(
            f"{server.iri_url('v2')}/storage/access-endpoints/{name}", headers=headers
        ).json()
        found = catalog_of(server.state).get(endpoint["endpoint_id"])
        assert found is not None and found.name == f"alcf-{name}"
        assert str(found.root) == endpoint["root_path"]
        document = client.get_endpoint(endpoint["endpoint_id"])
        assert document["entity_type"] == "GCSv5_mapped_collection"
        assert document["display_name"] == endpoint["display_name"]
    printed = server.describe()["credentials"]["globus"]["collections"]
    assert set(printed) == {"alcf-eagle", "alcf-home", "nersc-dtn", "nersc-hpss", "olcf-dtn", "olcf-kronos"}
    assert server.flavour_credentials("sfapi")["globus_endpoints"]["dtn"] == printed["nersc-dtn"]["id"]
    with pytest.raises(TransferAPIError) as unknown:
        client.get_endpoint("00000000-0000-0000-0000-000000000000")
    assert unknown.value.http_status == 404 and unknown.value.code == "EndpointNotFound"


def test_a_tree_moves_between_facilities_byte_exact(server: EmulatorServer, client: TransferClient) -> None:
    eagle, nersc = collection(server, "alcf-eagle"), collection(server, "nersc-dtn")
    digests = make_tree(eagle.root / "sim-run", TREE_BYTES, files=16)
    data = TransferData(
        eagle.id, nersc.id, label="simulation output", verify_checksum=True, preserve_timestamp=True
    )
    data.add_item("/sim-run/", "/pscratch/analysis/sim-run/", recursive=True)
    accepted = client.submit_transfer(data)
    assert accepted.http_status == 202 and accepted["code"] == "Accepted"
    task = wait_task(client, accepted["task_id"], timeout=900 if LARGE else 120)
    assert task["status"] == "SUCCEEDED", task
    target = nersc.root / "pscratch/analysis/sim-run"
    assert tree_digests(target) == digests
    assert task["files"] == task["files_transferred"] == 16
    assert task["bytes_transferred"] == task["bytes_checksummed"] == TREE_BYTES
    assert task["subtasks_succeeded"] == task["subtasks_total"] and task["subtasks_pending"] == 0
    assert task["nice_status"] is None and task["fatal_error"] is None and task["completion_time"]
    for relative in digests:
        assert (target / relative).stat().st_mtime_ns == (
            eagle.root / "sim-run" / relative
        ).stat().st_mtime_ns
    moved = list(client.paginated.task_successful_transfers(accepted["task_id"]).items())
    assert sorted(m["destination_path"] for m in moved) == sorted(
        f"/pscratch/analysis/sim-run/{relative}" for relative in digests
    )
    events = [event["code"] for event in client.task_event_list(accepted["task_id"])]
    assert events == ["SUCCEEDED", "STARTED"]
    shutil.rmtree(eagle.root / "sim-run")  # a large tree would otherwise stay in pytest's temp dirs
    shutil.rmtree(target)


def test_a_missing_source_fails_the_task_with_the_reason(
    server: EmulatorServer, client: TransferClient
) -> None:
    eagle, nersc = collection(server, "alcf-eagle"), collection(server, "nersc-dtn")
    data = TransferData(eagle.id, nersc.id, label="missing source")
    data.add_item("/no-such-run/", "/pscratch/no-such-run/", recursive=True)
    task = wait_task(client, client.submit_transfer(data)["task_id"])
    assert task["status"] == "FAILED"
    assert task["fatal_error"] == {"code": "FILE_NOT_FOUND", "description": "file not found"}
    assert task["nice_status"] is None and task["subtasks_failed"] == 1
    [event, *_] = client.task_event_list(str(task["task_id"]))
    assert event["code"] == "FILE_NOT_FOUND" and event["is_error"] is True
    assert "/no-such-run/" in event["details"] and eagle.display_name in event["details"]
    assert not (nersc.root / "pscratch/no-such-run").exists()


def test_skip_source_errors_skips_the_missing_path(server: EmulatorServer, client: TransferClient) -> None:
    eagle, nersc = collection(server, "alcf-eagle"), collection(server, "nersc-dtn")
    (eagle.root / "present.txt").write_text("here\n")
    data = TransferData(eagle.id, nersc.id, skip_source_errors=True)
    data.add_item("/absent.txt", "/skip/absent.txt")
    data.add_item("/present.txt", "/skip/present.txt")
    task = wait_task(client, client.submit_transfer(data)["task_id"])
    assert task["status"] == "SUCCEEDED"
    assert task["subtasks_skipped_errors"] == 1 and task["files_transferred"] == 1
    assert (nersc.root / "skip/present.txt").read_text() == "here\n"


def test_cancel_stops_the_copy(server: EmulatorServer, client: TransferClient) -> None:
    eagle, hpss = collection(server, "alcf-eagle"), collection(server, "nersc-hpss")
    size = 8 * 1024 * 1024
    (eagle.root / "cancel-me.bin").write_bytes(os.urandom(size))
    set_rate(server, 256 * 1024)  # 32 seconds for the file: the cancel lands mid-copy
    try:
        data = TransferData(eagle.id, hpss.id, label="to cancel")
        data.add_item("/cancel-me.bin", "/cancel-me.bin")
        task_id = client.submit_transfer(data)["task_id"]

        def copying() -> dict[str, object] | None:
            task = client.get_task(task_id).data
            return task if task["bytes_transferred"] else None

        running = wait_for(copying)
        assert running["status"] == "ACTIVE" and running["nice_status"] == "OK"
        assert running["bytes_transferred"] < size
        answer = client.cancel_task(task_id)
        assert answer["code"] == "Canceled"
        task = client.get_task(task_id)
        assert task["status"] == "FAILED"
        assert task["fatal_error"] == {"code": "CANCELED", "description": "canceled"}
        assert task["nice_status"] is None and task["subtasks_canceled"] == 1
        written = (hpss.root / "cancel-me.bin").stat().st_size
        assert written == task["bytes_transferred"] < size  # nothing arrived after the answer
        assert client.cancel_task(task_id)["code"] == "TaskComplete"
        assert "CANCELED" in [event["code"] for event in client.task_event_list(task_id)]
    finally:
        set_rate(server, 0)


def test_one_submission_id_makes_exactly_one_transfer(server: EmulatorServer, client: TransferClient) -> None:
    eagle, nersc = collection(server, "alcf-eagle"), collection(server, "nersc-dtn")
    (eagle.root / "once.txt").write_text("once\n")
    submission_id = client.get_submission_id()["value"]
    data = TransferData(eagle.id, nersc.id, label=f"once {submission_id}", submission_id=submission_id)
    data.add_item("/once.txt", "/once/once.txt")
    first = client.submit_transfer(data)
    second = client.submit_transfer(data)
    assert (first.http_status, first["code"]) == (202, "Accepted")
    assert (second.http_status, second["code"]) == (200, "Duplicate")
    assert second["task_id"] == first["task_id"]
    assert len(list(client.task_list(filter=f"label:=once {submission_id}"))) == 1

    # An answer lost on the way: globus-sdk submits again with the same id; still one task.
    httpx.put(f"{server.url}/_emulator/faults", json={"spec": "drop_after=count:1@POST */v0.10/transfer"})
    again = TransferData(eagle.id, nersc.id, label=f"dropped {submission_id}")
    again.add_item("/once.txt", "/once/dropped.txt")
    before = _stat(server, "POST /transfer/v0.10/transfer")
    result = client.submit_transfer(again)
    assert _stat(server, "POST /transfer/v0.10/transfer") == before + 2
    assert result["code"] == "Duplicate"
    [task] = client.task_list(filter=f"label:=dropped {submission_id}")
    assert task["task_id"] == result["task_id"]


def test_task_list_answers_200_task_ids_in_one_request(
    server: EmulatorServer, client: TransferClient
) -> None:
    eagle, olcf = collection(server, "alcf-eagle"), collection(server, "olcf-dtn")
    (eagle.root / "tiny.txt").write_text("tiny\n")
    ids = []
    for index in range(200):
        data = TransferData(eagle.id, olcf.id, label="many")
        data.add_item("/tiny.txt", f"/many/tiny-{index}.txt")
        ids.append(client.submit_transfer(data)["task_id"])
    before = _stat(server, "GET /transfer/v0.10/task_list")
    answer = client.task_list(filter={"task_id": ids}, limit=1000)
    assert _stat(server, "GET /transfer/v0.10/task_list") == before + 1
    assert sorted(task["task_id"] for task in answer) == sorted(ids)
    assert answer["total"] == 200 and answer["length"] == 200
    wait_for(
        lambda: all(t["status"] == "SUCCEEDED" for t in client.task_list(filter={"task_id": ids}, limit=1000))
    )
    some = client.task_list(filter={"task_id": ids[:5], "status": "SUCCEEDED"}, limit=2, offset=1)
    assert (some["total"], some["length"], some["offset"]) == (5, 2, 1)
    with pytest.raises(TransferAPIError) as bad:
        client.task_list(filter="colour:blue")
    assert bad.value.http_status == 400 and bad.value.code == "ClientError.BadRequest"


def test_missing_consent_names_the_collection(server: EmulatorServer) -> None:
    eagle, kronos = collection(server, "alcf-eagle"), collection(server, "olcf-kronos")
    eagle_only = transfer_client(server, transfer_token(server, eagle))
    data = TransferData(eagle.id, kronos.id)
    data.add_item("/anything", "/anything")
    with pytest.raises(TransferAPIError) as refused:
        eagle_only.submit_transfer(data)
    error = refused.value
    assert error.http_status == 403 and error.code == "ConsentRequired"
    assert error.info.consent_required
    assert error.info.consent_required.required_scopes == [f"{TRANSFER_SCOPE}[*{kronos.data_access_scope}]"]
    assert error.message is not None
    assert kronos.display_name in error.message and kronos.id in error.message
    gare = to_gare(error)
    assert gare is not None and gare.authorization_parameters.required_scopes == [
        f"{TRANSFER_SCOPE}[*{kronos.data_access_scope}]"
    ]
    with pytest.raises(TransferAPIError) as listing:
        eagle_only.operation_ls(kronos.id, path="/")
    assert listing.value.code == "ConsentRequired"
    assert eagle_only.get_endpoint(kronos.id)["id"] == kronos.id  # reading the document needs no consent

    no_transfer_scope = transfer_client(server, server.credentials["static_token"])
    with pytest.raises(TransferAPIError) as unauthorized:
        no_transfer_scope.get_submission_id()
    assert unauthorized.value.http_status == 401 and unauthorized.value.code == "AuthenticationFailed"


@pytest.mark.parametrize(
    ("level", "existing", "copied"),
    [
        ("exists", "other content", False),
        ("size", "same length!!", False),
        ("size", "a different length", True),
        ("mtime", "older", True),
        ("mtime", "newer", False),
        ("checksum", "same length!!", True),
        ("checksum", "source bytes\n", False),
    ],
)
def test_sync_levels_skip_matching_destinations(
    server: EmulatorServer,
    client: TransferClient,
    level: Literal["exists", "size", "mtime", "checksum"],
    existing: str,
    copied: bool,
) -> None:
    eagle, olcf = collection(server, "alcf-eagle"), collection(server, "olcf-dtn")
    name = f"sync-{level}-{existing.replace(' ', '_')}.txt"
    source = eagle.root / "sync" / name
    source.parent.mkdir(exist_ok=True)
    source.write_text("source bytes\n")
    os.utime(source, (1_700_000_000, 1_700_000_000))
    target = olcf.root / "sync" / name
    target.parent.mkdir(exist_ok=True)
    target.write_text(existing)
    when = {"older": 1_600_000_000, "newer": 1_800_000_000}.get(existing, 1_700_000_000)
    os.utime(target, (when, when))
    data = TransferData(eagle.id, olcf.id, sync_level=level)
    data.add_item(f"/sync/{name}", f"/sync/{name}")
    task = wait_task(client, client.submit_transfer(data)["task_id"])
    assert task["status"] == "SUCCEEDED"
    assert (task["files_transferred"], task["files_skipped"]) == ((1, 0) if copied else (0, 1))
    assert target.read_text() == ("source bytes\n" if copied else existing)


def test_paths_stay_inside_their_collection(
    server: EmulatorServer, client: TransferClient, tmp_path: Path
) -> None:
    eagle, nersc = collection(server, "alcf-eagle"), collection(server, "nersc-dtn")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    base = eagle.root / "confined"
    (base / "tree").mkdir(parents=True)
    (base / "tree" / "kept.txt").write_text("kept\n")
    (base / "tree" / "link-out").symlink_to(outside)
    (base / "escape").symlink_to(outside)
    (base / "other-collection").symlink_to(nersc.root)
    (nersc.root / "evil").symlink_to(outside / "secret.txt")
    try:
        listing = client.operation_ls(eagle.id, path="/../../..")
        assert listing["absolute_path"] == "/" and "confined" in [entry["name"] for entry in listing]
        for refused in ("/confined/escape", "/confined/other-collection"):
            with pytest.raises(TransferAPIError) as denied:
                client.operation_ls(eagle.id, path=refused)
            assert denied.value.http_status == 403 and denied.value.code == "EndpointPermissionDenied"

        reading = TransferData(eagle.id, nersc.id)
        reading.add_item("/confined/escape/secret.txt", "/stolen.txt")
        task = wait_task(client, client.submit_transfer(reading)["task_id"])
        assert task["fatal_error"]["code"] == "PERMISSION_DENIED"  # type: ignore[index]
        assert not (nersc.root / "stolen.txt").exists()

        writing = TransferData(eagle.id, nersc.id)
        writing.add_item("/confined/tree/kept.txt", "/evil")
        task = wait_task(client, client.submit_transfer(writing)["task_id"])
        assert task["fatal_error"]["code"] == "PERMISSION_DENIED"  # type: ignore[index]
        assert (outside / "secret.txt").read_text() == "secret\n"

        tree = TransferData(eagle.id, nersc.id)
        tree.add_item("/confined/tree/", "/confined-copy/", recursive=True)
        task = wait_task(client, client.submit_transfer(tree)["task_id"])
        assert task["status"] == "SUCCEEDED" and task["symlinks"] == 1
        assert sorted(p.name for p in (nersc.root / "confined-copy").iterdir()) == ["kept.txt"]
    finally:
        for link in (
            base / "tree" / "link-out",
            base / "escape",
            base / "other-collection",
            nersc.root / "evil",
        ):
            link.unlink()


def test_ls_and_mkdir(server: EmulatorServer, client: TransferClient) -> None:
    home = collection(server, "alcf-home")
    user = server.credentials["user"]
    (home.root / user / "notes.txt").write_text("notes\n")
    listing = client.operation_ls(home.id)  # "/~/" is the user's home on the home collection
    assert listing["absolute_path"] == f"/{user}/"
    [notes] = [entry for entry in listing if entry["name"] == "notes.txt"]
    assert notes["type"] == "file" and notes["size"] == 6 and notes["DATA_TYPE"] == "file"
    (home.root / user / "loop").symlink_to(home.root / user / "loop")
    try:
        [loop] = [entry for entry in client.operation_ls(home.id) if entry["name"] == "loop"]
        assert loop["type"] == "invalid_symlink"
    finally:
        (home.root / user / "loop").unlink()
    made = client.operation_mkdir(home.id, "/~/results")
    assert made["code"] == "DirectoryCreated"
    assert (home.root / user / "results").is_dir()
    with pytest.raises(TransferAPIError) as exists:
        client.operation_mkdir(home.id, "/~/results")
    assert exists.value.code == "ExternalError.MkdirFailed.Exists"
    with pytest.raises(TransferAPIError) as not_dir:
        client.operation_ls(home.id, path="/~/notes.txt")
    assert not_dir.value.code == "ExternalError.DirListingFailed.NotDirectory"
    with pytest.raises(TransferAPIError) as missing:
        client.operation_ls(home.id, path="/~/nowhere")
    assert missing.value.http_status == 404 and missing.value.code == "ClientError.NotFound"


def test_faults_apply_to_the_transfer_routes(server: EmulatorServer, client: TransferClient) -> None:
    eagle, nersc = collection(server, "alcf-eagle"), collection(server, "nersc-dtn")
    (eagle.root / "faulted.txt").write_text("faulted\n")
    data = TransferData(eagle.id, nersc.id)
    data.add_item("/faulted.txt", "/faulted.txt")
    task_id = client.submit_transfer(data)["task_id"]
    httpx.put(
        f"{server.url}/_emulator/faults",
        json={"spec": "503=count:2:retry_after:1@GET */transfer/v0.10/task/*,429=count:1@GET */task/*"},
    )
    before = _stat(server, "GET /transfer/v0.10/task/{task_id}")
    assert client.get_task(task_id)["task_id"] == task_id  # globus-sdk retried through them
    assert _stat(server, "GET /transfer/v0.10/task/{task_id}") == before + 4
    with client.retry_config.tune(max_retries=0):
        httpx.put(f"{server.url}/_emulator/faults", json={"spec": "500=count:1@GET */transfer/v0.10/task/*"})
        with pytest.raises(TransferAPIError) as failed:
            client.get_task(task_id)
    assert failed.value.http_status == 500


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(root=tmp_path / "root")) as running:
        yield running


def test_a_restart_keeps_finished_tasks_and_resumes_running_ones(own_server: EmulatorServer) -> None:
    server = own_server
    eagle, kronos = collection(server, "alcf-eagle"), collection(server, "olcf-kronos")
    client = transfer_client(server, transfer_token(server, eagle, kronos))
    (eagle.root / "small.txt").write_text("small\n")
    quick = TransferData(eagle.id, kronos.id)
    quick.add_item("/small.txt", "/small.txt")
    finished = wait_task(client, client.submit_transfer(quick)["task_id"])
    digests = make_tree(eagle.root / "big", 6 * 1024 * 1024, files=3)
    set_rate(server, 512 * 1024)
    slow = TransferData(eagle.id, kronos.id, label="through a restart")
    slow.add_item("/big/", "/big/", recursive=True)
    task_id = client.submit_transfer(slow)["task_id"]
    wait_for(lambda: client.get_task(task_id)["bytes_transferred"] > 0)

    server.restart(downtime=0.2)
    set_rate(server, 0)
    task = wait_task(client, task_id)
    assert task["status"] == "SUCCEEDED", task
    assert tree_digests(kronos.root / "big") == digests
    assert task["files_transferred"] == 3 and task["faults"] == 1
    assert "CONNECTION_RESET" in [event["code"] for event in client.task_event_list(task_id)]
    assert client.get_task(str(finished["task_id"])).data == finished

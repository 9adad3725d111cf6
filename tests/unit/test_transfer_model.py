"""The transfer model, the Globus and Superfacility parsers on recorded payloads, scopes, and the
shared transfer poller with a route of its own."""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from facility_common import NotFoundError, ServerError, WaitTimeout
from facility_common.transfers import (
    AsyncTransferClient,
    InvalidTransferRequest,
    TransferClient,
    TransferItem,
    TransferPoller,
    TransferRequest,
    TransferState,
    TransferTask,
    transfer_scope,
)
from facility_common.transfers.facility_route import build_start, parse_status
from facility_common.transfers.globus_parsers import failed_files, parse_event, parse_task, transfer_document

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "globus"
EAGLE = "05d2c76a-e867-4f67-aa57-76edeb0beda0"
DTN = "9d6d994a-6d04-11e5-ba46-22000b92c6ec"


def _payload(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((PAYLOADS / name).read_text())
    return data


def _request(**changes: object) -> TransferRequest:
    values: dict[str, object] = {"source": EAGLE, "destination": DTN, "items": [("/run/", "/in/run/", True)]}
    values.update(changes)
    return TransferRequest(**values)  # type: ignore[arg-type]


def test_a_request_survives_its_dict_form() -> None:
    request = _request(
        label="simulation output",
        sync_level=3,
        verify_checksum=True,
        deadline=datetime(2030, 1, 1, tzinfo=UTC),
        source_name="alcf:eagle",
    )
    again = TransferRequest.from_dict(json.loads(json.dumps(request.to_dict())))
    assert again == request
    assert again.sync_level == "checksum" and again.items == (TransferItem("/run/", "/in/run/", True),)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"label": " padded "}, "label"),
        ({"label": "x" * 129}, "label"),
        ({"label": "two\nlines"}, "label"),
        ({"sync_level": "often"}, "sync_level"),
        ({"submission_id": "not-a-uuid"}, "submission_id"),
        ({"items": []}, "items"),
        ({"items": [("", "/x")]}, "items.source_path"),
        ({"items": [{"source_path": "/a", "destination_path": "/b", "recursve": True}]}, "items.recursve"),
        ({"verify_checksum": "yes"}, "verify_checksum"),
        ({"source": ""}, "source"),
    ],
)
def test_bad_requests_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidTransferRequest) as bad:
        _request(**changes)
    assert bad.value.field == field and str(bad.value).startswith(field)


def test_transfer_document_is_what_post_transfer_takes() -> None:
    request = _request(label="run 7", sync_level="mtime", preserve_timestamp=True)
    document = transfer_document(request)
    assert document["submission_id"] == request.submission_id
    assert document["sync_level"] == 2 and document["label"] == "run 7"
    assert document["DATA"] == [
        {
            "DATA_TYPE": "transfer_item",
            "source_path": "/run/",
            "destination_path": "/in/run/",
            "recursive": True,
        }
    ]


def test_an_active_task_document() -> None:
    task = parse_task(_payload("task_active.json"))
    assert task.state is TransferState.ACTIVE and task.native_status == "ACTIVE"
    assert (task.source, task.destination, task.label) == (EAGLE, DTN, "simulation output")
    assert (task.bytes_transferred, task.bytes_expected, task.files, task.files_transferred) == (
        4294967296,
        12884901888,
        120,
        40,
    )
    assert task.rate == 357913941.0 and task.faults == 1 and task.reason == "OK"
    assert task.progress == pytest.approx(1 / 3)
    assert TransferTask.from_dict(json.loads(json.dumps(task.to_dict()))) == task


def test_an_inactive_task_is_active_with_the_reason() -> None:
    task = parse_task(_payload("task_inactive.json"))
    assert task.state is TransferState.ACTIVE and task.native_status == "INACTIVE"
    assert task.reason is not None and task.reason.startswith("inactive; permission denied")


def test_a_cancelled_task_is_canceled_not_failed() -> None:
    task = parse_task(_payload("task_canceled.json"))
    assert task.state is TransferState.CANCELED and task.is_terminal
    assert task.fatal_error == "CANCELED" and task.reason == "CANCELED: canceled"


def test_failed_files_come_from_error_events_each_once() -> None:
    events = [parse_event(doc) for doc in _payload("event_list.json")["DATA"]]  # type: ignore[union-attr]
    files = failed_files(events)
    assert [(f.path, f.code, f.side) for f in files] == [
        ("/global/cfs/out/run/part-1.h5", "PERMISSION_DENIED", "destination"),
        ("/projects/demo/run/missing.h5", "FILE_NOT_FOUND", "source"),
    ]
    assert files[1].message == "No such file or directory"


def test_superfacility_answers_and_form() -> None:
    task = parse_status(
        {"status": "OK", "reason": None, "globus_status": "CANCELED", "bytes_transferred": 10}, "t1", "nersc"
    )
    assert task.state is TransferState.CANCELED and task.route == "nersc"
    with pytest.raises(LookupError, match="not found"):
        parse_status({"status": "ERROR", "reason": "transfer t2 not found"}, "t2", "nersc")
    form = build_start(_request(items=[("/run/a.h5", "/in/a.h5")], label="one"), "sfapi").data
    assert form == {
        "source_uuid": EAGLE,
        "target_uuid": DTN,
        "source_dir": "/run/a.h5",
        "target_dir": "/in",
        "label": "one",
    }


def test_the_transfer_scope_carries_each_collection_once() -> None:
    assert transfer_scope([]) == "urn:globus:auth:scope:transfer.api.globus.org:all"
    assert transfer_scope([DTN.upper(), EAGLE, DTN]) == (
        "urn:globus:auth:scope:transfer.api.globus.org:all["
        f"*https://auth.globus.org/scopes/{EAGLE}/data_access *https://auth.globus.org/scopes/{DTN}/data_access]"
    )


def test_the_blocking_client_mirrors_the_async_one() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_")
        }

    coroutines = {
        n: s
        for n, s in public(AsyncTransferClient).items()
        if inspect.iscoroutinefunction(getattr(AsyncTransferClient, n))
    }
    blocking = public(TransferClient)
    for name, signature in coroutines.items():
        if name == "aclose":
            continue
        assert name in blocking, name
        assert list(blocking[name].parameters)[1:] == list(signature.parameters)[1:], name
        assert getattr(TransferClient, name).__doc__ == getattr(AsyncTransferClient, name).__doc__


class FakeRoute:
    """A route whose listing answers from a table; counts its calls."""

    name = "fake"
    batched = True

    def __init__(self) -> None:
        self.tasks: dict[str, TransferTask] = {}
        self.lists = 0
        self.singles = 0
        self.fail_next = False

    async def list_tasks(self, task_ids: Sequence[str] | None = None) -> list[TransferTask]:
        self.lists += 1
        if self.fail_next:
            self.fail_next = False
            raise ServerError("the listing broke", facility="fake")
        return [self.tasks[t] for t in task_ids or [] if t in self.tasks]

    async def get_task(self, task_id: str) -> TransferTask:
        self.singles += 1
        if task_id not in self.tasks:
            raise NotFoundError(f"no task {task_id}", facility="fake")
        return self.tasks[task_id]


def _task(task_id: str, state: TransferState, moved: int = 0) -> TransferTask:
    return TransferTask(id=task_id, state=state, route="fake", bytes_transferred=moved)


def test_the_poller_shares_rounds_keeps_the_last_state_and_gives_up_on_unknown_tasks() -> None:
    route = FakeRoute()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    route.tasks = {
        ids[0]: _task(ids[0], TransferState.ACTIVE, 5),
        ids[1]: _task(ids[1], TransferState.SUCCEEDED),
    }
    poller = TransferPoller(route, interval=0.01, grace=0.0)

    async def scenario() -> None:
        views = await poller.refresh(ids)
        assert route.lists == 1
        assert views[ids[0]].bytes_transferred == 5 and views[ids[1]].state is TransferState.SUCCEEDED
        assert route.singles == 1  # the unknown one was asked about once, past the grace
        again = await poller.refresh(ids, max_age=3600)
        assert route.lists == 1 and again[ids[0]] == views[ids[0]]  # shared answer
        route.fail_next = True
        blip = await poller.refresh([ids[0]])
        assert blip[ids[0]].state is TransferState.ACTIVE and "the listing broke" in (
            blip[ids[0]].reason or ""
        )
        with pytest.raises(NotFoundError, match="not known to the fake route"):
            await poller.wait(ids[2], timeout=5)
        route.tasks[ids[0]] = _task(ids[0], TransferState.SUCCEEDED, 9)
        seen: list[int] = []
        done = await poller.wait(ids[0], timeout=5, on_update=lambda t: seen.append(t.bytes_transferred))
        assert done.state is TransferState.SUCCEEDED and seen[-1] == 9
        with pytest.raises(WaitTimeout):
            route.tasks["slow"] = _task("slow", TransferState.ACTIVE)
            await poller.wait("slow", timeout=0.0)

    anyio.run(scenario)

"""The transfer operator, trigger and sensor against the emulator: the transfer id in XCom, a
retry that finds its transfer instead of starting another, deferred waits sharing one status
request per interval, on_kill cancelling, and the sensor on a transfer started elsewhere."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_facility.operators import FacilityTransferOperator
from airflow_facility.sensors import FacilityTransferSensor
from airflow_facility.transfer_record import TRANSFER_RECORD_KEY
from airflow_facility.triggers import FacilityTransferTrigger
from facility_emulator.globus.engine import engine_of

from .conftest import SITE_A, SITE_B, emulator_admin
from .test_kill_and_retry import TaskInstanceStandIn
from .test_tries import StoreStandIn
from .transfer_support import collection_roots, transfer_connections  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("airflow_env", "transfer_connections")


def _tree(facility: Any, files: int = 2) -> str:
    name = f"out-{uuid.uuid4().hex[:8]}"
    source = Path(collection_roots(facility)["eagle"], name)
    source.mkdir()
    for index in range(files):
        (source / f"part-{index}.dat").write_bytes(bytes([index]) * 1000)
    return name


def _operator(name: str, **options: Any) -> FacilityTransferOperator:
    values: dict[str, Any] = {
        "task_id": "move",
        "source_conn_id": SITE_A,
        "source_storage": "eagle",
        "source_path": f"/{name}/",
        "destination_conn_id": SITE_B,
        "destination_storage": "dtn",
        "destination_path": f"/{name}/",
        "recursive": True,
        "transfer_label": f"move {name}",
        "poll_interval": 0.1,
        "deferrable": False,
    }
    values.update(options)
    return FacilityTransferOperator(**values)


def _tasks_labelled(facility: Any, name: str) -> list[Any]:
    return [t for t in engine_of(facility.state).tasks() if t.label and t.label.startswith(f"move {name}")]


def test_the_transfer_runs_and_its_id_goes_to_xcom(facility: Any) -> None:
    name = _tree(facility)
    ti = TaskInstanceStandIn("transfers", "move", f"run-{uuid.uuid4().hex}")
    result = _operator(name).execute({"ti": ti, "task_state_store": StoreStandIn()})  # type: ignore[arg-type]

    [task] = _tasks_labelled(facility, name)
    assert result is not None and result["state"] == "SUCCEEDED" and result["id"] == task.task_id
    assert ti.xcoms["transfer_id"] == task.task_id and ti.xcoms["transfer_route"] == "globus"
    assert Path(collection_roots(facility)["dtn"], name, "part-1.dat").read_bytes() == b"\x01" * 1000


def test_a_retry_finds_the_transfer_of_the_try_that_died(facility: Any) -> None:
    name = _tree(facility)
    run_id, store = f"run-{uuid.uuid4().hex}", StoreStandIn()
    first = TaskInstanceStandIn("transfers", "move", run_id, try_number=1, max_tries=2)
    # The first try submits and its worker dies before it waits.
    _operator(name, wait_for_completion=False, retries=2).execute({"ti": first, "task_state_store": store})  # type: ignore[arg-type]
    [started] = _tasks_labelled(facility, name)

    retry = TaskInstanceStandIn("transfers", "move", run_id, try_number=2, max_tries=2)
    result = _operator(name, retries=2).execute({"ti": retry, "task_state_store": store})  # type: ignore[arg-type]

    assert [t.task_id for t in _tasks_labelled(facility, name)] == [started.task_id]
    assert result is not None and result["id"] == started.task_id and result["state"] == "SUCCEEDED"
    assert store.values[TRANSFER_RECORD_KEY]["seen_end"] is True


def test_a_retry_whose_submit_answer_was_never_recorded_starts_nothing_new(facility: Any) -> None:
    name = _tree(facility)
    run_id, store = f"run-{uuid.uuid4().hex}", StoreStandIn()
    first = TaskInstanceStandIn("transfers", "move", run_id, try_number=1, max_tries=2)
    _operator(name, wait_for_completion=False, retries=2).execute({"ti": first, "task_state_store": store})  # type: ignore[arg-type]
    # As if the worker died between the submit and recording its answer: only the request is kept.
    store.values[TRANSFER_RECORD_KEY] = {**store.values[TRANSFER_RECORD_KEY], "task_id": None}

    retry = TaskInstanceStandIn("transfers", "move", run_id, try_number=2, max_tries=2)
    result = _operator(name, retries=2).execute({"ti": retry, "task_state_store": store})  # type: ignore[arg-type]

    [only] = _tasks_labelled(facility, name)
    assert result is not None and result["id"] == only.task_id


def test_without_a_state_store_a_retry_finds_its_transfer_by_label(facility: Any) -> None:
    name = _tree(facility)
    run_id = f"run-{uuid.uuid4().hex}"
    first = TaskInstanceStandIn("transfers", "move", run_id, try_number=1, max_tries=2)
    _operator(name, wait_for_completion=False, retries=2).execute({"ti": first})  # type: ignore[arg-type]

    retry = TaskInstanceStandIn("transfers", "move", run_id, try_number=2, max_tries=2)
    result = _operator(name, retries=2).execute({"ti": retry})  # type: ignore[arg-type]

    [only] = _tasks_labelled(facility, name)
    assert result is not None and result["id"] == only.task_id


def test_a_failed_transfer_fails_the_task_naming_the_file(
    facility: Any, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    ti = TaskInstanceStandIn("transfers", "move", f"run-{uuid.uuid4().hex}")
    operator = _operator(
        "absent", source_path="/absent/data.h5", destination_path="/absent/data.h5", recursive=False
    )
    with pytest.raises(Exception, match=r"ended FAILED: FILE_NOT_FOUND"):
        operator.execute({"ti": ti, "task_state_store": StoreStandIn()})  # type: ignore[arg-type]
    assert "/absent/data.h5 (source side): FILE_NOT_FOUND" in "".join(capfd.readouterr()) + caplog.text


def test_deferred_transfers_share_one_status_request_per_round(facility: Any) -> None:
    emulator_admin(facility, "PUT", "globus", {"bytes_per_second": 20_000})
    try:
        names = [_tree(facility, files=1) for _ in range(6)]
        ids = []
        for name in names:
            ti = TaskInstanceStandIn("transfers", "move", f"run-{uuid.uuid4().hex}")
            _operator(name, wait_for_completion=False).execute({"ti": ti})  # type: ignore[arg-type]
            ids.append(ti.xcoms["transfer_id"])
        triggers = [
            FacilityTransferTrigger(task_id=task_id, globus_conn_id="globus_default", poll_interval=0.1)
            for task_id in ids
        ]
        classpath, kwargs = triggers[0].serialize()
        assert classpath == "airflow_facility.triggers.transfer.FacilityTransferTrigger"
        assert FacilityTransferTrigger(**kwargs).serialize() == (classpath, kwargs)

        async def run_all() -> tuple[list[Any], int]:
            before = _lists(facility)

            async def first_event(trigger: FacilityTransferTrigger) -> Any:
                async for event in trigger.run():
                    return event.payload
                return None

            events = await asyncio.gather(*(first_event(t) for t in triggers))
            from airflow_facility.hooks.transfer import shared_transfer_client

            client = await shared_transfer_client("globus_default")
            assert _lists(facility) - before == client.poller().rounds
            return list(events), client.poller().rounds

        events, rounds = asyncio.run(run_all())
    finally:
        emulator_admin(facility, "PUT", "globus", {"bytes_per_second": 0})
    assert rounds >= 1
    assert [e["status"] for e in events] == ["terminal"] * 6
    assert {e["transfer"]["state"] for e in events} == {"SUCCEEDED"}


def _lists(facility: Any) -> int:
    return int(emulator_admin(facility, "GET", "stats")["routes"].get("GET /transfer/v0.10/task_list", 0))


def test_on_kill_of_a_deferred_transfer_cancels_it(facility: Any) -> None:
    emulator_admin(facility, "PUT", "globus", {"bytes_per_second": 1_000})
    try:
        name = _tree(facility, files=2)
        ti = TaskInstanceStandIn("transfers", "move", f"run-{uuid.uuid4().hex}")
        _operator(name, wait_for_completion=False).execute({"ti": ti})  # type: ignore[arg-type]
        trigger = FacilityTransferTrigger(task_id=ti.xcoms["transfer_id"], globus_conn_id="globus_default")
        asyncio.run(trigger.on_kill())  # no task instance to ask: the transfer is cancelled
    finally:
        emulator_admin(facility, "PUT", "globus", {"bytes_per_second": 0})
    [task] = _tasks_labelled(facility, name)
    assert task.status == "FAILED" and task.fatal_error == {"code": "CANCELED", "description": "canceled"}


def test_the_sensor_waits_for_a_transfer_started_elsewhere(facility: Any) -> None:
    name = _tree(facility)
    ti = TaskInstanceStandIn("transfers", "move", f"run-{uuid.uuid4().hex}")
    _operator(name, wait_for_completion=False).execute({"ti": ti})  # type: ignore[arg-type]
    sensor = FacilityTransferSensor(task_id="wait", transfer_id=ti.xcoms["transfer_id"], poke_interval=0.1)
    assert sensor.execute({"ti": ti}) is None  # type: ignore[arg-type]

    broken = TaskInstanceStandIn("transfers", "move", f"run-{uuid.uuid4().hex}")
    _operator(
        "absent",
        source_path="/absent/x",
        destination_path="/absent/x",
        recursive=False,
        wait_for_completion=False,
    ).execute(
        {"ti": broken}  # type: ignore[arg-type]
    )
    with pytest.raises(Exception, match="FILE_NOT_FOUND"):
        FacilityTransferSensor(
            task_id="wait", transfer_id=broken.xcoms["transfer_id"], poke_interval=0.1
        ).execute(
            {"ti": broken}  # type: ignore[arg-type]
        )


def test_the_globus_connection_keeps_its_secret(facility: Any) -> None:
    from airflow.sdk import Connection

    from facility_common.transfers.settings import globus_settings_from_connection

    raw = json.loads(os.environ["AIRFLOW_CONN_GLOBUS_DEFAULT"])
    raw["extra"] = json.dumps(raw["extra"])
    settings = globus_settings_from_connection(Connection(conn_id="globus_default", **raw))
    assert settings.auth_type == "globus_confidential" and settings.base_url.endswith("/transfer/")
    assert facility.credentials["client_secret"] not in repr(settings)
    assert httpx.URL(settings.base_url).host == "127.0.0.1"

"""Transfers through globus-sdk against the emulated Transfer API: trees moved byte-exact between
facilities, a failure with its reason, cancel, a lost submit answer, and batched waiting.

The tree moves 32 MiB by default and 1 GiB with ``FACILITY_TEST_LARGE=1``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from facility_common import RetryPolicy
from facility_common.transfers import (
    ConsentRequired,
    TransferClient,
    TransferRequest,
    TransferState,
    TransferSubmissionError,
)
from facility_emulator.globus.engine import engine_of

from ..emulator.globus_support import make_tree, transfer_token, tree_digests
from .conftest import async_client, collection_id, set_faults, set_rate, stat, sync_client

LARGE = os.environ.get("FACILITY_TEST_LARGE") == "1"
TREE_BYTES = 1024**3 if LARGE else 32 * 1024**2


def _root(server: Any, name: str) -> Path:
    return Path(server.flavour_credentials("globus")["collections"][name]["root"])


@pytest.fixture
def client(server: Any) -> Any:
    with sync_client(server, poll_interval=0.1) as transfers:
        yield transfers


def test_a_tree_moves_from_alcf_to_nersc_byte_exact(server: Any, client: TransferClient) -> None:
    run = f"sim-{uuid.uuid4().hex[:8]}"
    digests = make_tree(_root(server, "alcf-eagle") / run, TREE_BYTES, files=12)
    request = client.prepare(
        "alcf:eagle",
        "nersc:dtn",
        [(f"/{run}/", f"/pscratch/analysis/{run}/", True)],
        label=f"simulation output {run}",
        verify_checksum=True,
        preserve_timestamp=True,
    )
    # The ALCF collection came from the IRI v2 storage access endpoints, NERSC's from configuration.
    assert request.source == collection_id(server, "alcf-eagle")
    assert request.destination == collection_id(server, "nersc-dtn")
    assert (request.source_name, request.destination_name) == ("alcf:eagle", "nersc:dtn")

    task = client.submit(request)
    seen: list[TransferState] = []
    done = client.wait(task.id, timeout=900 if LARGE else 120, on_update=lambda t: seen.append(t.state))

    assert done.state is TransferState.SUCCEEDED, done
    assert tree_digests(_root(server, "nersc-dtn") / "pscratch/analysis" / run) == digests
    assert done.bytes_transferred == TREE_BYTES and done.files_transferred == 12
    assert done.label == f"simulation output {run}" and done.submission_id == request.submission_id
    assert seen[-1] is TransferState.SUCCEEDED
    assert client.failed_files(task.id) == []
    assert client.events(task.id)[0].code == "SUCCEEDED"


def test_a_missing_source_fails_with_its_reason(server: Any, client: TransferClient) -> None:
    task = client.transfer("olcf:orion", "olcf:kronos", [("/no/such/file.h5", "/archive/file.h5")])
    done = client.wait(task.id, timeout=60)

    assert done.state is TransferState.FAILED
    assert done.fatal_error == "FILE_NOT_FOUND"
    assert done.reason is not None and "file not found" in done.reason.lower()
    [failed] = client.failed_files(task.id)
    assert failed.path == "/no/such/file.h5" and failed.code == "FILE_NOT_FOUND" and failed.side == "source"


def test_cancel_ends_a_running_transfer(server: Any, client: TransferClient) -> None:
    run = f"slow-{uuid.uuid4().hex[:8]}"
    make_tree(_root(server, "olcf-dtn") / run, 4 * 1024**2, files=2)
    set_rate(server, 64 * 1024)
    task = client.transfer("olcf:orion", "nersc:dtn", [(f"/{run}/", f"/in/{run}/", True)], label="to cancel")

    cancelled = client.cancel(task.id)
    done = cancelled if cancelled.is_terminal else client.wait(task.id, timeout=60)

    assert done.state is TransferState.CANCELED
    assert done.fatal_error == "CANCELED"


def test_a_lost_submit_answer_and_its_retry_make_one_transfer(server: Any, client: TransferClient) -> None:
    run = f"lost-{uuid.uuid4().hex[:8]}"
    make_tree(_root(server, "olcf-dtn") / run, 64 * 1024, files=2)
    label = f"lost answer {run}"
    request = client.prepare("olcf:orion", "alcf:eagle", [(f"/{run}/", f"/{run}/", True)], label=label)
    before = stat(server, "POST /transfer/v0.10/transfer")
    # The server creates the task, then the connection drops before the answer arrives.
    set_faults(server, "drop_after=count:1@POST */transfer/v0.10/transfer")

    task = client.submit(request)

    assert stat(server, "POST /transfer/v0.10/transfer") == before + 2  # sent, lost, sent again
    created = [t for t in engine_of(server.state).tasks() if t.label == label]
    assert [t.task_id for t in created] == [task.id]
    assert client.wait(task.id, timeout=60).state is TransferState.SUCCEEDED


def test_a_caller_retry_after_an_unknown_outcome_finds_the_same_transfer(server: Any) -> None:
    run = f"unknown-{uuid.uuid4().hex[:8]}"
    make_tree(_root(server, "olcf-dtn") / run, 64 * 1024, files=1)
    label = f"unknown outcome {run}"
    with sync_client(server, retry=RetryPolicy(attempts=1)) as once:
        request = once.prepare("olcf:orion", "olcf:kronos", [(f"/{run}/", f"/{run}/", True)], label=label)
        kept = request.to_dict()  # what an Airflow task keeps between tries
        set_faults(server, "drop_after=count:1@POST */transfer/v0.10/transfer")
        with pytest.raises(TransferSubmissionError) as lost:
            once.submit(request)
        assert lost.value.outcome_unknown and lost.value.submission_id == request.submission_id
        assert request.submission_id in str(lost.value)

        again = once.submit(TransferRequest.from_dict(kept))

    created = [t for t in engine_of(server.state).tasks() if t.label == label]
    assert [t.task_id for t in created] == [again.id]


def test_two_hundred_waits_cost_one_task_list_request_per_round(server: Any) -> None:
    run = f"many-{uuid.uuid4().hex[:8]}"
    source = _root(server, "olcf-dtn") / run
    source.mkdir()
    for index in range(200):
        (source / f"f{index:03d}.txt").write_text(f"file {index}\n")

    async def scenario() -> tuple[int, int, int, list[TransferState]]:
        async with async_client(server, poll_interval=0.05) as transfers:
            tasks = []
            for index in range(200):
                tasks.append(
                    await transfers.transfer(
                        "olcf:orion",
                        "olcf:kronos",
                        [(f"/{run}/f{index:03d}.txt", f"/{run}/f{index:03d}.txt")],
                    )
                )
            lists, singles = (
                stat(server, "GET /transfer/v0.10/task_list"),
                stat(server, "GET /transfer/v0.10/task/{task_id}"),
            )
            results: list[TransferState] = []

            async def wait(task_id: str) -> None:
                results.append((await transfers.wait(task_id, timeout=300)).state)

            async with anyio.create_task_group() as group:
                for task in tasks:
                    group.start_soon(wait, task.id)
            rounds = transfers.poller().rounds
            return (
                rounds,
                stat(server, "GET /transfer/v0.10/task_list") - lists,
                stat(server, "GET /transfer/v0.10/task/{task_id}") - singles,
                results,
            )

    rounds, lists, singles, results = anyio.run(scenario)

    assert results == [TransferState.SUCCEEDED] * 200
    assert rounds >= 1
    assert lists == rounds  # one task_list request per round, for all 200 waiters
    assert singles == 0


def test_a_token_without_the_collection_consent_names_the_collection(server: Any) -> None:
    from facility_common.transfers import AsyncTransferClient

    from .conftest import sites

    token = transfer_token(server)  # the Transfer scope without any data_access consent

    async def scenario() -> None:
        async with AsyncTransferClient.connect(
            globus_auth=token, globus_url=f"{server.url}/transfer/", sites=sites(server)
        ) as transfers:
            await transfers.transfer("olcf:orion", "alcf:eagle", [("/a", "/a")])

    with pytest.raises(ConsentRequired) as refused:
        anyio.run(scenario)
    eagle, orion = collection_id(server, "alcf-eagle"), collection_id(server, "olcf-dtn")
    assert set(refused.value.collections) == {eagle, orion}
    assert "alcf:eagle" in str(refused.value) and "olcf:orion" in str(refused.value)
    assert f"https://auth.globus.org/scopes/{eagle}/data_access" in (refused.value.required_scope or "")
    assert token not in str(refused.value) and token not in repr(refused.value)


def test_no_secret_in_reprs_or_errors(server: Any) -> None:
    secret = server.credentials["client_secret"]
    with sync_client(server) as transfers:
        assert secret not in repr(transfers) and secret not in repr(transfers.route())
        with pytest.raises(Exception) as unknown:
            transfers.get_transfer(str(uuid.uuid4()))
    assert secret not in str(unknown.value)
    assert "404" in str(unknown.value) or "not" in str(unknown.value).lower()

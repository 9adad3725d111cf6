"""The sync facade keeps working in a forked child (Parsl and Airflow both fork workers)."""

from __future__ import annotations

import multiprocessing
import threading
from queue import Empty
from typing import Any

import anyio
import anyio.to_thread

from facility_common import FacilityClient
from facility_common.auth import Fetched, Secret, TokenSource


def child_lists(client: FacilityClient, queue: Any) -> None:
    try:
        queue.put(sorted(status.name for status in client.resources()))
    except Exception as exc:  # reported to the parent, which fails the test
        queue.put(repr(exc))


def test_client_used_before_and_after_fork(emulator: Any) -> None:
    client = FacilityClient.connect(
        "iri", base_url=emulator.iri_url("v1"), auth=emulator.credentials["static_token"]
    )
    before = sorted(status.name for status in client.resources())
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child_lists, args=(client, queue))
    process.start()
    answer = queue.get(timeout=30)
    process.join(timeout=30)
    assert answer == before
    assert sorted(status.name for status in client.resources()) == before
    client.close()


class FirstFetchWaits(TokenSource):
    """A token source whose first fetch waits for the test (to fork while it is in flight)."""

    def __init__(self, token: str) -> None:
        super().__init__(facility="iri")
        self._token = Secret(token)
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()

    async def _fetch(self) -> Fetched:
        self.calls += 1
        if self.calls == 1:
            self.started.set()
            await anyio.to_thread.run_sync(self.release.wait)
        return Fetched(self._token, None)


def test_a_fork_while_a_token_fetch_is_in_flight(emulator: Any) -> None:
    """Parsl's HTEX and Airflow's LocalExecutor fork at any moment: the child must not inherit a
    token lock held by a thread that does not exist in it."""
    source = FirstFetchWaits(emulator.credentials["static_token"])
    client = FacilityClient.connect("iri", base_url=emulator.iri_url("v1"), auth=source)
    in_flight = threading.Thread(target=client.resources, daemon=True)
    in_flight.start()
    assert source.started.wait(timeout=30)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child_lists, args=(client, queue))
    process.start()
    try:
        answer = queue.get(timeout=60)  # a child stuck on the inherited lock never answers
    except Empty:
        answer = "the child did not answer: it is blocked"
    finally:
        if process.is_alive():
            process.kill()
        process.join(timeout=30)
        source.release.set()
        in_flight.join(timeout=30)
    assert isinstance(answer, list) and "polaris" in answer, answer
    client.close()

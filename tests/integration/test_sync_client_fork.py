"""The sync facade keeps working in a forked child (Parsl and Airflow both fork workers)."""

from __future__ import annotations

import multiprocessing
from typing import Any

from facility_common import FacilityClient


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

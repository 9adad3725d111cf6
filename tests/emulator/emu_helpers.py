"""Polling helpers shared by the emulator tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def wait_job(client: httpx.Client, resource: str, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll a job until it reaches a terminal state."""

    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/compute/status/{resource}/{job_id}").json()
        return job if job["status"]["state"] in ("completed", "failed", "canceled") else None

    result: dict[str, Any] = wait_for(done, timeout)
    return result


def wait_task(client: httpx.Client, task_id: str) -> dict[str, Any]:
    """Poll a filesystem task until it ends."""

    def done() -> dict[str, Any] | None:
        task: dict[str, Any] = client.get(f"/task/{task_id}").json()
        return task if task["status"] in ("completed", "failed", "canceled") else None

    result: dict[str, Any] = wait_for(done)
    return result

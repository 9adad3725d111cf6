"""The Superfacility API's asynchronous tasks: reading them, and following one to its end.

A submit, a cancel and a shell command do not answer their result: they answer
``{task_id, status, error}``, and ``GET /tasks/{id}`` shows the task as ``new`` until it is
``completed``, ``failed`` or ``cancelled``. Its ``result`` is a JSON *string* holding an object
with its own ``status`` (``ok``/``error``), ``error`` and the operation's answer (``jobid`` for a
submit, ``output`` for a command). :class:`TaskFollower` polls a task at ``task_poll_interval``
for at most ``task_timeout`` seconds; the functions here read the answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ...errors import APIError, NotFoundError, WaitTimeout
from ...http import ApiSession
from .parsers import NOT_FOUND, bad, check_ok, id_or_none
from .requests import build_task

__all__ = [
    "TASK_DONE",
    "TaskFollower",
    "parse_task",
    "parse_task_submitted",
    "submit_task_id",
    "task_error",
]

FACILITY = "sfapi"
TASK_DONE = frozenset({"completed", "failed", "cancelled"})
"""The status words of a task that has ended."""


def parse_task_submitted(data: Any, what: str, resource: str) -> str:
    """The task id of a ``{task_id, status, error}`` answer."""
    body = check_ok(data, what, resource)
    task_id = body.get("task_id")
    if not isinstance(task_id, str | int) or task_id == "":
        raise bad(what, "no task_id", resource)
    return str(task_id)


def parse_task(data: Any) -> tuple[str, dict[str, Any] | None]:
    """A task's status word and its decoded ``result`` (a JSON string in the API)."""
    if not isinstance(data, dict):
        raise bad("GET /tasks", "expected an object")
    status = str(data.get("status") or "new").lower()
    result = data.get("result")
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            result = {"status": "error" if status == "failed" else "ok", "output": result}
    return status, result if isinstance(result, dict) else None


def task_error(
    task_id: str, status: str, result: dict[str, Any], what: str, resource: str
) -> APIError | None:
    """The error a finished task reports (its own words), or None when it completed well."""
    if status == "completed" and str(result.get("status", "ok")).lower() != "error":
        return None
    message = str(result.get("error") or f"task {task_id} ended {status}")
    error = NotFoundError if NOT_FOUND.search(message) else APIError
    return error(f"{what}: {message}", facility=FACILITY, resource=resource, body=message[:500])


def submit_task_id(data: Any, what: str, resource: str) -> str | None:
    """The task id of a submit's answer; None when the answer cannot be read. The API's own
    ``status: ERROR`` (a refusal) is raised."""
    if not isinstance(data, dict):
        return None
    if str(data.get("status", "OK")).upper() == "ERROR":
        check_ok(data, what, resource)
    return id_or_none(data.get("task_id"))


class TaskFollower:
    """Polls tasks of one API session until they end, within a bounded wait."""

    def __init__(
        self,
        session: ApiSession,
        *,
        timeout: float,
        interval: float,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.session = session
        self.timeout = timeout
        self.interval = interval
        self._sleep = sleep

    async def outcome(self, task_id: str, what: str, resource: str) -> tuple[str, dict[str, Any]]:
        """The task's final status word and decoded result (``{}`` when it has none).

        Raises :class:`WaitTimeout` when the task has not ended within ``timeout`` seconds, and
        the session's errors when the task cannot be read.

        :calls: GET /tasks/{id}, every ``interval`` seconds until the task ends
        """
        deadline = time.monotonic() + self.timeout
        while True:
            status, result = parse_task(await self.session.call(build_task(task_id), resource=resource))
            if status in TASK_DONE:
                return status, result or {}
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"{what}: task {task_id} did not finish within {self.timeout:.0f} s",
                    facility=FACILITY,
                    resource=resource,
                )
            await self._sleep(self.interval)

    async def result(self, task_id: str, what: str, resource: str) -> dict[str, Any]:
        """The decoded result of a task that completed well; the task's own error otherwise.

        :calls: GET /tasks/{id} (see :meth:`outcome`)
        """
        status, result = await self.outcome(task_id, what, resource)
        error = task_error(task_id, status, result, what, resource)
        if error is not None:
            raise error
        return result

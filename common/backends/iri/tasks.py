"""The IRI backend's server-side tasks: awaiting one, and the IRI-only task calls.

**Filesystem tasks.** Every filesystem call returns a task; the calling method polls
``GET /task/{id}`` every ``task_poll_interval`` seconds for at most ``task_timeout`` seconds.
The task calls (``tasks``, ``get_task``, ``delete_task``) are outside the generic contract; a
Task has no shared model and is returned as a plain dict whose ``status`` is one of the spec's.
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from ...errors import WaitTimeout
from .core import IRIBase
from .file_parsers import _task_failure
from .parsers import _parse_objects, _parse_task
from .requests import FACILITY, _build_delete_task, _build_task, _build_tasks


class TasksMixin(IRIBase):
    """Server-side tasks: the wait for one, and the caller's list of them."""

    async def _await_task(self, task_id: str, *, op: str, path: str, resource: str) -> Any:
        """Poll ``GET /task/{task_id}`` until it ends, for at most ``task_timeout`` seconds;
        returns the task's ``result``."""
        deadline = time.monotonic() + self.task_timeout
        while True:
            task = await self._session.call(_build_task(task_id), resource=resource)
            if not isinstance(task, dict):
                raise self._bad_answer(f"GET /task/{task_id}", ValueError("not an object"), resource)
            status = task.get("status")
            if status == "completed":
                return task.get("result")
            if status in ("failed", "canceled"):
                raise _task_failure(task, op=op, path=path, resource=resource)
            if time.monotonic() + self.task_poll_interval > deadline:
                raise WaitTimeout(
                    f"{op} {path} on {resource}: task {task_id} still {status} after {self.task_timeout:g}s",
                    facility=FACILITY,
                    resource=resource,
                )
            await anyio.sleep(self.task_poll_interval)

    async def tasks(self) -> list[dict[str, Any]]:
        """The caller's tasks (``id``, ``status``, ``result``, ``command``), as plain dicts.

        :calls: GET /task
        """
        data = await self._session.call(_build_tasks())
        try:
            return [_parse_task(item) for item in _parse_objects(data, "task")]
        except ValueError as exc:
            raise self._bad_answer("GET /task", exc, None) from None

    async def get_task(self, task_id: str) -> dict[str, Any]:
        """One task (``id``, ``status``, ``result``, ``command``), a plain dict.

        :calls: GET /task/{task_id}
        """
        data = await self._session.call(_build_task(task_id))
        try:
            return _parse_task(data)
        except ValueError as exc:
            raise self._bad_answer(f"GET /task/{task_id}", exc, None) from None

    async def delete_task(self, task_id: str) -> None:
        """Forget a task (a pending one is cancelled first, where the facility does so).

        :calls: DELETE /task/{task_id}
        """
        await self._session.send(_build_delete_task(task_id))

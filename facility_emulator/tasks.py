"""Asynchronous task queue for filesystem operations.

A task moves pending -> active -> completed | failed. The work is a plain callable run in a
worker thread after a small delay; its return value becomes ``result = {"output": value}``, an
exception becomes state ``failed`` with ``result = {"error": message}``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


class TaskFailure(Exception):
    """An operation failed in a way the client should see as a failed task."""


@dataclass
class TaskRecord:
    """One task."""

    id: str
    router: str
    command: str
    args: dict[str, Any]
    status: str = "pending"
    result: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)


class TaskQueue:
    """Runs tasks in a small thread pool; thread safe."""

    def __init__(self, delay: float, workers: int = 8) -> None:
        self.delay = delay
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskRecord] = {}
        self._ids = itertools.count(1)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="task")

    def submit(self, router: str, command: str, args: dict[str, Any], work: Callable[[], Any]) -> TaskRecord:
        """Create a task that will run ``work``."""
        task = TaskRecord(id=f"task-{next(self._ids)}", router=router, command=command, args=args)
        with self._lock:
            self._tasks[task.id] = task
        self._pool.submit(self._run, task, work)
        return task

    def get(self, task_id: str) -> TaskRecord | None:
        """A task by id."""
        with self._lock:
            return self._tasks.get(task_id)

    def list(self) -> list[TaskRecord]:
        """All tasks in creation order."""
        with self._lock:
            return list(self._tasks.values())

    def delete(self, task_id: str) -> bool:
        """Forget a task (a pending one is canceled first); False when unknown."""
        with self._lock:
            task = self._tasks.pop(task_id, None)
            if task is not None and task.status == "pending":
                task.status = "canceled"
        return task is not None

    def view(self, task: TaskRecord) -> dict[str, Any]:
        """The IRI ``Task`` document."""
        with self._lock:
            return {
                "id": task.id,
                "status": task.status,
                "result": task.result,
                "command": {"router": task.router, "command": task.command, "args": dict(task.args)},
            }

    def shutdown(self) -> None:
        """Stop accepting work."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _set(self, task: TaskRecord, status: str, result: dict[str, Any] | None = None) -> bool:
        with self._lock:
            if task.status == "canceled":
                return False
            task.status = status
            task.result = result
            task.updated = time.time()
            return True

    def _run(self, task: TaskRecord, work: Callable[[], Any]) -> None:
        time.sleep(self.delay / 2)
        if not self._set(task, "active"):
            return
        time.sleep(self.delay / 2)
        try:
            output = work()
        except (TaskFailure, OSError, ValueError) as exc:
            self._set(task, "failed", {"error": _message(exc)})
        except Exception as exc:  # a bug in an operation must still end the task
            self._set(task, "failed", {"error": f"internal error: {exc!r}"})
        else:
            self._set(task, "completed", {"output": output})


def _message(exc: BaseException) -> str:
    """A readable message for an operation error."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc)

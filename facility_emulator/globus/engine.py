"""The transfer engine: the task registry and a background copy per task.

Each task runs as an asyncio task on the serving event loop; at most :data:`MAX_RUNNING` copy at
once (Globus works on 3 transfer tasks per user at a time and queues the rest, ``nice_status``
``Queued``). The copy itself runs in a daemon thread (:mod:`facility_emulator.globus.copier`),
so the event loop only waits.

``submission_id`` makes submits idempotent per owner: a second submit with a used id returns the
first task and starts nothing.

A cancel raises the task's stop flag and cancels its asyncio task; the copy thread stops after
its current chunk and the task ends ``FAILED`` with ``fatal_error`` ``CANCELED``.

Restarts (:meth:`EmulatorServer.restart`) end the serving loop, which cancels running copies. A
task cut that way stays ``ACTIVE``, records a ``CONNECTION_RESET`` error event and resumes on the
first Transfer (or SF API Globus) request served after the restart: files already copied are
not copied again, the file in flight starts over. Finished tasks are kept as they were.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from facility_emulator.globus.collections import Collection, catalog_of
from facility_emulator.globus.copier import Stopped, run_task
from facility_emulator.globus.tasks import TaskFault, TransferItem, TransferOptions, TransferTask
from facility_emulator.sandbox import Sandbox
from facility_emulator.state import EmulatorState

MAX_RUNNING = 3
#: Seconds a cancel waits for the copy to stop before answering ``CancelAccepted``.
CANCEL_WAIT = 5.0
#: Seconds a stopping copy thread gets to finish its chunk.
THREAD_JOIN = 10.0


async def _in_thread(work: Callable[[], None]) -> threading.Thread:
    """Run ``work`` in a daemon thread and wait for it; returns the thread (to join on cancel).

    Daemon threads, not an executor: a process that exits with a copy still running must not
    wait for it.
    """
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()

    def report(error: BaseException | None) -> None:
        if finished.done():
            return
        if error is None:
            finished.set_result(None)
        else:
            finished.set_exception(error)

    def target() -> None:
        error: BaseException | None = None
        try:
            work()
        except BaseException as exc:  # handed to the waiting coroutine
            error = exc
        with suppress(RuntimeError):  # the loop closed meanwhile (the service stopped)
            loop.call_soon_threadsafe(report, error)

    thread = threading.Thread(target=target, name="globus-copy", daemon=True)
    thread.start()
    try:
        await finished
    except asyncio.CancelledError:
        raise _Cut(thread) from None
    return thread


class _Cut(Exception):
    """The waiting coroutine was cancelled while ``thread`` still copies."""

    def __init__(self, thread: threading.Thread) -> None:
        super().__init__("copy cut")
        self.thread = thread


class TransferEngine:
    """All transfer tasks of one emulator and their copies."""

    def __init__(self, sandbox: Sandbox, username: str) -> None:
        self.sandbox = sandbox
        self.username = username
        #: Copy rate limit in bytes per second for every task (0: as fast as the disks go).
        self.bytes_per_second = 0.0
        self._lock = threading.Lock()
        self._tasks: dict[str, TransferTask] = {}
        self._submissions: dict[tuple[str, str], str] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None

    # -- registry ------------------------------------------------------------------------

    def submit(
        self,
        *,
        owner: str,
        origin: str,
        submission_id: str,
        label: str | None,
        source: Collection,
        destination: Collection,
        items: list[TransferItem],
        options: TransferOptions,
    ) -> tuple[TransferTask, bool]:
        """Create and start a task; returns (task, created). A used submission id of the same
        owner returns its task with ``created`` False."""
        self.wake()
        with self._lock:
            known = self._submissions.get((owner, submission_id))
            if known is not None:
                return self._tasks[known], False
            task = TransferTask(
                task_id=str(uuid.uuid4()),
                submission_id=submission_id,
                owner=owner,
                origin=origin,
                label=label,
                source=source,
                destination=destination,
                items=items,
                options=options,
            )
            self._tasks[task.task_id] = task
            self._submissions[(owner, submission_id)] = task.task_id
        self._launch(task)
        return task, True

    def get(self, task_id: str) -> TransferTask | None:
        """A task by id (any case), whoever owns it."""
        with self._lock:
            return self._tasks.get(task_id.strip().lower())

    def tasks(self) -> list[TransferTask]:
        """Every task, oldest first."""
        with self._lock:
            return list(self._tasks.values())

    def document(self, task: TransferTask) -> dict[str, Any]:
        """The task document."""
        return task.document(self.username)

    # -- running -------------------------------------------------------------------------

    def wake(self) -> None:
        """Bind to the serving loop; after a restart, resume the tasks it cut."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        self._loop = loop
        self._slots = asyncio.Semaphore(MAX_RUNNING)
        self._runners.clear()
        for task in self.tasks():
            if not task.done:
                task.stop = threading.Event()
                self._launch(task)

    def _launch(self, task: TransferTask) -> None:
        runner = asyncio.get_running_loop().create_task(self._run(task), name=f"globus-task-{task.task_id}")
        self._runners[task.task_id] = runner

    async def _run(self, task: TransferTask) -> None:
        assert self._slots is not None
        slots = self._slots
        try:
            async with slots:
                task.start()
                await _in_thread(lambda: run_task(task, self.sandbox, lambda: self.bytes_per_second))
            task.succeed()
        except _Cut as cut:
            task.stop.set()
            cut.thread.join(THREAD_JOIN)
            self._cut(task)
            raise asyncio.CancelledError from None
        except asyncio.CancelledError:
            self._cut(task)
            raise
        except TaskFault as fault:
            task.fail(fault)
        except Stopped:
            self._cut(task)
        except Exception as exc:  # a bug must still end the task, with a reason
            task.fail(TaskFault("UNKNOWN", "internal error", repr(exc)))

    def _cut(self, task: TransferTask) -> None:
        """The copy stopped early: a cancel ends the task, anything else leaves it to resume."""
        task.stop.set()
        if task.cancel_requested:
            task.fail(TaskFault("CANCELED", "canceled", "The task was canceled by its owner"))
            return
        with task.lock:
            task.running = False
        if not task.done:
            task.event(
                "CONNECTION_RESET",
                "connection reset",
                "The transfer service restarted; the task continues when it serves again",
                error=True,
            )

    async def cancel(self, task: TransferTask) -> str:
        """Cancel a task; returns Globus's result code: ``Canceled``, ``TaskComplete`` (it had
        already ended) or ``CancelAccepted`` (still stopping)."""
        self.wake()
        if task.done:
            return "TaskComplete"
        task.cancel_requested = True
        task.stop.set()
        runner = self._runners.get(task.task_id)
        if runner is None or runner.done():
            task.fail(TaskFault("CANCELED", "canceled", "The task was canceled by its owner"))
            return "Canceled"
        runner.cancel()
        await asyncio.wait({runner}, timeout=CANCEL_WAIT)
        return "Canceled" if task.done else "CancelAccepted"


_ENGINES: weakref.WeakKeyDictionary[EmulatorState, TransferEngine] = weakref.WeakKeyDictionary()


def engine_of(state: EmulatorState) -> TransferEngine:
    """The transfer engine of an emulator (created on first use, with its collection catalog)."""
    engine = _ENGINES.get(state)
    if engine is None:
        catalog_of(state)
        engine = _ENGINES[state] = TransferEngine(state.sandbox, state.config.user)
    return engine

"""Batched waiting on many transfers: :class:`TransferPoller`, the transfer twin of
:class:`~facility_common.StatusPoller`.

One poller serves every waiter of one route. A round asks the route about every watched
transfer that has not ended, in the route's cheapest way: the Globus route with one
``GET /task_list?filter=task_id:...`` per 1000 ids, so two hundred (or a thousand) waits cost one
request per interval; a route without a listing (a facility's own Globus routes) asks transfer
by transfer. Waiters arriving while a round is in flight, or within ``max_age`` of the last one,
share its answer; ended transfers are not asked about again.

It absorbs what a caller should not see:

* a transfer the listing does not show yet (just submitted) is ACTIVE, "not yet reported", for
  ``grace`` seconds; after that it is asked about on its own, and one the route does not know
  ends the wait with :class:`~facility_common.NotFoundError`;
* a failed round keeps each transfer's last known state with the error noted in its reason, so
  no waiter fails on a blip; a wait that times out says what the route last answered.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import anyio

from ..errors import FacilityError, NotFoundError, WaitTimeout
from .models import TransferState, TransferTask

__all__ = ["TransferLister", "TransferPoller"]

logger = logging.getLogger("facility_common.transfers")

SINGLE_LOOKUPS = 8


class TransferLister(Protocol):
    """What the poller needs of a route: its name, the batched listing and the single look-up."""

    name: str

    async def list_tasks(self, task_ids: Sequence[str] | None = None) -> list[TransferTask]: ...

    async def get_task(self, task_id: str) -> TransferTask: ...


@dataclasses.dataclass
class _Watched:
    task_id: str
    since: float
    task: TransferTask | None = None
    error: str | None = None
    unknown_since: float | None = None


class TransferPoller:
    """Batched status of the transfers of one route, shared by all its waiters."""

    def __init__(self, route: TransferLister, *, interval: float = 10.0, grace: float = 60.0) -> None:
        self.route = route
        self.interval = interval
        self.grace = grace
        self._watched: dict[str, _Watched] = {}
        self._lock = anyio.Lock()
        self._last_round = float("-inf")
        self.rounds = 0
        """Rounds that reached the route (for tests and benchmarks)."""

    def watch(self, task_ids: Sequence[str], tasks: Sequence[TransferTask] = ()) -> None:
        """Track ``task_ids`` (known ``tasks`` seed their first view)."""
        now = time.monotonic()
        for task_id in task_ids:
            self._watched.setdefault(task_id, _Watched(task_id, now))
        for task in tasks:
            watched = self._watched.setdefault(task.id, _Watched(task.id, now))
            watched.task = watched.task or task

    def forget(self, task_ids: Sequence[str]) -> None:
        for task_id in task_ids:
            self._watched.pop(task_id, None)

    def _view(self, watched: _Watched, now: float) -> TransferTask:
        task = watched.task
        if task is not None:
            if watched.error and not task.is_terminal:
                return dataclasses.replace(
                    task, reason=f"{task.reason or task.state.value}; last look failed: {watched.error}"
                )
            return task
        reason = watched.error or (
            "not yet reported" if now - watched.since <= self.grace else "not reported"
        )
        return TransferTask(
            id=watched.task_id, state=TransferState.ACTIVE, route=self.route.name, reason=reason
        )

    def _gone(self, watched: _Watched, now: float) -> bool:
        return watched.unknown_since is not None and now - watched.since > self.grace

    async def refresh(self, task_ids: Sequence[str], *, max_age: float = 0.0) -> dict[str, TransferTask]:
        """The current view of ``task_ids``; a round is made only if the last one ended
        ``max_age`` seconds ago or more and a watched transfer is still active."""
        self.watch(task_ids)
        asked_at = time.monotonic()
        async with self._lock:
            if self._last_round <= asked_at - max_age:
                try:
                    await self._round()
                finally:
                    self._last_round = time.monotonic()
        now = time.monotonic()
        return {task_id: self._view(self._watched[task_id], now) for task_id in task_ids}

    async def _round(self) -> None:
        now = time.monotonic()
        live = [
            w.task_id
            for w in self._watched.values()
            if (w.task is None or not w.task.is_terminal) and not self._gone(w, now)
        ]
        if not live:
            return
        self.rounds += 1
        try:
            reported = await self.route.list_tasks(live)
        except FacilityError as exc:
            logger.warning("transfer status round on %s failed: %s", self.route.name, exc)
            for task_id in live:
                self._watched[task_id].error = exc.message
            return
        by_id = {task.id: task for task in reported}
        missing: list[str] = []
        for task_id in live:
            watched = self._watched[task_id]
            task = by_id.get(task_id)
            if task is not None:
                if watched.task is not None and watched.task.submission_id and not task.submission_id:
                    task = dataclasses.replace(task, submission_id=watched.task.submission_id)
                watched.task, watched.error, watched.unknown_since = task, None, None
            elif now - watched.since > self.grace:
                missing.append(task_id)
        if missing:
            await self._one_by_one(missing)

    async def _one_by_one(self, task_ids: list[str]) -> None:
        limiter = anyio.CapacityLimiter(SINGLE_LOOKUPS)

        async def look(task_id: str) -> None:
            watched = self._watched[task_id]
            async with limiter:
                try:
                    watched.task = await self.route.get_task(task_id)
                    watched.error = watched.unknown_since = None
                except NotFoundError as exc:
                    watched.error = f"not found: {exc.message}"
                    watched.unknown_since = watched.unknown_since or time.monotonic()
                except FacilityError as exc:
                    watched.error = exc.message

        async with anyio.create_task_group() as group:
            for task_id in task_ids:
                group.start_soon(look, task_id)

    async def wait(
        self,
        task_id: str,
        *,
        timeout: float | None = None,
        interval: float | None = None,
        on_update: Callable[[TransferTask], None] | None = None,
    ) -> TransferTask:
        """Wait until ``task_id`` ends and return it.

        ``on_update`` is called whenever its state or progress changes. Raises
        :class:`WaitTimeout` after ``timeout`` seconds and :class:`NotFoundError` once the route
        has shown, past the grace period, that it does not know the transfer.
        """
        interval = self.interval if interval is None else interval
        deadline = None if timeout is None else time.monotonic() + timeout
        last: tuple[object, ...] | None = None
        while True:
            task = (await self.refresh([task_id], max_age=interval))[task_id]
            seen = (task.state, task.bytes_transferred, task.files_transferred, task.reason)
            if on_update is not None and seen != last:
                on_update(task)
            last = seen
            if task.is_terminal:
                return task
            watched = self._watched.get(task_id)
            if watched is not None and self._gone(watched, time.monotonic()):
                raise NotFoundError(
                    f"transfer {task_id} is not known to the {self.route.name} route ({watched.error})",
                    facility=self.route.name,
                )
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"transfer {task_id} still {task.state.value} after {timeout} s"
                    + (f" ({task.reason})" if task.reason else ""),
                    facility=self.route.name,
                )
            pause = interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic()))
            await anyio.sleep(pause)

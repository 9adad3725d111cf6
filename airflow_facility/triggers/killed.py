"""What a trigger's ``on_kill`` asks before cancelling remote work: how the user left the task.

Airflow 3.3 calls a trigger's ``on_kill`` when a user marks the deferred task failed or success,
or clears it. A task marked **success** means "treat it as done", so its remote work (a job, a
transfer) is left running; marked failed or cleared, the work is cancelled. When the task's state
cannot be read, the work is cancelled. The job and transfer triggers both ask here.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["deferred_task_state", "keep_on_kill_work"]

#: Cancellations started by ``on_kill``, kept referenced until they are done.
_KILL_WORK: set[asyncio.Future[None]] = set()


async def keep_on_kill_work(work: asyncio.Future[None]) -> None:
    """Run ``work`` to its end even if the triggerer cancels the trigger again meanwhile (it
    repeats the request until the trigger is gone)."""
    _KILL_WORK.add(work)
    work.add_done_callback(_KILL_WORK.discard)
    await asyncio.shield(work)


async def deferred_task_state(trigger: Any) -> str | None:
    """The deferred task instance's state as Airflow has it now, or None if unknown."""
    ti = getattr(trigger, "task_instance", None)
    if ti is None:
        return None
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        map_index = getattr(ti, "map_index", -1)
        states = await asyncio.to_thread(
            RuntimeTaskInstance.get_task_states,
            dag_id=ti.dag_id,
            task_ids=[ti.task_id],
            run_ids=[ti.run_id],
            map_index=map_index,
        )
    except Exception as exc:  # the state is advice: any failure means "cancel"
        trigger.log.warning("the state of the task could not be read (%s): cancelling", exc)
        return None
    key = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}_{map_index}"
    state = states.get(ti.run_id, {}).get(key)
    return str(state) if state is not None else None

"""Translate the client layer's :class:`~facility_common.JobState` into Parsl's job states.

Parsl reads a block's state to decide what to do next: a ``FAILED`` block counts towards
shutting the executor down (``simple_error_handler``), while ``TIMEOUT`` only means "start
another block". A pilot killed at its walltime or preempted by the scheduler has done nothing
wrong, so both map to ``TIMEOUT``, never ``FAILED`` (Parsl issue #2207).
"""

from __future__ import annotations

import logging

from parsl.jobs.states import JobState as ParslState

from facility_common import JobState

__all__ = ["PARSL_STATES", "to_parsl_state"]

logger = logging.getLogger(__name__)

PARSL_STATES: dict[JobState, ParslState] = {
    JobState.PENDING: ParslState.PENDING,
    JobState.HELD: ParslState.HELD,
    JobState.RUNNING: ParslState.RUNNING,
    JobState.COMPLETED: ParslState.COMPLETED,
    JobState.FAILED: ParslState.FAILED,
    JobState.CANCELLED: ParslState.CANCELLED,
    # Walltime expiry is the normal end of a pilot: Parsl replaces the block.
    JobState.TIMEOUT: ParslState.TIMEOUT,
    # Preemption is not the pilot's fault either; reporting it FAILED could stop the executor.
    JobState.PREEMPTED: ParslState.TIMEOUT,
    JobState.UNKNOWN: ParslState.UNKNOWN,
}
"""Facility job state -> Parsl job state, one entry per member."""

_warned: set[object] = set()


def to_parsl_state(state: JobState) -> ParslState:
    """The Parsl state for ``state``; anything unexpected is UNKNOWN, warned about once."""
    try:
        return PARSL_STATES[state]
    except KeyError:
        if state not in _warned:
            _warned.add(state)
            logger.warning("no Parsl state for facility state %r; reporting UNKNOWN", state)
        return ParslState.UNKNOWN

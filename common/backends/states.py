"""Native job-state words of every API, mapped to :class:`~facility_common.models.JobState`.

One module-level table per vocabulary (see ``specs/FINDINGS.md`` §6). Backends translate through
:func:`translate_state`, which never raises: a word missing from the table maps to
``JobState.UNKNOWN`` and is logged once per (facility, word), so a facility that introduces a new
state does not flood the logs of a long-running poller.

Two rules no table can express are left to the backends, with helpers here:

* walltime expiry is ``TIMEOUT``, never ``FAILED``; IRI and PBS have no such word, so their
  backends look at exit codes, messages or metadata (:func:`settle_exit_code` handles the exit code
  half);
* PBS ``F``/``X`` and Flux ``INACTIVE`` are "finished" without saying how; the exit code (PBS) or the
  job's ``result`` (Flux, :func:`translate_flux_state`) decides.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from ..models import JobState

__all__ = [
    "FLUX_RESULTS",
    "FLUX_STATES",
    "IRI_STATES",
    "PBS_STATES",
    "SLURM_STATES",
    "StateTable",
    "settle_exit_code",
    "translate_flux_state",
    "translate_state",
]

logger = logging.getLogger("facility_common.backends.states")

StateTable = Mapping[str, JobState]
"""Native word -> normalised state."""

IRI_STATES: StateTable = {
    # IRI JobState enum (PSI/J vocabulary) in iri-openapi-v1.yaml / v2.yaml.
    "new": JobState.PENDING,
    "queued": JobState.PENDING,
    "held": JobState.HELD,  # added for PBS holds (doe-iri/iri-facility-api-python#62)
    "active": JobState.RUNNING,
    "completed": JobState.COMPLETED,  # a non-zero exit code makes it FAILED (settle_exit_code)
    "failed": JobState.FAILED,
    "canceled": JobState.CANCELLED,
}

SLURM_STATES: StateTable = {
    # Slurm job_state names (squeue/sacct strings; slurmrestd v0.0.43 enum).
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "RESIZING": JobState.PENDING,
    "POWER_UP_NODE": JobState.PENDING,
    "SUSPENDED": JobState.HELD,
    "STOPPED": JobState.HELD,
    "REQUEUE_HOLD": JobState.HELD,
    "RESV_DEL_HOLD": JobState.HELD,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "NODE_FAIL": JobState.FAILED,
    "BOOT_FAIL": JobState.FAILED,
    "OUT_OF_MEMORY": JobState.FAILED,
    "LAUNCH_FAILED": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "RECONFIG_FAIL": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,  # sacct says "CANCELLED by <uid>": the first word decides
    "REVOKED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT,
    "DEADLINE": JobState.TIMEOUT,
    "PREEMPTED": JobState.PREEMPTED,
}

PBS_STATES: StateTable = {
    # PBS Pro job_state letters (qstat -f). F and X mean "finished": settle with the exit code.
    "Q": JobState.PENDING,
    "W": JobState.PENDING,
    "T": JobState.PENDING,
    "H": JobState.HELD,
    "S": JobState.HELD,
    "U": JobState.HELD,
    "R": JobState.RUNNING,
    "B": JobState.RUNNING,
    "E": JobState.RUNNING,
    "F": JobState.COMPLETED,
    "X": JobState.COMPLETED,
}

FLUX_STATES: StateTable = {
    # Flux job states; INACTIVE is finished and the job's ``result`` decides (FLUX_RESULTS).
    "NEW": JobState.PENDING,
    "DEPEND": JobState.PENDING,
    "PRIORITY": JobState.PENDING,
    "SCHED": JobState.PENDING,
    "RUN": JobState.RUNNING,
    "CLEANUP": JobState.RUNNING,
}

FLUX_RESULTS: StateTable = {
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "CANCELED": JobState.CANCELLED,
    "CANCELLED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT,
}

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _lookup(table: StateTable, word: str) -> JobState | None:
    for candidate in (word, word.upper(), word.lower()):
        if candidate in table:
            return table[candidate]
    return None


def translate_state(table: StateTable, native: str | None, *, facility: str) -> JobState:
    """Map the native ``native`` word through ``table``; never raises.

    The lookup tries the word as given, then upper- and lower-cased, then its first word (so
    Slurm's ``"CANCELLED by 1234"`` and a comma-joined ``"FAILED,REQUEUED"`` resolve by their base
    state). Anything else is ``UNKNOWN``, logged as a warning once per (facility, word).
    """
    if native is None:
        return JobState.UNKNOWN
    word = str(native).strip()
    state = _lookup(table, word) if word else None
    if state is None and word:
        first = word.replace(",", " ").split()[0]
        state = _lookup(table, first)
    if state is not None:
        return state
    with _warned_lock:
        first_time = (facility, word) not in _warned
        _warned.add((facility, word))
    if first_time:
        logger.warning("%s reported an unknown job state %r; treating it as UNKNOWN", facility, word)
    return JobState.UNKNOWN


def settle_exit_code(state: JobState, exit_code: int | None) -> JobState:
    """A job the scheduler calls finished successfully but whose exit code is non-zero FAILED."""
    if state is JobState.COMPLETED and exit_code not in (None, 0):
        return JobState.FAILED
    return state


def translate_flux_state(state: str | None, result: str | None, *, facility: str) -> JobState:
    """Flux: ``INACTIVE`` jobs are judged by their ``result``; other states by :data:`FLUX_STATES`."""
    if state is not None and str(state).strip().upper() == "INACTIVE":
        if not result:
            return JobState.UNKNOWN
        return translate_state(FLUX_RESULTS, result, facility=facility)
    return translate_state(FLUX_STATES, state, facility=facility)

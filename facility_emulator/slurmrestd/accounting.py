"""The emulated slurmdbd behind slurmrestd's accounting routes (``/slurmdb/v0.0.43/job/{id}``).

Accounting keeps every job of the cluster, also those slurmctld has purged after ``MinJobAge``:
that is where a client asks about a job the ``slurm`` routes no longer show. A record is the
v0.0.43 ``job`` shape (``state.current[]``, ``exit_code``, ``time.submission``/``start``/``end``,
``comment.job``, ``stdout_expanded``), made from the job's slurmctld view. An id accounting has
no record of answers 200 with no jobs and error 9003 ("Nothing found"), as Debian's slurmrestd
does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facility_emulator.slurmrestd.common import no_val, struct_number

__all__ = ["ESLURM_REST_EMPTY_RESULT", "accounting_record"]

ESLURM_REST_EMPTY_RESULT = 9003


def _number(value: Any) -> int:
    number = struct_number(value)
    return 0 if number is None else number


def accounting_record(info: Mapping[str, Any]) -> dict[str, Any]:
    """The accounting (slurmdb) record of a job, from its slurmctld ``job_info``."""
    start = _number(info.get("start_time"))
    end = _number(info.get("end_time"))
    elapsed = max(0, end - start) if start and end else 0
    limit = struct_number(info.get("time_limit"))
    return {
        "account": info.get("account", ""),
        "comment": {"administrator": "", "job": info.get("comment", ""), "system": ""},
        "cluster": info.get("cluster", ""),
        "job_id": info.get("job_id", 0),
        "name": info.get("name", ""),
        "partition": info.get("partition", ""),
        "user": info.get("user_name", ""),
        "working_directory": info.get("current_working_directory", ""),
        "state": {"current": list(info.get("job_state") or []), "reason": info.get("state_reason", "")},
        "exit_code": info.get("exit_code", {}),
        "derived_exit_code": info.get("exit_code", {}),
        "time": {
            "elapsed": elapsed,
            "eligible": _number(info.get("submit_time")),
            "submission": _number(info.get("submit_time")),
            "start": start,
            "end": end,
            "limit": no_val(limit),
        },
        "stdout": info.get("standard_output", ""),
        "stderr": info.get("standard_error", ""),
        "stdout_expanded": info.get("stdout_expanded", ""),
        "stderr_expanded": info.get("stderr_expanded", ""),
        "steps": [],
    }

"""Plain-JSON views of jobs for XCom and trigger events.

A job's ``raw`` answer is left out: it can be large and echoes the whole submitted spec. What stays
is what a downstream task or a failure message needs.
"""

from __future__ import annotations

from typing import Any

from airflow.triggers.base import TriggerEvent

from facility_common import Job

__all__ = ["event", "job_from_payload", "job_payload"]


def event(payload: dict[str, Any]) -> TriggerEvent:
    """A trigger event carrying ``payload`` (plain JSON)."""
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


def job_payload(job: Job) -> dict[str, Any]:
    """``job`` as plain JSON without its raw API answer."""
    data = job.to_dict()
    data.pop("raw", None)
    return data


def job_from_payload(data: Any) -> Job:
    """Rebuild a job from :func:`job_payload`'s output; raises ValueError if it is not one."""
    if not isinstance(data, dict) or not {"id", "resource", "state"} <= data.keys():
        raise ValueError(f"not a job payload: {data!r}")
    try:
        return Job.from_dict(data)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"not a job payload: {exc}") from exc

"""slurmrestd's job answers as the shared models: pure functions, tested on recorded payloads.

They read every data-parser version's shapes (v0.0.38 to v0.0.44) and slurmdb's accounting shape
(behind S3M), so an answer never depends on guessing the version right: a number may be plain or
a ``{"set", "infinite", "number"}`` struct, a state a word or a list of words, an exit code a wait
status or a ``{return_code, signal}`` struct. Errors come in the body as ``errors[]``, whatever
the HTTP status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...errors import body_excerpt
from ...models import Job, JobState
from ..states import SLURM_STATES, settle_exit_code, translate_state
from .jobs import FACILITY

__all__ = [
    "GONE_ERRORS",
    "Refused",
    "error_numbers",
    "error_text",
    "errors_of",
    "exit_code",
    "job_id_of",
    "parse_job",
    "parse_jobs",
    "parse_submit",
    "refusal_text",
    "refused_by_slurmctld",
    "state_words",
    "time_of",
    "whole_number",
]

GONE_ERRORS = frozenset({2017})
"""ESLURM_INVALID_JOB_ID: slurmctld does not know the job (any more)."""

# slurm_errno.h: the ESLURM_* codes (2000-2999) are slurmctld's verdicts on a request it read;
# the 1000s (communication) and 5000s (socket timeouts) mean the request's fate is not known.
_SLURMCTLD_VERDICTS = range(2000, 3000)


def whole_number(value: Any) -> int | None:
    """A plain number or a ``{"set", "infinite", "number"}`` struct; ``None`` when unset."""
    if isinstance(value, Mapping):
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    return None


def time_of(value: Any) -> datetime | None:
    """An epoch-seconds field (plain or struct) as a UTC datetime; None when unset or zero."""
    number = whole_number(value)
    if not number:
        return None
    return datetime.fromtimestamp(number, tz=UTC)


def errors_of(data: Any) -> list[Mapping[str, Any]]:
    """The ``errors[]`` objects of an answer."""
    if isinstance(data, Mapping):
        errors = data.get("errors") or []
        return [e for e in errors if isinstance(e, Mapping)]
    return []


def error_numbers(data: Any) -> list[int | None]:
    """The Slurm error number of each error (``error_number``; v0.0.38 says ``error_code``)."""
    return [whole_number(e.get("error_number", e.get("error_code"))) for e in errors_of(data)]


_EMPTY_VERDICTS = frozenset({"Unspecified error"})
"""``error`` words that add nothing to a ``description`` (slurm_strerror of -1)."""


def error_text(data: Any) -> str:
    """The errors of an answer as one line: ``description: error (error N); ...``.

    slurmrestd writes what it was doing in ``description`` ("Batch job submission failed") and
    slurmctld's verdict in ``error`` ("Invalid partition name specified"); v0.0.38 often gives
    only ``error`` and ``error_code``. Both are kept when they differ, neither when empty.
    """
    parts = []
    for error in errors_of(data):
        words: list[str] = []
        for key in ("description", "error"):
            text = error.get(key)
            if isinstance(text, str) and text.strip() and text.strip() not in words:
                words.append(text.strip())
        if len(words) > 1 and words[1] in _EMPTY_VERDICTS:
            del words[1]
        number = whole_number(error.get("error_number", error.get("error_code")))
        text = ": ".join(words)
        if number is not None and number > 0:
            text = f"{text} (error {number})" if text else f"error {number}"
        parts.append(text)
    return "; ".join(p for p in parts if p)


def refusal_text(data: Any, body: str | None) -> str:
    """Why a request was refused, in words: slurmrestd's ``errors[]`` (:func:`error_text`), else
    a gateway's own message (S3M's ``public_message``/``message``), else the body's start."""
    text = error_text(data)
    if text:
        return text
    if isinstance(data, Mapping):
        for key in ("public_message", "message", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return body_excerpt(body) or "no reason given"


def refused_by_slurmctld(data: Any) -> bool:
    """Whether an error answer is slurmctld's refusal of the request: it has no job id and every
    error carries an ESLURM number. slurmrestd sends a refused submit (an unknown partition, a
    bad account) as HTTP 500 with such errors; a 500 without them may hide a job that exists."""
    if not isinstance(data, Mapping) or data.get("job_id") is not None:
        return False
    numbers = error_numbers(data)
    return bool(numbers) and all(n is not None and n in _SLURMCTLD_VERDICTS for n in numbers)


def state_words(job: Mapping[str, Any]) -> list[str]:
    """A job's state words: v0.0.38's string, v0.0.40+'s list, or slurmdb's ``state.current``."""
    state = job.get("job_state")
    if state is None and isinstance(job.get("state"), Mapping):
        state = job["state"].get("current")
    if isinstance(state, str):
        return [word for word in state.replace(",", " ").split() if word]
    if isinstance(state, list):
        return [str(word) for word in state]
    return []


def exit_code(job: Mapping[str, Any]) -> int | None:
    """The return code: v0.0.38 gives the wait status (code << 8), later versions a struct."""
    value = job.get("exit_code")
    if isinstance(value, Mapping):
        signal = value.get("signal")
        if isinstance(signal, Mapping):
            signal_id = whole_number(signal.get("id"))
            if signal_id:
                return 128 + signal_id
        return whole_number(value.get("return_code"))
    number = whole_number(value)
    if number is None:
        return None
    if number & 0x7F:
        return 128 + (number & 0x7F)
    return (number >> 8) & 0xFF


def _expand(path: str | None, job: Mapping[str, Any]) -> str | None:
    """Expand Slurm's filename patterns that matter here (``%j``, ``%x``, ``%u``, ``%%``)."""
    if not path:
        return None
    replacements = {
        "j": str(job.get("job_id", "")),
        "A": str(job.get("array_job_id", job.get("job_id", ""))),
        "x": str(job.get("name", "")),
        "u": str(job.get("user_name", "")),
    }
    return re.sub(r"%(%|[jAxu])", lambda m: "%" if m.group(1) == "%" else replacements[m.group(1)], path)


def job_id_of(value: Any) -> str | None:
    """A job id of an answer: a non-empty string or an integer, else None (never ``str()`` of a
    list or an object)."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def parse_job(data: Mapping[str, Any], resource: str, *, facility: str = FACILITY) -> Job:
    """One job object of ``GET jobs`` or ``GET job/{id}`` as a :class:`Job`."""
    job_id = job_id_of(data.get("job_id"))
    if job_id is None:
        raise ValueError("a job without a job_id string or integer")
    words = state_words(data)
    native = words[0] if words else None
    state = translate_state(SLURM_STATES, native, facility=facility)
    code = exit_code(data) if state.is_terminal else None
    state = settle_exit_code(state, code)
    if state is JobState.FAILED and code == 0:
        code = None
    times = data.get("time") if isinstance(data.get("time"), Mapping) else data
    assert isinstance(times, Mapping)
    reason = data.get("state_reason")
    if reason is None and isinstance(data.get("state"), Mapping):
        reason = data["state"].get("reason")
    stdout = data.get("stdout_expanded") or _expand(data.get("standard_output") or data.get("stdout"), data)
    stderr = data.get("stderr_expanded") or _expand(data.get("standard_error") or data.get("stderr"), data)
    return Job(
        id=job_id,
        resource=resource,
        state=state,
        native_state=",".join(words) or None,
        exit_code=code,
        message=str(reason) if reason and reason != "None" else None,
        submitted_at=time_of(times.get("submit_time", times.get("submission"))),
        started_at=time_of(times.get("start_time", times.get("start")))
        if state is not JobState.PENDING
        else None,
        finished_at=time_of(times.get("end_time", times.get("end"))) if state.is_terminal else None,
        name=data.get("name"),
        stdout_path=stdout,
        stderr_path=stderr,
        raw=dict(data),
    )


def parse_jobs(data: Any, resource: str | None, *, facility: str = FACILITY) -> list[Job]:
    """``{"jobs": [...]}`` as jobs; each keeps its own partition as resource unless one is given."""
    if not isinstance(data, Mapping) or not isinstance(data.get("jobs"), list):
        raise ValueError("expected an object with a 'jobs' list")
    jobs = []
    for item in data["jobs"]:
        if not isinstance(item, Mapping):
            raise ValueError("a job entry is not an object")
        jobs.append(parse_job(item, resource or str(item.get("partition") or ""), facility=facility))
    return jobs


class Refused(ValueError):
    """slurmrestd's own errors in a submit answer: the job was refused."""


def parse_submit(data: Any) -> str:
    """The new job's id from a submit answer. slurmrestd's own errors are raised as
    :class:`Refused`; an answer that cannot be read otherwise as ValueError."""
    if not isinstance(data, Mapping):
        raise ValueError("the submit answer is not an object")
    raw = data.get("job_id")
    if raw is None and isinstance(data.get("result"), Mapping):
        raw = data["result"].get("job_id")
    if raw is None and errors_of(data):
        raise Refused(error_text(data))
    job_id = job_id_of(raw)
    if job_id is None:
        what = "no job_id" if raw is None else f"a job_id that is {type(raw).__name__}"
        raise ValueError(f"the submit answer has {what}")
    return job_id

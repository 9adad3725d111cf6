"""Which listed Flux job a submit made, when the submit's answer did not arrive.

The submit tag goes into the job's environment (``FACILITY_SUBMIT_TAG``), but Flux's job listing
does not show environments, and the API lets the client set nothing else a listing shows (the job
name is the command's base name; shell options are not listed). So after an answer is lost the
job is recognised by what the listing does show: the one job that could be this submit is not
returned to this backend before, not listed to it before the submit was sent, submitted since the
submit was sent (by the server's clock, whose difference to ours each successful submit
measures), under the command's name, with the same task and node counts and runtime.

The residual risk: a job of another client of the same instance that is identical in every listed
field and was submitted within the clock margin of our send (``CLOCK_MARGIN`` once a submit of
this backend has measured the clock difference, ``CLOCK_SKEW`` before) is indistinguishable from
ours. After a lost answer (or a 504 whose request never reached the server) it may be adopted, and
then this submit's own job is not run. Submitting distinct commands (or runtimes) from concurrent
clients rules it out.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Iterable
from typing import Any

from ...models import Job, JobSpec
from .requests import command_of

__all__ = ["CLOCK_MARGIN", "CLOCK_SKEW", "SubmitMatcher", "matches_request", "trim"]

#: Seconds a job's ``t_submit`` may precede our send (clock difference to the server) while the
#: difference has not been measured yet.
CLOCK_SKEW = 5.0
#: Seconds of clock drift allowed since the difference was last measured on a submit of ours.
CLOCK_MARGIN = 0.5
#: How many job ids each of the bounded memories keeps.
MAX_ENTRIES = 10_000


class SubmitMatcher:
    """What one backend knows to tell the job of its own submit from the other listed jobs: the
    ids already returned to it, when each id was first listed to it, and the server's clock."""

    def __init__(self) -> None:
        self._returned: set[str] = set()
        # When each job id was first listed to this backend (epoch seconds): a job listed before
        # a submit was sent cannot be that submit's job.
        self._listed_at: dict[str, float] = {}
        # A lower bound of (server clock - our clock), from the last job this backend submitted.
        self.clock_offset: float | None = None

    def returned(self, job_id: str) -> None:
        """Remember that ``job_id`` was handed out as the job of a submit: it is no other's."""
        self._returned.add(job_id)

    def listed(self, jobs: Iterable[Job], now: float) -> None:
        """Remember when each of ``jobs`` was first listed to this backend."""
        for job in jobs:
            self._listed_at.setdefault(job.id, now)
        trim(self._listed_at)

    def measured(self, job: Job, answered_at: float) -> None:
        """Measure the server's clock on a job just submitted: its ``t_submit`` came before our
        answer arrived (``answered_at``, by our clock)."""
        if job.submitted_at is not None:
            self.clock_offset = job.submitted_at.timestamp() - answered_at

    def candidates(self, jobs: Iterable[Job], spec: JobSpec, sent_at: float) -> list[Job]:
        """The listed ``jobs`` a submit of ``spec`` sent at ``sent_at`` could have made."""
        return [job for job in jobs if self.could_be(job, spec, sent_at)]

    def could_be(self, job: Job, spec: JobSpec, sent_at: float) -> bool:
        """Whether listed ``job`` may be what a submit of ``spec`` sent at ``sent_at`` made.

        Its ``t_submit`` must not precede the send by the server's clock: once a submit of ours
        has shown the clock difference, within ``CLOCK_MARGIN``, before that within ``CLOCK_SKEW``.
        """
        listed_at = self._listed_at.get(job.id)
        if self.clock_offset is None:
            earliest = sent_at - CLOCK_SKEW
        else:
            earliest = sent_at + self.clock_offset - CLOCK_MARGIN
        return (
            job.id not in self._returned
            and (listed_at is None or listed_at >= sent_at)
            and job.name == posixpath.basename(command_of(spec)[0])
            and job.submitted_at is not None
            and job.submitted_at.timestamp() >= earliest
            and matches_request(job, spec)
        )


def matches_request(job: Job, spec: JobSpec) -> bool:
    """Whether the listed job has what ``spec`` asked for, as far as a listing shows it: task and
    node counts and runtime (each compared only when asked for and listed). The working directory
    is not compared: the server may list it resolved (symlinks, a relative path made absolute),
    and missing our own job would send it twice."""
    raw = job.raw
    node_count = spec.resources.node_count
    if node_count is not None and raw.get("nnodes") not in (None, "", node_count):
        return False
    process_count = spec.resources.process_count
    if process_count is not None and raw.get("ntasks") not in (None, "", process_count):
        return False
    duration = spec.attributes.duration
    listed_duration = raw.get("duration")
    return not (
        duration is not None
        and isinstance(listed_duration, int | float)
        and not isinstance(listed_duration, bool)
        and listed_duration > 0
        and listed_duration != math.ceil(duration.total_seconds())
    )


def trim(entries: dict[str, Any], limit: int = MAX_ENTRIES) -> None:
    """Drop the oldest entries beyond ``limit``."""
    while len(entries) > limit:
        entries.pop(next(iter(entries)))

"""The soak's logical jobs and the facility-side audit of what became of them.

Every logical job has a unique key. Its command appends one line to ``<marker_dir>/<key>.run``
when it starts and one to ``<key>.fin`` when it ends, so how often a job really ran is read from
the emulator's sandbox, not from the client's view. The key is also the job's name (and is part of
its command), which lets the audit find the emulator's records of each logical job in
``GET /_emulator/jobs`` whatever shape each API gives the stored spec.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SLEEP_SECONDS = 30
"""How long a sleeper would run if its cancel failed: long enough to be cancelled first."""


@dataclasses.dataclass
class LogicalJob:
    """One job the soak asks for, and what the client side saw of it.

    ``outcome`` is set by the driver: ``completed``, ``cancelled``, ``failed``, ``submit_failed``
    or ``hung`` (the bounded wait ran out).
    """

    key: str
    side: str
    backend: str
    sleeper: bool = False
    job_id: str | None = None
    outcome: str | None = None
    detail: str = ""

    def command(self, marker_dir: str) -> str:
        """The shell command: a run line, (a long sleep for sleepers), a finish line."""
        run = shlex.quote(f"{marker_dir}/{self.key}.run")
        fin = shlex.quote(f"{marker_dir}/{self.key}.fin")
        middle = f"sleep {SLEEP_SECONDS} && " if self.sleeper else ""
        return f"echo run >> {run} && {middle}echo finished >> {fin}"


def plan(side: str, backends: Iterable[str], per_backend: int, sleepers: int) -> list[LogicalJob]:
    """``per_backend`` jobs per backend, the last ``sleepers`` of each being sleepers."""
    jobs = []
    for backend in backends:
        for index in range(per_backend):
            jobs.append(
                LogicalJob(
                    key=f"soak-{side}-{backend}-{index:03d}",
                    side=side,
                    backend=backend,
                    sleeper=index >= per_backend - sleepers,
                )
            )
    return jobs


def run_lines(marker_dir: Path, key: str, suffix: str) -> int:
    """How many lines a job wrote to its ``.run`` or ``.fin`` marker."""
    path = marker_dir / f"{key}.{suffix}"
    return len(path.read_text().splitlines()) if path.exists() else 0


def process_group_alive(pgid: int) -> bool:
    """Whether any process of the group the emulator started for a job is still there."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclasses.dataclass
class Audit:
    """The facility-side verdict over every logical job."""

    lost: list[str] = dataclasses.field(default_factory=list)
    duplicated: list[str] = dataclasses.field(default_factory=list)
    hung: list[str] = dataclasses.field(default_factory=list)
    wrong_end: list[str] = dataclasses.field(default_factory=list)
    misattributed: list[str] = dataclasses.field(default_factory=list)
    cancelled: int = 0
    stopped: int = 0

    def problems(self) -> dict[str, list[str]]:
        """The non-empty lists of keys, by kind of problem."""
        kinds = {
            "lost": self.lost,
            "duplicated": self.duplicated,
            "hung": self.hung,
            "wrong_end": self.wrong_end,
            "misattributed": self.misattributed,
        }
        return {kind: keys for kind, keys in kinds.items() if keys}


def records_by_key(
    records: list[Mapping[str, Any]], keys: Iterable[str]
) -> dict[str, list[Mapping[str, Any]]]:
    """The emulator's job records of each key (a key appears in the record's spec)."""
    found: dict[str, list[Mapping[str, Any]]] = {key: [] for key in keys}
    for record in records:
        text = json.dumps(record.get("spec", {}))
        for key in found:
            if key in text:
                found[key].append(record)
    return found


def audit(jobs: list[LogicalJob], records: list[Mapping[str, Any]], marker_dir: Path) -> Audit:
    """Check every logical job against the emulator's records and the sandbox markers."""
    result = Audit()
    by_key = records_by_key(records, [job.key for job in jobs])
    for job in jobs:
        emulated = by_key[job.key]
        runs = run_lines(marker_dir, job.key, "run")
        finishes = run_lines(marker_dir, job.key, "fin")
        if job.outcome == "hung":
            result.hung.append(job.key)
        if len(emulated) > 1 or runs > 1:
            result.duplicated.append(f"{job.key}: {len(emulated)} jobs, {runs} runs")
            continue
        if not emulated:
            result.lost.append(f"{job.key}: no job at the facility ({job.outcome}: {job.detail})")
            continue
        record = emulated[0]
        if job.job_id is not None and job.job_id != record["id"]:
            # The client follows another job than the one its submit created.
            result.misattributed.append(
                f"{job.key}: the client follows {job.job_id}, the job is {record['id']}"
            )
        if job.sleeper:
            result.cancelled += 1
            pid = record.get("meta_data", {}).get("pid")
            alive = isinstance(pid, int) and process_group_alive(pid)
            if record["state"] == "canceled" and finishes == 0 and not alive and job.outcome == "cancelled":
                result.stopped += 1
            else:
                result.wrong_end.append(
                    f"{job.key}: {record['state']}, {finishes} finish lines, process alive={alive}, "
                    f"the client saw {job.outcome} ({job.detail})"
                )
            continue
        if runs != 1:
            result.lost.append(f"{job.key}: {record['state']}, {runs} runs ({job.outcome}: {job.detail})")
        elif record["state"] != "completed" or record.get("exit_code") != 0 or finishes != 1:
            result.wrong_end.append(f"{job.key}: {record['state']} exit {record.get('exit_code')}")
        elif job.outcome not in ("completed", "hung"):
            result.wrong_end.append(f"{job.key}: the client saw {job.outcome} ({job.detail})")
    return result

"""From ``facility submit``'s arguments to a :class:`~facility_common.JobSpec`.

Pure functions: walltimes in the forms people type (``90``, ``90m``, ``1h30m``, ``1:30:00``,
``1-00:00:00``), ``KEY=VALUE`` lists, and the spec itself. Bad input is a usage error (exit 2)
naming the option, raised before any request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer

from facility_common import SUBMIT_TAG_VARIABLE, JobAttributes, JobSpec, ResourceSpec

__all__ = ["WALLTIME_FORMS", "SubmitRequest", "build_spec", "parse_assignments", "parse_walltime"]

WALLTIME_FORMS = "minutes (90), 90m, 2h, 1h30m, 45s, 1d, MM:SS, HH:MM:SS or D-HH[:MM[:SS]]"

_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNITS = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")
_CLOCK = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def _bad_walltime(text: str, why: str) -> typer.BadParameter:
    return typer.BadParameter(f"{text!r}: {why}; give {WALLTIME_FORMS}", param_hint="'--time'")


def _clock_seconds(text: str) -> float | None:
    """Slurm's time forms: ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``."""
    found = _CLOCK.match(text)
    if not found or (":" not in text and "-" not in text):
        return None
    days, first, second, third = found.groups()
    if days is not None:
        hours, minutes, seconds = int(first), int(second or 0), int(third or 0)
        if minutes >= 60 or seconds >= 60:
            return None
        return int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
    if third is not None:
        if int(second) >= 60 or int(third) >= 60:
            return None
        return int(first) * 3600 + int(second) * 60 + int(third)
    if int(second) >= 60:
        return None
    return int(first) * 60 + int(second)


def parse_walltime(text: str) -> timedelta:
    """A walltime from ``--time``; a plain number is minutes. Zero, negatives, ``nan`` and
    ``inf`` are refused."""
    value = text.strip().lower()
    if not value:
        raise _bad_walltime(text, "empty")
    if value.startswith("-"):
        raise _bad_walltime(text, "must be positive")
    try:
        minutes = float(value)
    except ValueError:
        minutes = None
    if minutes is not None:
        if not math.isfinite(minutes):
            raise _bad_walltime(text, "not a number of minutes")
        seconds = minutes * 60
    elif (clock := _clock_seconds(value)) is not None:
        seconds = clock
    elif _UNITS.fullmatch(value):
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _UNIT.findall(value))
    else:
        raise _bad_walltime(text, "not a walltime")
    if seconds <= 0:
        raise _bad_walltime(text, "must be positive")
    return timedelta(seconds=round(seconds))


def parse_assignments(values: Sequence[str] | None, option: str) -> dict[str, str]:
    """``["A=1", "B=x=y"]`` -> ``{"A": "1", "B": "x=y"}``; a missing ``=`` or name is refused."""
    parsed: dict[str, str] = {}
    for item in values or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint=f"'{option}'")
        parsed[name.strip()] = value
    return parsed


class SubmitRequest:
    """What ``facility submit`` was asked to run, before it becomes a :class:`JobSpec`."""

    def __init__(
        self,
        *,
        command: Sequence[str] | None,
        script: Path | None,
        name: str | None = None,
        nodes: int | None = None,
        walltime: str | None = None,
        queue: str | None = None,
        account: str | None = None,
        reservation: str | None = None,
        directory: str | None = None,
        environment: Mapping[str, str] | None = None,
        stdout: str | None = None,
        stderr: str | None = None,
        stdin: str | None = None,
        attributes: Mapping[str, str] | None = None,
        tag: str | None = None,
    ) -> None:
        self.command = list(command or [])
        if self.command and self.command[0] == "--":
            self.command = self.command[1:]
        self.script = script
        self.name = name
        self.nodes = nodes
        self.walltime = walltime
        self.queue = queue
        self.account = account
        self.reservation = reservation
        self.directory = directory
        self.environment = dict(environment or {})
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin
        self.attributes = dict(attributes or {})
        self.tag = tag

    def check_what_to_run(self) -> None:
        """Exactly one of a command (after ``--``) and ``--script``."""
        if self.script is not None and self.command:
            raise typer.BadParameter(
                f"give either a command after -- or --script, not both (got --script {self.script} "
                f"and the command {' '.join(self.command)!r})"
            )
        if self.script is None and not self.command:
            raise typer.BadParameter(
                "nothing to run: give a command after -- (facility submit -- /bin/hostname) "
                "or a batch script (facility submit --script job.sh)"
            )


def build_spec(request: SubmitRequest, *, takes_script: bool) -> JobSpec:
    """The job ``request`` describes, as the API takes it: a script-based API gets the script
    file as its batch script, the others run it as ``/bin/bash -c SCRIPT``. Unless ``--name`` is
    given, a job is named after its script file or its command."""
    request.check_what_to_run()
    environment = dict(request.environment)
    if request.tag is not None:
        if SUBMIT_TAG_VARIABLE in environment and environment[SUBMIT_TAG_VARIABLE] != request.tag:
            raise typer.BadParameter(
                f"--tag {request.tag!r} and --env {SUBMIT_TAG_VARIABLE}=... disagree", param_hint="'--tag'"
            )
        environment[SUBMIT_TAG_VARIABLE] = request.tag
    attributes = JobAttributes(
        duration=parse_walltime(request.walltime) if request.walltime is not None else None,
        queue_name=request.queue,
        account=request.account,
        reservation_id=request.reservation,
        custom_attributes=request.attributes,
    )
    common: dict[str, Any] = {
        "name": request.name,
        "directory": request.directory,
        "environment": environment,
        "stdout_path": request.stdout,
        "stderr_path": request.stderr,
        "stdin_path": request.stdin,
        "attributes": attributes,
    }
    if request.nodes is not None:
        common["resources"] = ResourceSpec(node_count=request.nodes)
    if request.script is not None:
        text = request.script.read_text()
        common["name"] = request.name or request.script.name
        if takes_script:
            return JobSpec(script=text, **common)
        return JobSpec(executable="/bin/bash", arguments=["-c", text], **common)
    common["name"] = request.name or request.command[0].rstrip("/").rpartition("/")[2] or None
    return JobSpec(executable=request.command[0], arguments=request.command[1:], **common)

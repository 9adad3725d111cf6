"""Render a Parsl block (a pilot job) into the client layer's :class:`~facility_common.JobSpec`.

A pilot is one bash script run in a login shell (``#!/bin/bash -l``, so the site's profile sets up
modules and PATH, as batch scripts expect): export what Parsl's executors read (``PARSL_CORES``,
``PARSL_MEMORY_GB``), run the user's ``worker_init``, then the launcher-wrapped worker command.
It is submitted as ``/bin/bash -c <script>``, the form every backend accepts: IRI sends it nearly
as is, script-based APIs (Slurm REST, SF API, FirecREST) wrap it in their batch script and Flux
maps it to a command. There the ``#!`` line is only a comment, so the script restarts itself as a
login shell, keeping the PATH the job was given (:func:`facility_common.render_login_script`).
Pure functions only, so the rendering is tested without a facility.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from facility_common import JobAttributes, JobSpec, ResourceSpec, render_login_script

__all__ = ["PilotSettings", "build_job_spec", "parse_walltime", "render_script", "safe_job_name"]

BASH = "/bin/bash"
GIB = 2**30
_WALLTIME = re.compile(r"^(?:(?P<days>\d+)-)?(?:(?P<hours>\d+):)?(?P<minutes>\d+):(?P<seconds>\d+)$")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def parse_walltime(walltime: str | int | timedelta) -> timedelta:
    """Read a walltime given as ``"HH:MM:SS"`` (Parsl's convention), ``"D-HH:MM:SS"``,
    ``"MM:SS"``, a number of seconds, or a ``timedelta``."""
    if isinstance(walltime, timedelta):
        return walltime
    if isinstance(walltime, int) and not isinstance(walltime, bool):
        return timedelta(seconds=walltime)
    match = _WALLTIME.match(str(walltime).strip())
    if match is None:
        raise ValueError(f"walltime: expected 'HH:MM:SS', got {walltime!r}")
    parts = {key: int(value) if value else 0 for key, value in match.groupdict().items()}
    return timedelta(**parts)


def safe_job_name(job_name: str) -> str:
    """``job_name`` with characters that file names and schedulers dislike replaced by ``_``."""
    return _UNSAFE_NAME.sub("_", job_name).strip("_") or "parsl-block"


@dataclass(frozen=True)
class PilotSettings:
    """What a provider knows about the blocks it asks for."""

    walltime: timedelta
    nodes_per_block: int = 1
    account: str | None = None
    queue: str | None = None
    reservation: str | None = None
    cores_per_node: int | None = None
    mem_per_node: float | None = None
    exclusive: bool | None = None
    worker_init: str = ""
    workdir: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    custom_attributes: Mapping[str, str] = field(default_factory=dict)


def render_script(settings: PilotSettings, job_name: str, wrapped_command: str) -> str:
    """The pilot's login-shell bash script: exports, ``worker_init``, then the launcher-wrapped
    command."""
    exports = {}
    if settings.cores_per_node is not None:
        exports["PARSL_CORES"] = str(int(settings.cores_per_node))
    if settings.mem_per_node is not None:
        exports["PARSL_MEMORY_GB"] = format(settings.mem_per_node, "g")
    body = []
    if settings.worker_init.strip():
        body += ["", "# worker_init", settings.worker_init.rstrip()]
    body += ["", "# launcher-wrapped worker command", wrapped_command.rstrip(), ""]
    return render_login_script(f"Parsl pilot {job_name}: starts the workers of one block", exports, body)


def build_job_spec(settings: PilotSettings, job_name: str, script: str) -> JobSpec:
    """The JobSpec submitting ``script`` as one block of ``settings.nodes_per_block`` nodes."""
    memory = int(settings.mem_per_node * GIB) if settings.mem_per_node is not None else None
    resources = ResourceSpec(
        node_count=settings.nodes_per_block,
        processes_per_node=1 if settings.cores_per_node is not None else None,
        cpu_cores_per_process=settings.cores_per_node,
        memory=memory,
        exclusive_node_use=settings.exclusive,
    )
    attributes = JobAttributes(
        duration=settings.walltime,
        queue_name=settings.queue,
        account=settings.account,
        reservation_id=settings.reservation,
        custom_attributes=dict(settings.custom_attributes),
    )
    return JobSpec(
        executable=BASH,
        arguments=["-c", script, safe_job_name(job_name)],
        name=safe_job_name(job_name),
        directory=settings.workdir,
        environment=dict(settings.environment),
        resources=resources,
        attributes=attributes,
    )

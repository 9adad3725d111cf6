"""A :class:`~facility_common.JobSpec` as slurmrestd's job description, and the tag it carries.

The options are built and checked by the shared renderer (:func:`.slurm_script.sbatch_options`
with :data:`SITE`); here they are written as the fields of slurmrestd's ``job_desc_msg`` in one
data-parser version (:mod:`.versions`), beside a ``/bin/sh`` script that execs the command. The
submit tag rides in the job's ``comment`` (``facility-submit-tag:<tag>``), which every job listing
shows, and in ``FACILITY_SUBMIT_TAG``; :func:`comment_tag` reads it back. Everything here is pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from ...models import JobSpec
from ..slurm_script import (
    SbatchOption,
    SlurmSite,
    mebibytes,
    render_batch_script,
    sbatch_options,
    slurm_minutes,
)
from ..submit import tagged_environment
from .versions import environment_value, number_value, script_at_top

__all__ = [
    "FACILITY",
    "SITE",
    "TAG_PREFIX",
    "comment_tag",
    "job_description",
    "job_options",
    "render_job",
    "script_for",
]

FACILITY = "slurmrest"
TAG_PREFIX = "facility-submit-tag:"
"""The start of the ``comment`` of every job this backend submits; the tag follows."""


def _tag_comment(tag: str, stdout: str | None, stderr: str | None) -> str:
    return TAG_PREFIX + tag


SITE = SlurmSite(
    facility=FACILITY,
    shell="/bin/sh",
    job_description=True,
    default_job_name="facility-job",
    default_stdout="slurm-%j.out",
    default_stderr="slurm-%j.err",
    defaults_in_directory=True,
    reserved=frozenset({"comment", "environment", "script"}),
    tag_comment=_tag_comment,
    exec_command=True,
)
"""slurmrestd: the job is a job description (the queue is its partition, the tag its comment)
and a ``/bin/sh`` script that execs the command. Custom attributes are job description fields;
``comment``, ``environment`` and ``script`` are the backend's own."""


def comment_tag(job: Mapping[str, Any]) -> str | None:
    """The submit tag in a listed job's ``comment`` (slurmctld's text, or slurmdb's
    ``comment.job``), or None for a job this pack did not submit."""
    comment = job.get("comment")
    if isinstance(comment, Mapping):
        comment = comment.get("job")
    if isinstance(comment, str) and comment.startswith(TAG_PREFIX):
        return comment[len(TAG_PREFIX) :]
    return None


def script_for(spec: JobSpec) -> str:
    """The batch script: the spec's own, or one that execs the executable with its arguments."""
    if spec.script is not None:
        return spec.script if spec.script.startswith("#!") else f"#!{SITE.shell}\n" + spec.script
    return render_batch_script(spec, SITE, (), tag=None)


def job_options(
    spec: JobSpec, *, partition: str | None, tag: str, directory: str | None, facility: str = FACILITY
) -> tuple[SbatchOption, ...]:
    """The checked options of ``spec``'s job description (refused before any request)."""
    site = SITE if facility == SITE.facility else dataclasses.replace(SITE, facility=facility)
    return sbatch_options(spec, site, tag=tag, directory=spec.directory or directory, queue=partition)


def render_job(
    spec: JobSpec,
    *,
    version: str,
    partition: str | None,
    tag: str,
    directory: str | None,
    base_environment: Mapping[str, str],
    facility: str = FACILITY,
) -> dict[str, Any]:
    """The Slurm job description (``job_desc_msg``) of ``spec``, without the script."""
    options = job_options(spec, partition=partition, tag=tag, directory=directory, facility=facility)
    environment = tagged_environment(tag, base_environment, spec.environment)
    return job_description(options, version=version, environment=environment)


# -- the options as job description fields ---------------------------------------------------------

_PLAIN_FIELDS = {
    "job-name": "name",
    "comment": "comment",
    "partition": "partition",
    "qos": "qos",
    "account": "account",
    "reservation": "reservation",
    "ntasks": "tasks",
    "ntasks-per-node": "tasks_per_node",
    "cpus-per-task": "cpus_per_task",
    "chdir": "current_working_directory",
    "input": "standard_input",
    "output": "standard_output",
    "error": "standard_error",
}


def _field(job: dict[str, Any], option: SbatchOption, version: str) -> None:
    value = option.value
    if option.name in _PLAIN_FIELDS:
        job[_PLAIN_FIELDS[option.name]] = value
    elif option.name == "time" and isinstance(value, timedelta):
        job["time_limit"] = number_value(version, slurm_minutes(value.total_seconds()))
    elif option.name == "mem" and isinstance(value, int):
        job["memory_per_node"] = number_value(version, mebibytes(value))
    elif option.name == "nodes" and script_at_top(version):  # v0.0.38: nodes = [minimum, maximum]
        job["nodes"] = [value, value]
    elif option.name == "nodes":
        job["minimum_nodes"] = job["maximum_nodes"] = value
    elif option.name == "gpus-per-task":
        if script_at_top(version):
            job["gpus_per_task"] = str(value)
        else:
            job["tres_per_task"] = f"gres/gpu:{value}"
    elif option.name == "exclusive":
        pass  # never sent to slurmrestd so far (v0.0.38 calls it exclusive, later versions shared)
    else:
        raise ValueError(f"no job description field for --{option.name}")


def job_description(
    options: Sequence[SbatchOption], *, version: str, environment: Mapping[str, str]
) -> dict[str, Any]:
    """slurmrestd's ``job_desc_msg`` for ``options`` in data-parser ``version`` (without the
    script): each option as its field, then the custom attributes as fields of their own name."""
    job: dict[str, Any] = {}
    for option in options:
        if not option.custom:
            _field(job, option, version)
    job["environment"] = environment_value(version, environment)
    for option in options:
        if option.custom:
            job[option.name] = option.value
    return job

"""Batch scripts for the NERSC Superfacility API: a JobSpec rendered to ``#SBATCH`` lines, and
checks of scripts users give.

Slurm reads ``#SBATCH`` lines only at the very start of a line and only before the first
command: an indented directive is silently ignored (``sfapi_client`` issue #74: a job that asked
for ``-C gpu`` in an indented line fails with "No architecture specified"). Scripts are therefore
never sent with such lines: :func:`check_directives` fixes them (the default) or refuses them.

Every script carries a ``--comment`` that tags the job (so a submit whose answer was lost can be
found instead of sent twice) and names its output files (so ``job_output`` finds them later, from
any process): ``facility:tag=<tag>,out=<path>,err=<path>`` with the paths percent-quoted.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote, unquote

from ...errors import InvalidJobSpec
from ...models import JobSpec
from ..slurm_script import (
    SlurmSite,
    fix_indented_directives,
    render_batch_script,
    sbatch_options,
    script_option,
    slurm_duration,
)
from ..submit import check_tag
from .options import WhitespacePolicy

__all__ = [
    "DEFAULT_STDERR",
    "DEFAULT_STDOUT",
    "SITE",
    "JobComment",
    "check_directives",
    "parse_comment",
    "render_comment",
    "render_script",
    "slurm_duration",
    "with_tag",
]

FACILITY = "sfapi"
DEFAULT_STDOUT = "facility-%j.out"
DEFAULT_STDERR = "facility-%j.err"
COMMENT_PREFIX = "facility:"


@dataclasses.dataclass(frozen=True)
class JobComment:
    """What the backend's ``--comment`` says of a job."""

    tag: str | None = None
    stdout: str | None = None
    stderr: str | None = None


def render_comment(comment: JobComment) -> str:
    """The ``--comment`` value (no spaces or commas inside values, so no shell quoting issues)."""
    parts = []
    if comment.tag:
        parts.append(f"tag={quote(comment.tag, safe='')}")
    if comment.stdout:
        parts.append(f"out={quote(comment.stdout, safe='/%')}")
    if comment.stderr:
        parts.append(f"err={quote(comment.stderr, safe='/%')}")
    return COMMENT_PREFIX + ",".join(parts)


def parse_comment(text: object) -> JobComment | None:
    """Read a comment written by :func:`render_comment`; None for any other comment (or a value
    that is not text at all)."""
    if not isinstance(text, str) or not text.startswith(COMMENT_PREFIX):
        return None
    values: dict[str, str] = {}
    for part in text[len(COMMENT_PREFIX) :].split(","):
        key, _, value = part.partition("=")
        if key in ("tag", "out", "err") and value:
            values[key] = unquote(value)
    return JobComment(values.get("tag"), values.get("out"), values.get("err"))


def _tag_comment(tag: str, stdout: str | None, stderr: str | None) -> str:
    return render_comment(JobComment(tag, stdout, stderr))


SITE = SlurmSite(
    facility=FACILITY,
    queue_option="qos",
    job_name="sanitize",
    default_stdout=DEFAULT_STDOUT,
    default_stderr=DEFAULT_STDERR,
    stdin="redirect",
    reserved=frozenset({"comment", "output", "error", "chdir"}),
    tag_comment=_tag_comment,
    environment="export",
)
"""NERSC through the SF API: queues are QOS names, the environment is exported in the script, the
tag and the output paths ride in the ``--comment`` (``job_output`` reads them from there)."""


def render_script(
    spec: JobSpec, *, tag: str, shell: str = "/bin/bash", whitespace: WhitespacePolicy = "fix"
) -> tuple[str, JobComment]:
    """The ``#SBATCH`` script for an executable JobSpec, and the comment it carries.

    Queue names are Slurm QOS names at NERSC (``debug``, ``regular``, ``shared``); the walltime is
    ``--time``; ``custom_attributes`` become ``--<name>=<value>`` (``{"constraint": "gpu"}``).
    Output goes to ``stdout_path``/``stderr_path`` or ``facility-<jobid>.out|.err`` in the job's
    working directory (``directory``, else the submit directory, the user's home). A given
    ``script`` is checked by :func:`check_directives` (``whitespace``) and tagged by
    :func:`with_tag`. The rendering is :mod:`.slurm_script`'s, with this site's :data:`SITE`.
    """
    if spec.script is not None:
        return with_tag(check_directives(spec.script, whitespace), tag=tag)
    site = SITE if shell == SITE.shell else dataclasses.replace(SITE, shell=shell)
    options = sbatch_options(spec, site, tag=tag, directory=spec.directory)
    paths = {option.name: str(option.value) for option in options}
    comment = JobComment(tag, paths["output"], paths["error"])
    return render_batch_script(spec, site, options, tag=tag), comment


def check_directives(script: str, policy: WhitespacePolicy = "fix") -> str:
    """Make sure Slurm reads every ``#SBATCH`` line the author wrote in the directive block.

    Lines with whitespace before ``#SBATCH`` are fixed (the whitespace removed, with a warning)
    or, with ``policy="refuse"``, raise :class:`InvalidJobSpec` naming the lines. A script must
    start with ``#!`` (the API takes anything else for a path).
    """
    if not script.startswith("#!"):
        raise InvalidJobSpec(
            "script: a batch script must start with a #! line (the SF API takes anything else for a path)",
            field="script",
            facility=FACILITY,
        )
    return fix_indented_directives(script, policy, FACILITY)


def with_tag(script: str, *, tag: str) -> tuple[str, JobComment]:
    """A user's script with the tag comment added after its ``#!`` line.

    The output paths recorded are the script's own ``--output``/``--error`` (Slurm's default
    ``slurm-%j.out`` otherwise). A script that sets its own ``--comment`` keeps it; such a job
    cannot be found by tag, so an ambiguous submit failure is reported instead of retried.
    """
    check_tag(tag, FACILITY)
    stdout = script_option(script, "output", "o") or "slurm-%j.out"
    stderr = script_option(script, "error", "e") or stdout
    if script_option(script, "comment", "-") is not None:
        return script, JobComment(None, stdout, stderr)
    comment = JobComment(tag, stdout, stderr)
    lines = script.split("\n")
    lines.insert(1, f"#SBATCH --comment={render_comment(comment)}")
    return "\n".join(lines), comment

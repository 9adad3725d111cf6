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
import logging
import re
import shlex
from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote, unquote

from ..errors import InvalidJobSpec
from ..models import JobSpec

__all__ = [
    "DEFAULT_STDERR",
    "DEFAULT_STDOUT",
    "SUBMIT_TAG_VARIABLE",
    "JobComment",
    "check_directives",
    "parse_comment",
    "render_comment",
    "render_script",
    "slurm_duration",
    "with_tag",
]

logger = logging.getLogger("facility_common.backends.sfapi")

FACILITY = "sfapi"
SUBMIT_TAG_VARIABLE = "FACILITY_SUBMIT_TAG"
DEFAULT_STDOUT = "facility-%j.out"
DEFAULT_STDERR = "facility-%j.err"
COMMENT_PREFIX = "facility:"
_OPTION_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]+)(?P<directive>#SBATCH\b.*)$")

WhitespacePolicy = Literal["fix", "refuse"]


def slurm_duration(seconds: float) -> str:
    """A Slurm ``--time`` value: ``HH:MM:SS``, or ``D-HH:MM:SS`` from a day on (rounded up)."""
    total = max(1, int(-(-seconds // 1)))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


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


def _quote_path(path: str) -> str:
    if any(c.isspace() for c in path) or '"' in path:
        raise InvalidJobSpec(
            f"path {path!r}: #SBATCH paths must not contain whitespace or quotes",
            field="stdout_path",
            facility=FACILITY,
        )
    return path


def _memory(spec: JobSpec) -> str | None:
    memory = spec.resources.memory
    if memory is None:
        return None
    mebibytes = -(-memory // (1024 * 1024))
    return f"{mebibytes}M"


def render_script(
    spec: JobSpec, *, tag: str, shell: str = "/bin/bash", whitespace: WhitespacePolicy = "fix"
) -> tuple[str, JobComment]:
    """The ``#SBATCH`` script for an executable JobSpec, and the comment it carries.

    Queue names are Slurm QOS names at NERSC (``debug``, ``regular``, ``shared``); the walltime is
    ``--time``; ``custom_attributes`` become ``--<name>=<value>`` (``{"constraint": "gpu"}``).
    Output goes to ``stdout_path``/``stderr_path`` or ``facility-<jobid>.out|.err`` in the job's
    working directory (``directory``, else the submit directory, the user's home). A given
    ``script`` is checked by :func:`check_directives` (``whitespace``) and tagged by
    :func:`with_tag`.
    """
    if spec.script is not None:
        return with_tag(check_directives(spec.script, whitespace), tag=tag)
    assert spec.executable is not None
    lines = [f"#!{shell}"]

    def directive(option: str, value: object | None = None) -> None:
        lines.append(f"#SBATCH --{option}" if value is None else f"#SBATCH --{option}={value}")

    if spec.name:
        directive("job-name", re.sub(r"[^A-Za-z0-9_.-]", "_", spec.name)[:128])
    attributes = spec.attributes
    if attributes.duration is not None:
        directive("time", slurm_duration(attributes.duration.total_seconds()))
    if attributes.queue_name:
        directive("qos", attributes.queue_name)
    if attributes.account:
        directive("account", attributes.account)
    if attributes.reservation_id:
        directive("reservation", attributes.reservation_id)
    resources = spec.resources
    if resources.node_count is not None:
        directive("nodes", resources.node_count)
    if resources.process_count is not None:
        directive("ntasks", resources.process_count)
    if resources.processes_per_node is not None:
        directive("ntasks-per-node", resources.processes_per_node)
    if resources.cpu_cores_per_process is not None:
        directive("cpus-per-task", resources.cpu_cores_per_process)
    if resources.gpu_cores_per_process is not None:
        directive("gpus-per-task", resources.gpu_cores_per_process)
    memory = _memory(spec)
    if memory is not None:
        directive("mem", memory)
    if resources.exclusive_node_use:
        directive("exclusive")
    for key, value in attributes.custom_attributes.items():
        option = key.strip().lstrip("-")
        if not _OPTION_NAME.match(option) or option in ("comment", "output", "error", "chdir"):
            raise InvalidJobSpec(
                f"attributes.custom_attributes: {key!r} is not an sbatch option this backend sets",
                field="attributes.custom_attributes",
                facility=FACILITY,
            )
        if any(c.isspace() for c in value):
            raise InvalidJobSpec(
                f"attributes.custom_attributes[{key!r}]: sbatch values must not contain whitespace",
                field="attributes.custom_attributes",
                facility=FACILITY,
            )
        directive(option, value or None)
    if spec.directory:
        directive("chdir", _quote_path(spec.directory))
    stdout = _quote_path(spec.stdout_path) if spec.stdout_path else DEFAULT_STDOUT
    stderr = _quote_path(spec.stderr_path) if spec.stderr_path else DEFAULT_STDERR
    directive("output", stdout)
    directive("error", stderr)
    comment = JobComment(tag, stdout, stderr)
    directive("comment", render_comment(comment))
    lines.append("")
    environment: Mapping[str, str] = {**spec.environment, SUBMIT_TAG_VARIABLE: tag}
    for name, value in environment.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise InvalidJobSpec(
                f"environment: {name!r} is not a valid shell variable name",
                field="environment",
                facility=FACILITY,
            )
        lines.append(f"export {name}={shlex.quote(value)}")
    command = " ".join(shlex.quote(word) for word in [spec.executable, *spec.arguments])
    if spec.stdin_path:
        command += f" < {shlex.quote(spec.stdin_path)}"
    lines.append(command)
    return "\n".join(lines) + "\n", comment


def _directive_block_end(lines: list[str]) -> int:
    """Index of the first command line (where Slurm stops reading directives)."""
    for index, line in enumerate(lines):
        if index == 0 and line.startswith("#!"):
            continue
        stripped = line.strip()
        if stripped == "" or stripped.startswith("#"):
            continue
        return index
    return len(lines)


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
    lines = script.split("\n")
    end = _directive_block_end(lines)
    indented = [n for n in range(end) if _DIRECTIVE.match(lines[n])]
    if not indented:
        return script
    numbers = ", ".join(str(n + 1) for n in indented)
    if policy == "refuse":
        raise InvalidJobSpec(
            f"script: line(s) {numbers} have whitespace before #SBATCH, so Slurm would silently ignore "
            "them; remove the indentation",
            field="script",
            facility=FACILITY,
        )
    logger.warning("script lines %s had whitespace before #SBATCH; removed it so Slurm reads them", numbers)
    for n in indented:
        match = _DIRECTIVE.match(lines[n])
        assert match is not None
        lines[n] = match.group("directive")
    return "\n".join(lines)


def _script_option(lines: list[str], end: int, long: str, short: str) -> str | None:
    value: str | None = None
    for line in lines[:end]:
        if not line.startswith("#SBATCH"):
            continue
        try:
            words = shlex.split(line[len("#SBATCH") :], comments=True)
        except ValueError:
            continue
        for index, word in enumerate(words):
            if word.startswith(f"--{long}="):
                value = word.split("=", 1)[1]
            elif word in (f"--{long}", f"-{short}") and index + 1 < len(words):
                value = words[index + 1]
            elif word.startswith(f"-{short}") and len(word) > 2 and not word.startswith("--"):
                value = word[2:]
    return value


def with_tag(script: str, *, tag: str) -> tuple[str, JobComment]:
    """A user's script with the tag comment added after its ``#!`` line.

    The output paths recorded are the script's own ``--output``/``--error`` (Slurm's default
    ``slurm-%j.out`` otherwise). A script that sets its own ``--comment`` keeps it; such a job
    cannot be found by tag, so an ambiguous submit failure is reported instead of retried.
    """
    lines = script.split("\n")
    end = _directive_block_end(lines)
    stdout = _script_option(lines, end, "output", "o") or "slurm-%j.out"
    stderr = _script_option(lines, end, "error", "e") or stdout
    if _script_option(lines, end, "comment", "-") is not None:
        return script, JobComment(None, stdout, stderr)
    comment = JobComment(tag, stdout, stderr)
    lines.insert(1, f"#SBATCH --comment={render_comment(comment)}")
    return "\n".join(lines), comment

"""The one renderer of Slurm jobs, shared by every Slurm-based backend and the Parsl pilot.

A :class:`~facility_common.JobSpec` becomes one neutral model: an ordered tuple of
:class:`SbatchOption` (an sbatch long option and its value), built and validated once by
:func:`sbatch_options`. It is written either as the ``#SBATCH`` lines of a batch script
(:func:`render_batch_script`: SF API, FirecREST) or as the fields of slurmrestd's job description
(slurmrestd, S3M: ``facility_common.backends.slurmrest.jobs.job_description``, beside the
data-parser versions it depends on). What differs between the sites is said by a
:class:`SlurmSite`, not by separate code: where the queue goes, which shell runs the script, where
the environment goes, how the submit tag is carried, which options a custom attribute may not set.
The Parsl pilot is a bash script of its own, run in a login shell (:func:`render_login_script`).

**Why values are checked here.** sbatch reads an ``#SBATCH`` line with its own tokenizer: words
end at whitespace, ``'``, ``"`` and ``\\`` quote or escape, an unquoted ``#`` ends the line, and a
newline ends the directive block. So every value that reaches a directive line or a job
description field (queue, account, reservation, job name, paths, custom attributes) must be one
word: no whitespace and no control characters anywhere, and on a directive line none of
``' " \\ #`` either. An account ``"m1234 --job-name=x"`` would otherwise add options, a custom
``comment`` would replace the submit tag, a tag with a newline would end the directive block.
Every refusal is an :class:`~facility_common.InvalidJobSpec` naming the field and the facility,
raised before any request.

**Durations and sizes** round *up* (a job never gets less than it asked for): ``--time`` is
``HH:MM:SS`` (``D-HH:MM:SS`` from a day on), a job description's ``time_limit`` is whole minutes,
memory is whole MiB.

Everything here is a pure function.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Literal

from ..errors import InvalidJobSpec
from ..models import JobSpec
from .submit import SUBMIT_TAG_VARIABLE, check_tag

__all__ = [
    "LOGIN_SHELL",
    "SUBMIT_TAG_VARIABLE",
    "SbatchOption",
    "SlurmSite",
    "check_tag",
    "check_value",
    "command_line",
    "directive_block_end",
    "directive_lines",
    "export_lines",
    "fix_indented_directives",
    "given_script_options",
    "insert_after_shebang",
    "job_environment",
    "mebibytes",
    "render_batch_script",
    "render_login_script",
    "sbatch_options",
    "script_option",
    "slurm_duration",
    "slurm_minutes",
]

logger = logging.getLogger("facility_common.backends.slurm_script")

LOGIN_SHELL = "/bin/bash -l"
"""The pilot's shell: a login shell, as FirecREST's documentation recommends for batch scripts,
so the site's profile (modules, PATH) is read."""

_OPTION_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LINE_SPECIALS = frozenset("'\"\\#")
_INDENTED_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]+)(?P<directive>#SBATCH\b.*)$")

OptionValue = str | int | timedelta | None
CommentOf = Callable[[str, str | None, str | None], str]
"""Makes the ``--comment`` value from the tag and the job's stdout and stderr paths."""


@dataclasses.dataclass(frozen=True)
class SbatchOption:
    """One sbatch long option (``name`` without dashes) and its value: text, a count, the
    walltime (``time``), bytes of memory (``mem``), or None for a flag (``--exclusive``).
    ``custom`` marks a custom attribute: a job description takes its name as the field name."""

    name: str
    value: OptionValue = None
    custom: bool = False


@dataclasses.dataclass(frozen=True)
class SlurmSite:
    """How one site wants its Slurm jobs; one instance per backend, the only per-site switch.

    * ``shell``: the ``#!`` interpreter of the batch script.
    * ``job_description``: the options become slurmrestd job description fields (slurmrestd, S3M)
      and the script only runs the command; otherwise they are ``#SBATCH`` lines.
    * ``queue_option``: what the queue becomes (NERSC's queues are QOS names); None when the API
      takes queue, account and reservation as fields of its own (FirecREST).
    * ``job_name``: ``"sanitize"`` replaces unusual characters, ``"check"`` refuses them;
      ``default_job_name`` is used when the spec has none.
    * ``default_stdout``/``default_stderr``: output files when the spec names none (Slurm's own
      default otherwise), under the working directory with ``defaults_in_directory``.
    * ``stdin``: an ``--input`` option, or a ``< path`` redirect of the command.
    * ``files_before_attributes``: where the custom attributes go in the directive block.
    * ``reserved``: options the backend relies on, refused as custom attributes.
    * How the submit tag rides: in the ``--comment`` (``tag_comment`` makes its value) or in a
      comment line of the script (``tag_line`` is its prefix); always in ``FACILITY_SUBMIT_TAG``.
    * ``environment``: ``"export"`` writes it into the script, ``"api"`` leaves it to the API.
    * ``exec_command``: the script replaces itself with the command (``exec``).
    """

    facility: str
    shell: str = "/bin/bash"
    job_description: bool = False
    queue_option: Literal["qos", "partition"] | None = "partition"
    job_name: Literal["check", "sanitize"] = "check"
    default_job_name: str | None = None
    default_stdout: str | None = None
    default_stderr: str | None = None
    defaults_in_directory: bool = False
    stdin: Literal["option", "redirect"] = "option"
    files_before_attributes: bool = False
    reserved: frozenset[str] = frozenset()
    tag_comment: CommentOf | None = None
    tag_line: str | None = None
    environment: Literal["export", "api"] = "api"
    exec_command: bool = False


# -- values ---------------------------------------------------------------------------------------


def _refuse(field: str, message: str, facility: str | None) -> InvalidJobSpec:
    where = f" ({facility})" if facility else ""
    return InvalidJobSpec(f"{field}: {message}{where}", field=field, facility=facility)


def check_value(value: str, *, field: str, facility: str, line: bool = True) -> str:
    """``value`` if it is one word a directive line (``line``) or a job description can carry:
    not empty, no whitespace or control characters, and on a line none of ``' " \\ #``."""
    bad = [c for c in value if c.isspace() or _CONTROL.match(c) or (line and c in _LINE_SPECIALS)]
    if not value or bad:
        where = "an #SBATCH line" if line else "a Slurm job description"
        allowed = "whitespace, control characters, quotes, backslashes or '#'" if line else "whitespace"
        what = "is empty" if not value else f"has {bad[0]!r}"
        raise _refuse(
            field, f"{value!r} {what}; a value in {where} must be one word without {allowed}", facility
        )
    return value


def slurm_duration(seconds: float) -> str:
    """A Slurm ``--time`` value, rounded up to whole seconds (at least one): ``HH:MM:SS``, or
    ``D-HH:MM:SS`` from a day on."""
    total = max(1, int(-(-seconds // 1)))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def slurm_minutes(seconds: float) -> int:
    """A job description's ``time_limit``: whole minutes, rounded up (Slurm's unit), at least one."""
    return max(1, int(-(-seconds // 60)))


def mebibytes(size: int) -> int:
    """``size`` bytes in whole MiB, rounded up, at least one."""
    return max(1, -(-size // 2**20))


# -- the model ------------------------------------------------------------------------------------


def _job_name(spec: JobSpec, site: SlurmSite, *, default: bool) -> str | None:
    name = spec.name or (site.default_job_name if default else None)
    if not name:
        return None
    if site.job_name == "sanitize":
        return _UNSAFE_NAME.sub("_", name)[:128]
    return check_value(name, field="name", facility=site.facility, line=not site.job_description)


def _custom_options(spec: JobSpec, site: SlurmSite) -> list[SbatchOption]:
    """Custom attributes as options: keys are sbatch long options (leading dashes dropped) or,
    for a job description, its field names (dashes become underscores)."""
    options = []
    for key, value in spec.attributes.custom_attributes.items():
        name = key.strip().lstrip("-")
        if site.job_description:
            name = name.replace("-", "_")
        pattern = _FIELD_NAME if site.job_description else _OPTION_NAME
        if not pattern.match(name) or name in site.reserved:
            kind = "field of the Slurm job description" if site.job_description else "sbatch long option"
            reason = f"set by the backend itself ({name})" if pattern.match(name) else f"not a {kind} name"
            raise _refuse("attributes.custom_attributes", f"{key!r} is {reason}", site.facility)
        if value:
            field = f"attributes.custom_attributes[{key!r}]"
            check_value(value, field=field, facility=site.facility, line=not site.job_description)
        options.append(SbatchOption(name, value, custom=True))
    return options


def _file_options(
    spec: JobSpec, site: SlurmSite, directory: str | None, *, defaults: bool = True
) -> list[SbatchOption]:
    """``chdir``, ``input``, ``output`` and ``error``, with the site's default output files."""
    line = not site.job_description

    def checked(value: str, field: str) -> str:
        return check_value(value, field=field, facility=site.facility, line=line)

    folder = directory.rstrip("/") + "/" if directory and site.defaults_in_directory else ""
    options = []
    if directory:
        options.append(SbatchOption("chdir", checked(directory, "directory")))
    if spec.stdin_path and site.stdin == "option":
        options.append(SbatchOption("input", checked(spec.stdin_path, "stdin_path")))
    for option, path, field, default in (
        ("output", spec.stdout_path, "stdout_path", site.default_stdout),
        ("error", spec.stderr_path, "stderr_path", site.default_stderr),
    ):
        if path:
            options.append(SbatchOption(option, checked(path, field)))
        elif default and defaults:
            options.append(SbatchOption(option, folder + default))
    return options


def sbatch_options(
    spec: JobSpec,
    site: SlurmSite,
    *,
    tag: str | None,
    directory: str | None = None,
    queue: str | None = None,
) -> tuple[SbatchOption, ...]:
    """The validated options of ``spec`` at ``site``, in the order a script writes them.

    ``directory`` is the working directory to put in the job (``--chdir``); None when the API
    takes it as a field of its own. ``queue`` is the backend's default queue (the spec's wins).
    Queue, account and reservation are checked even where the API sends them outside the script.
    """
    facility = site.facility
    if tag is not None:
        check_tag(tag, facility)
    options: list[SbatchOption] = []
    name = _job_name(spec, site, default=True)
    if name:
        options.append(SbatchOption("job-name", name))
    attributes = spec.attributes
    if attributes.duration is not None:
        options.append(SbatchOption("time", attributes.duration))
    queue_field = "attributes.queue_name" if attributes.queue_name else "partition"
    scheduling = (
        (site.queue_option, attributes.queue_name or queue, queue_field),
        ("account", attributes.account, "attributes.account"),
        ("reservation", attributes.reservation_id, "attributes.reservation_id"),
    )
    for option, value, field in scheduling:
        if value:  # names of Slurm objects: held to the directive-line rule wherever they go
            check_value(value, field=field, facility=facility)
            if option is not None and site.queue_option is not None:
                options.append(SbatchOption(option, value))
    resources = spec.resources
    for option, count in (
        ("nodes", resources.node_count),
        ("ntasks", resources.process_count),
        ("ntasks-per-node", resources.processes_per_node),
        ("cpus-per-task", resources.cpu_cores_per_process),
        ("gpus-per-task", resources.gpu_cores_per_process),
        ("mem", resources.memory),
    ):
        if count is not None:
            options.append(SbatchOption(option, count))
    if resources.exclusive_node_use:
        options.append(SbatchOption("exclusive"))
    custom = _custom_options(spec, site)
    files = _file_options(spec, site, directory)
    options += files + custom if site.files_before_attributes else custom + files
    if site.tag_comment is not None and tag is not None:
        paths = {o.name: str(o.value) for o in files if o.name in ("output", "error")}
        options.append(
            SbatchOption("comment", site.tag_comment(tag, paths.get("output"), paths.get("error")))
        )
    return tuple(options)


def given_script_options(spec: JobSpec, site: SlurmSite) -> tuple[SbatchOption, ...]:
    """What a site adds to a script the user gave: the spec's job name and file paths (no
    defaults, no working directory)."""
    name = _job_name(spec, site, default=False)
    named = [SbatchOption("job-name", name)] if name else []
    return tuple(named + _file_options(spec, site, None, defaults=False))


# -- as a batch script ----------------------------------------------------------------------------


def _directive_value(option: SbatchOption) -> str | None:
    value = option.value
    if isinstance(value, timedelta):
        return slurm_duration(value.total_seconds())
    if option.name == "mem" and isinstance(value, int):
        return f"{mebibytes(value)}M"
    return None if value is None or value == "" else str(value)


def directive_lines(options: Sequence[SbatchOption]) -> list[str]:
    """``#SBATCH --name=value`` lines (``--name`` for a flag or an empty value); the walltime as
    :func:`slurm_duration`, memory in MiB."""
    lines = []
    for option in options:
        value = _directive_value(option)
        lines.append(f"#SBATCH --{option.name}" if value is None else f"#SBATCH --{option.name}={value}")
    return lines


def command_line(argv: Sequence[str], *, stdin: str | None = None, exec_: bool = False) -> str:
    """``argv`` as one shell command line, every word quoted, with ``< stdin`` when given."""
    command = " ".join(shlex.quote(word) for word in argv)
    if stdin:
        command += f" < {shlex.quote(stdin)}"
    return f"exec {command}" if exec_ else command


def export_lines(environment: Mapping[str, str], facility: str | None = None) -> list[str]:
    """``export NAME=value`` lines, values quoted for the shell."""
    lines = []
    for name, value in environment.items():
        if not _VARIABLE_NAME.match(name):
            raise _refuse("environment", f"{name!r} is not a valid shell variable name", facility)
        lines.append(f"export {name}={shlex.quote(value)}")
    return lines


def job_environment(spec: JobSpec, tag: str | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The job's environment: ``base`` (a backend's defaults), the spec's, and the submit tag in
    ``FACILITY_SUBMIT_TAG`` (so the job can be found again and knows its tag)."""
    environment = {**(base or {}), **spec.environment}
    if tag:
        environment[SUBMIT_TAG_VARIABLE] = tag
    return environment


def render_batch_script(
    spec: JobSpec, site: SlurmSite, options: Sequence[SbatchOption], *, tag: str | None
) -> str:
    """The batch script of an executable ``spec``: ``#!`` line, the tag line, the directives
    (not for job description sites), the exported environment, then the command."""
    assert spec.executable is not None, "a given script is sent as written"
    lines = [f"#!{site.shell}"]
    if site.tag_line is not None and tag:
        lines.append(site.tag_line + check_tag(tag, site.facility))
    if not site.job_description:
        lines += directive_lines(options)
    if site.environment == "export":
        lines += ["", *export_lines(job_environment(spec, tag), site.facility)]
    stdin = spec.stdin_path if site.stdin == "redirect" else None
    lines.append(command_line([spec.executable, *spec.arguments], stdin=stdin, exec_=site.exec_command))
    return "\n".join(lines) + "\n"


# -- scripts users give ----------------------------------------------------------------------------


def directive_block_end(lines: Sequence[str]) -> int:
    """Index of the first command line: Slurm reads no ``#SBATCH`` line from there on."""
    for index, line in enumerate(lines):
        if index == 0 and line.startswith("#!"):
            continue
        stripped = line.strip()
        if stripped == "" or stripped.startswith("#"):
            continue
        return index
    return len(lines)


def fix_indented_directives(script: str, policy: Literal["fix", "refuse"], facility: str) -> str:
    """Make sure Slurm reads every ``#SBATCH`` line of the directive block: an indented one is
    silently ignored by Slurm (sfapi_client issue #74), so it is un-indented with a warning or,
    with ``policy="refuse"``, refused naming the lines."""
    lines = script.split("\n")
    end = directive_block_end(lines)
    indented = [n for n in range(end) if _INDENTED_DIRECTIVE.match(lines[n])]
    if not indented:
        return script
    numbers = ", ".join(str(n + 1) for n in indented)
    if policy == "refuse":
        raise InvalidJobSpec(
            f"script: line(s) {numbers} have whitespace before #SBATCH, so Slurm would silently ignore "
            "them; remove the indentation",
            field="script",
            facility=facility,
        )
    logger.warning("script lines %s had whitespace before #SBATCH; removed it so Slurm reads them", numbers)
    for n in indented:
        match = _INDENTED_DIRECTIVE.match(lines[n])
        assert match is not None
        lines[n] = match.group("directive")
    return "\n".join(lines)


def script_option(script: str, long: str, short: str) -> str | None:
    """The value a script's directive block gives ``--long``/``-short`` (the last one wins)."""
    lines = script.split("\n")
    value: str | None = None
    for line in lines[: directive_block_end(lines)]:
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


def insert_after_shebang(script: str, lines: Sequence[str]) -> str:
    """``script`` with ``lines`` right after its ``#!`` line (so the script's own directives,
    later, win where both speak)."""
    if not lines:
        return script
    first, _, rest = script.partition("\n")
    return "\n".join([first, *lines, rest])


# -- the Parsl pilot's login shell -----------------------------------------------------------------

_LOGIN_PROLOGUE = """\
# Run as a login shell, so the site profile sets up modules and PATH as batch scripts expect.
# Started as "bash -c" (how a pilot is submitted) or "bash FILE", start again as one, keeping
# the PATH the job was given after the one the profile sets.
if ! shopt -q login_shell; then
  export FACILITY_JOB_PATH="$PATH"
  if [ -n "${BASH_EXECUTION_STRING-}" ]; then
    exec /bin/bash -l -c "$BASH_EXECUTION_STRING" "$0" "$@"
  elif [ -f "$0" ]; then
    exec /bin/bash -l "$0" "$@"
  fi
fi
PATH="$PATH${FACILITY_JOB_PATH:+:$FACILITY_JOB_PATH}"
unset FACILITY_JOB_PATH"""


def render_login_script(description: str, environment: Mapping[str, str], body: Sequence[str]) -> str:
    """A bash script that runs in a login shell however it is started: ``#!/bin/bash -l``, the
    one-line ``description`` as a comment, a prologue that restarts a non-login ``bash -c`` or
    ``bash FILE`` as a login shell, ``environment`` exported, then ``body``.

    slurmrestd and S3M give a job only the environment sent with it (often just a bare PATH),
    and a pilot arrives as ``/bin/bash -c <script>``, where a ``#!`` line is only a comment;
    without a login shell ``process_worker_pool.py`` is not found.
    """
    comment = "# " + " ".join(description.split())
    lines = [f"#!{LOGIN_SHELL}", comment, _LOGIN_PROLOGUE, *export_lines(environment)]
    return "\n".join([*lines, *body])

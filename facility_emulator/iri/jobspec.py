"""Turn an IRI ``JobSpec`` into a :class:`~facility_emulator.scheduler.LaunchPlan`.

Rules (the spec leaves these to the facility):

* ``directory`` must lie inside the sandbox and exist; default is the sandbox home.
* ``stdout_path``/``stderr_path``: unset -> ``<directory>/<name or "job">.<job_id>.out|.err``;
  an existing directory -> that file name inside it; otherwise the file itself (its directory
  must exist). Relative paths are taken relative to ``directory``.
* environment: the emulator's environment when ``inherit_environment`` (default true), plus
  ``environment``, plus ``HOME`` (sandbox home) and ``IRI_JOB_ID``.
* ``pre_launch``/``post_launch`` are shell snippets run before/after the executable (exit code
  is the executable's). ``launcher`` and ``resources`` are accepted and ignored; ``container``
  is refused.
* the returned spec echoes the request with the concrete directory and output paths filled in.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from facility_emulator.problems import ProblemError
from facility_emulator.sandbox import Sandbox, SandboxError
from facility_emulator.scheduler import LaunchPlan

JOBSPEC_FIELDS = {
    "executable",
    "container",
    "arguments",
    "directory",
    "name",
    "inherit_environment",
    "environment",
    "stdin_path",
    "stdout_path",
    "stderr_path",
    "resources",
    "attributes",
    "pre_launch",
    "post_launch",
    "launcher",
}
WRAPPER = '{pre}\n"$@"\n__rc=$?\n{post}\nexit $__rc\n'


def _bad(detail: str) -> ProblemError:
    return ProblemError(400, detail)


def validate_shape(spec: Any) -> dict[str, Any]:
    """Check the JSON shape of a JobSpec (422 for schema violations)."""
    if not isinstance(spec, dict):
        raise ProblemError(422, "job spec must be a JSON object")
    unknown = sorted(set(spec) - JOBSPEC_FIELDS)
    if unknown:
        raise ProblemError(422, f"unknown job spec field(s): {unknown}")
    args = spec.get("arguments", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ProblemError(422, "arguments must be a list of strings")
    env = spec.get("environment", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ProblemError(422, "environment must map names to strings")
    for key in ("resources", "attributes"):
        if spec.get(key) is not None and not isinstance(spec[key], dict):
            raise ProblemError(422, f"{key} must be an object")
    duration = (spec.get("attributes") or {}).get("duration")
    if duration is not None and (not isinstance(duration, int) or isinstance(duration, bool) or duration < 1):
        raise ProblemError(422, "attributes.duration must be an integer >= 1 (seconds)")
    return spec


def _inside(sandbox: Sandbox, raw: str, base: Path, what: str) -> Path:
    try:
        return sandbox.resolve(raw, base=base)
    except SandboxError as exc:
        raise _bad(f"{what}: {exc}") from exc


def _output_path(sandbox: Sandbox, raw: str | None, directory: Path, default_name: str, what: str) -> Path:
    if not raw:
        return directory / default_name
    path = _inside(sandbox, raw, directory, what)
    if path.is_dir():
        return path / default_name
    if not path.parent.is_dir():
        raise _bad(f"{what}: directory {path.parent} does not exist")
    return path


def build_plan(sandbox: Sandbox, spec: dict[str, Any], job_id: str) -> tuple[LaunchPlan, dict[str, Any]]:
    """Validate ``spec`` and compute the launch plan and the concrete spec to report."""
    if spec.get("container"):
        raise _bad("containers are not supported by this facility's local scheduler")
    executable = spec.get("executable")
    if not executable or not isinstance(executable, str):
        raise _bad("executable is required")
    directory = _inside(sandbox, spec.get("directory") or str(sandbox.home), sandbox.home, "directory")
    if not directory.is_dir():
        raise _bad(f"directory {directory} does not exist")
    name = spec.get("name") or "job"
    stdout = _output_path(sandbox, spec.get("stdout_path"), directory, f"{name}.{job_id}.out", "stdout_path")
    stderr = _output_path(sandbox, spec.get("stderr_path"), directory, f"{name}.{job_id}.err", "stderr_path")
    stdin = None
    if spec.get("stdin_path"):
        stdin = _inside(sandbox, spec["stdin_path"], directory, "stdin_path")
        if not stdin.is_file():
            raise _bad(f"stdin_path {stdin} does not exist")
    inherit = spec.get("inherit_environment", True)
    env = dict(os.environ) if inherit is not False else {"PATH": os.defpath}
    env.update(spec.get("environment") or {})
    env["HOME"] = str(sandbox.home)
    env["IRI_JOB_ID"] = job_id
    env["PWD"] = str(directory)
    argv = [executable, *spec.get("arguments", [])]
    if spec.get("pre_launch") or spec.get("post_launch"):
        script = WRAPPER.format(pre=spec.get("pre_launch") or ":", post=spec.get("post_launch") or ":")
        argv = ["/bin/sh", "-c", script, "job", *argv]
    duration = (spec.get("attributes") or {}).get("duration")
    plan = LaunchPlan(
        argv=argv,
        cwd=directory,
        env=env,
        stdout=stdout,
        stderr=stderr,
        stdin=stdin,
        walltime=float(duration) if duration else None,
    )
    reported = copy.deepcopy(spec)
    reported.update(
        {
            "directory": str(directory),
            "stdout_path": str(stdout),
            "stderr_path": str(stderr),
            "inherit_environment": inherit is not False,
            "environment": dict(spec.get("environment") or {}),
        }
    )
    if stdin is not None:
        reported["stdin_path"] = str(stdin)
    return plan, reported

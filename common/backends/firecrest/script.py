"""The batch script and the submit body of a FirecREST v2 job.

FirecREST takes a whole batch script (``PostJobSubmitRequest.job.script``); the working directory,
environment, account, partition and reservation are fields of the request beside it. The script
is rendered by the shared Slurm renderer (:mod:`..slurm_script`) with :data:`SITE`; the submit tag
rides in a comment line ``# facility-submit-tag: <tag>`` right after the ``#!`` line (comments do
not end Slurm's directive block) and in the environment (``FACILITY_SUBMIT_TAG``). The job's
metadata (``GET .../jobs/{id}/metadata``) gives the script back, so a job is recognised by that line.
"""

from __future__ import annotations

from typing import Any

from ...errors import InvalidJobSpec
from ...models import JobSpec
from ..slurm_script import (
    SlurmSite,
    check_tag,
    directive_lines,
    given_script_options,
    insert_after_shebang,
    job_environment,
    render_batch_script,
    sbatch_options,
)

__all__ = ["SITE", "TAG_LINE_PREFIX", "render_script", "submit_body", "tag_of_script"]

FACILITY = "firecrest"
TAG_LINE_PREFIX = "# facility-submit-tag: "

SITE = SlurmSite(
    facility=FACILITY,
    queue_option=None,
    default_job_name="facility-job",
    files_before_attributes=True,
    reserved=frozenset({"job-name"}),
    tag_line=TAG_LINE_PREFIX,
)
"""FirecREST: the tag rides in a comment line (comments do not end Slurm's directive block);
queue, account, reservation, working directory and environment are fields of the API's submit
request. ``--job-name`` is reserved: a job is looked for by its name and tag."""


def render_script(spec: JobSpec, *, tag: str | None) -> str:
    """The batch script of ``spec``: the submit tag as a comment, ``#SBATCH`` lines for what the
    spec asks, then the command.

    A spec that brings its own ``script`` is sent as written, with the tag line and the spec's
    name and stdin/stdout/stderr paths added as directives right after its ``#!`` line (its own
    directives come later, so they win where both speak). ``custom_attributes`` become
    ``#SBATCH --<key>=<value>`` lines.
    """
    if spec.script is None:
        return render_batch_script(spec, SITE, sbatch_options(spec, SITE, tag=tag), tag=tag)
    if not spec.script.startswith("#!"):
        raise InvalidJobSpec(
            "script: a batch script must start with a #! line", field="script", facility=FACILITY
        )
    head = [TAG_LINE_PREFIX + check_tag(tag, FACILITY)] if tag is not None else []
    return insert_after_shebang(spec.script, head + directive_lines(given_script_options(spec, SITE)))


def submit_body(
    spec: JobSpec,
    *,
    tag: str | None,
    directory: str,
    account: str | None,
    partition: str | None,
) -> dict[str, Any]:
    """The ``PostJobSubmitRequest`` of ``spec``: the script, the working directory, the
    environment (with the submit tag), and the account, partition and reservation when known
    (the spec's own before the backend's defaults)."""
    job: dict[str, Any] = {
        "script": render_script(spec, tag=tag),
        "workingDirectory": spec.directory or directory,
    }
    environment = job_environment(spec, tag)
    if environment:
        job["env"] = environment
    optional = {
        "account": spec.attributes.account or account,
        "partition": spec.attributes.queue_name or partition,
        "reservation": spec.attributes.reservation_id,
    }
    job.update({key: value for key, value in optional.items() if value})
    return {"job": job}


def tag_of_script(script: str | None) -> str | None:
    """The submit tag a rendered script carries, if any (the line follows the ``#!`` line)."""
    for line in (script or "").splitlines()[:3]:
        if line.startswith(TAG_LINE_PREFIX):
            return line[len(TAG_LINE_PREFIX) :].strip()
    return None

"""Golden files of every Slurm script and job description the backends write.

A matrix of JobSpecs is rendered by each writer (SF API, FirecREST, slurmrestd/S3M per data-parser
version) and the Parsl pilot renders its own matrix; each result is compared with its file under
``tests/payloads/slurm_scripts/<writer>/<case>.txt``. A spec a writer refuses is recorded as the
refusal (the error's class, field and facility; the wording may change). Any change of output is
deliberate: regenerate with ``UPDATE_GOLDEN=1 pytest tests/unit/test_slurm_script_golden.py`` and
say in the commit why the old output was wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from facility_common import InvalidJobSpec, JobAttributes, JobSpec, ResourceSpec
from facility_common.backends.firecrest import script as firecrest_script
from facility_common.backends.sfapi import script as sfapi_script
from facility_common.backends.slurmrest.jobs import render_job, script_for
from facility_common.backends.slurmrest.requests import build_submit
from parsl_facility.pilot import PilotSettings, build_job_spec
from parsl_facility.pilot import render_script as render_pilot

GOLDEN = Path(__file__).resolve().parents[1] / "payloads" / "slurm_scripts"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
TAG = "tag-0001"
TAG_VARIABLE = "FACILITY_SUBMIT_TAG"
SLURMREST_VERSIONS = ("v0.0.38", "v0.0.44")
PILOT_COMMAND = "process_worker_pool.py --port=54001 --cert_dir None -c 1"

FULL_PILOT = PilotSettings(
    walltime=timedelta(hours=1, minutes=30),
    nodes_per_block=2,
    account="m1234",
    queue="debug",
    reservation="maint",
    cores_per_node=32,
    mem_per_node=64.5,
    exclusive=True,
    worker_init="module load python\nsource activate parsl  # env\n",
    workdir="/scratch/parsl",
    environment={"PYTHONPATH": "/home/u/lib", "OMP_NUM_THREADS": "4"},
    custom_attributes={"constraint": "cpu"},
)
PILOTS: dict[str, PilotSettings] = {
    "minimal": PilotSettings(walltime=timedelta(minutes=30)),
    "full": FULL_PILOT,
    "blank_worker_init": PilotSettings(walltime=timedelta(seconds=90), worker_init="  \n", mem_per_node=0.5),
}


def _pilot_spec(settings: PilotSettings) -> JobSpec:
    script = render_pilot(settings, "parsl.htex.block-0", PILOT_COMMAND)
    return build_job_spec(settings, "parsl.htex.block-0", script)


SPECS: dict[str, JobSpec] = {
    "minimal": JobSpec(executable="/bin/true"),
    "arguments_quoting": JobSpec(
        executable="/usr/bin/env",
        arguments=["printf", "%s\\n", "hello world", "it's", 'say "hi"', "$HOME", "", "a;b|c", "tab\there"],
        name="quoting",
    ),
    "argument_with_newline": JobSpec(executable="/bin/echo", arguments=["line one\nline two"]),
    "script_given": JobSpec(script="#!/bin/bash\n#SBATCH --nodes=1\necho hi\n", name="scripted"),
    "script_given_with_paths": JobSpec(
        script="#!/bin/bash\n#SBATCH -o out-%j.txt\nsrun hostname\n",
        name="scripted",
        stdin_path="/data/in.txt",
        stdout_path="/data/out-%j.txt",
        stderr_path="/data/err-%j.txt",
        environment={"A": "1"},
        attributes=JobAttributes(duration=timedelta(minutes=5), queue_name="debug", account="m1234"),
    ),
    "script_without_shebang": JobSpec(script="echo hi\n"),
    "script_with_own_comment": JobSpec(script="#!/bin/bash\n#SBATCH --comment=mine\necho\n"),
    "script_indented_directives": JobSpec(
        script="#!/bin/bash\n  #SBATCH -C gpu\n\t#SBATCH --qos=debug\n#SBATCH -N 1\nsrun hostname\n"
    ),
    "duration_sub_minute": JobSpec(
        executable="/bin/sleep", arguments=["1"], attributes=JobAttributes(duration=timedelta(seconds=30))
    ),
    "duration_fractional_seconds": JobSpec(
        executable="/bin/true", attributes=JobAttributes(duration=timedelta(seconds=90, milliseconds=500))
    ),
    "duration_whole_hours": JobSpec(
        executable="/bin/true", attributes=JobAttributes(duration=timedelta(hours=2))
    ),
    "duration_over_a_day": JobSpec(
        executable="/bin/true", attributes=JobAttributes(duration=timedelta(days=1, hours=2, seconds=5))
    ),
    "resources_full": JobSpec(
        executable="/bin/hostname",
        resources=ResourceSpec(
            node_count=2,
            process_count=8,
            processes_per_node=4,
            cpu_cores_per_process=2,
            gpu_cores_per_process=1,
            memory=3 * 2**30,
            exclusive_node_use=True,
        ),
    ),
    "memory_not_whole_mebibytes": JobSpec(
        executable="/bin/true", resources=ResourceSpec(memory=1_500_000, exclusive_node_use=False)
    ),
    "memory_under_a_mebibyte": JobSpec(executable="/bin/true", resources=ResourceSpec(memory=1000)),
    "scheduling": JobSpec(
        executable="/bin/true",
        attributes=JobAttributes(queue_name="debug", account="m1234", reservation_id="maint_2025"),
    ),
    "account_with_spaces": JobSpec(
        executable="/bin/true", attributes=JobAttributes(account="m1234 --job-name=INJECTED --chdir=/x")
    ),
    "custom_attributes": JobSpec(
        executable="/bin/true",
        attributes=JobAttributes(
            custom_attributes={"constraint": "gpu", "--mail-type": "END,FAIL", "requeue": ""}
        ),
    ),
    "custom_job_description_fields": JobSpec(
        executable="/bin/true", attributes=JobAttributes(custom_attributes={"mail_type": "END"})
    ),
    "custom_value_with_space": JobSpec(
        executable="/bin/true", attributes=JobAttributes(custom_attributes={"constraint": "gpu&large mem"})
    ),
    "custom_key_not_an_option": JobSpec(
        executable="/bin/true", attributes=JobAttributes(custom_attributes={"bad key!": "x"})
    ),
    "custom_comment": JobSpec(
        executable="/bin/true", attributes=JobAttributes(custom_attributes={"comment": "mine"})
    ),
    "io_paths": JobSpec(
        executable="/bin/cat",
        directory="/scratch/run",
        stdin_path="/scratch/run/in.txt",
        stdout_path="/scratch/run/out-%j.txt",
        stderr_path="/scratch/run/err-%j.txt",
    ),
    "path_with_space": JobSpec(executable="/bin/true", stdout_path="/scratch/my run/out.txt"),
    "environment": JobSpec(
        executable="/bin/env",
        environment={"A": "it's", "B": "x y", "MULTI": "l1\nl2", TAG_VARIABLE: TAG},
    ),
    "name_unusual": JobSpec(executable="/bin/true", name="my job #1"),
    "everything": JobSpec(
        executable="/opt/app/bin/sim",
        arguments=["--input", "/scratch/run/in.h5", "--steps=100"],
        name="sim-run.1",
        directory="/scratch/run",
        environment={"OMP_NUM_THREADS": "8"},
        stdout_path="sim-%j.out",
        stderr_path="sim-%j.err",
        resources=ResourceSpec(node_count=4, processes_per_node=8, cpu_cores_per_process=4, memory=2**35),
        attributes=JobAttributes(
            duration=timedelta(hours=12),
            queue_name="regular",
            account="m1234",
            custom_attributes={"constraint": "gpu"},
        ),
    ),
    **{f"parsl_pilot_{name}": _pilot_spec(settings) for name, settings in PILOTS.items()},
}


def _refusal(exc: InvalidJobSpec) -> str:
    return f"refused: InvalidJobSpec field={exc.field} facility={exc.facility}\n"


def _rendered(render: Callable[[], str]) -> str:
    try:
        return render()
    except InvalidJobSpec as exc:
        return _refusal(exc)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


def render_sfapi(spec: JobSpec) -> str:
    script, comment = sfapi_script.render_script(spec, tag=TAG)
    return f"== comment ==\n{comment!r}\n== script ==\n{script}"


def render_firecrest(spec: JobSpec) -> str:
    body = firecrest_script.submit_body(
        spec, tag=TAG, directory="/users/alice", account="g1", partition="normal"
    )
    script = body["job"].pop("script")
    return f"== submit body ==\n{_json(body)}\n== script ==\n{script}"


def render_slurmrest(spec: JobSpec) -> str:
    parts = []
    for version in SLURMREST_VERSIONS:
        job = render_job(
            spec,
            version=version,
            partition="debug",
            tag=TAG,
            directory="/work",
            base_environment={"PATH": "/usr/local/bin:/usr/bin:/bin"},
        )
        body = build_submit(f"slurm/{version}", version, job, script_for(spec)).json
        script = body.get("script") or body["job"]["script"]
        (body if "script" in body else body["job"])["script"] = "<the script below>"
        parts.append(f"== {version} body ==\n{_json(body)}\n")
    return "".join(parts) + f"== script ==\n{script}"


WRITERS: dict[str, Callable[[JobSpec], str]] = {
    "sfapi": render_sfapi,
    "firecrest": render_firecrest,
    "slurmrest": render_slurmrest,
}


def render_pilot_case(settings: PilotSettings) -> str:
    script = render_pilot(settings, "parsl.htex.block-0", PILOT_COMMAND)
    spec = build_job_spec(settings, "parsl.htex.block-0", script).to_dict()
    spec["arguments"] = [("<the script below>" if a == script else a) for a in spec["arguments"]]
    return f"== spec ==\n{_json(spec)}\n== script ==\n{script}"


def check(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(), f"{path.relative_to(GOLDEN)} differs from its golden file"


@pytest.mark.parametrize("case", sorted(SPECS))
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_writer_output_matches_its_golden_file(writer: str, case: str) -> None:
    spec = SPECS[case]
    check(GOLDEN / writer / f"{case}.txt", _rendered(lambda: WRITERS[writer](spec)))


@pytest.mark.parametrize("case", sorted(PILOTS))
def test_pilot_matches_its_golden_file(case: str) -> None:
    check(GOLDEN / "pilot" / f"{case}.txt", _rendered(lambda: render_pilot_case(PILOTS[case])))


def test_every_golden_file_has_a_case() -> None:
    expected = {f"{w}/{c}.txt" for w in WRITERS for c in SPECS} | {f"pilot/{c}.txt" for c in PILOTS}
    found = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.txt")}
    assert found == expected

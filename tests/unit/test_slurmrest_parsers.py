"""slurmrestd parsers and request builders on recorded v0.0.38 payloads, and rendering per version."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from facility_common import JobAttributes, JobSpec, JobState, ResourceSpec
from facility_common.backends.slurmrest.discovery import ServedApi, served_in_document
from facility_common.backends.slurmrest.jobs import comment_tag, render_job, script_for
from facility_common.backends.slurmrest.parsers import (
    error_text,
    exit_code,
    parse_job,
    parse_jobs,
    parse_submit,
    refusal_text,
    refused_by_slurmctld,
)
from facility_common.backends.slurmrest.requests import build_submit
from facility_common.backends.slurmrest.status import parse_nodes, parse_partitions, parse_reservations
from facility_common.backends.slurmrest.versions import normalise_version
from facility_common.errors import ConfigurationError
from facility_common.models import ResourceState

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "slurmrest"


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def test_jobs_of_every_end_state() -> None:
    jobs = {job.native_state: job for job in parse_jobs(load("v0.0.38_jobs.json"), "debug")}
    assert jobs["COMPLETED"].state is JobState.COMPLETED and jobs["COMPLETED"].exit_code == 0
    assert jobs["FAILED"].state is JobState.FAILED and jobs["FAILED"].exit_code == 3  # wait status 768
    assert jobs["CANCELLED"].state is JobState.CANCELLED
    assert jobs["TIMEOUT"].state is JobState.TIMEOUT  # never FAILED
    failed = jobs["FAILED"]
    assert failed.resource == "debug"
    assert failed.stdout_path == "/tmp/t1.out"
    assert failed.submitted_at is not None and failed.finished_at is not None
    assert failed.message == "NonZeroExitCode"


def test_get_job_answer_has_the_same_shape() -> None:
    (job,) = parse_jobs(load("v0.0.38_job_failed.json"), "debug")
    assert job.id == "1" and job.state is JobState.FAILED and comment_tag(job.raw) is None


def test_partitions_nodes_and_maintenance_reservations() -> None:
    (partition,) = parse_partitions(load("v0.0.38_partitions.json"))
    assert partition.name == partition.id == "debug" and partition.state is ResourceState.UP
    (node,) = parse_nodes(load("v0.0.38_nodes.json"))
    assert node["name"] == "localhost" and node["usable"] is True
    (outage,) = parse_reservations(load("v0.0.38_reservations.json"))
    assert outage.planned and outage.name == "maint" and outage.resources == ()
    assert outage.start is not None and outage.end is not None and outage.start < outage.end


def test_wait_status_and_struct_exit_codes() -> None:
    assert exit_code({"exit_code": 768}) == 3
    assert exit_code({"exit_code": 9}) == 137  # killed by SIGKILL
    assert exit_code({"exit_code": {"return_code": {"set": True, "number": 2}}}) == 2
    assert exit_code({"exit_code": {"return_code": {"set": False, "number": 0}}}) is None


def test_submit_answer_and_refusal() -> None:
    assert parse_submit({"job_id": 12, "errors": []}) == "12"
    with pytest.raises(ValueError, match="Unknown key"):
        parse_submit({"errors": [{"description": 'Unknown key "x"', "error_number": 9001}]})


def test_only_slurmctlds_own_error_numbers_make_a_500_a_refusal() -> None:
    assert refused_by_slurmctld(load("v0.0.38_submit_refused.json"))  # unknown partition, error 2000
    assert refused_by_slurmctld({"errors": [{"description": "Invalid account", "error_number": 2045}]})
    # A lost answer from slurmctld (communication error 1003), no number, or no slurmrestd body
    # at all: the job may exist.
    assert not refused_by_slurmctld(
        {"errors": [{"error": "Zero Bytes were transmitted", "error_number": 1003}]}
    )
    assert not refused_by_slurmctld({"errors": [{"description": "failed"}]})
    assert not refused_by_slurmctld({"type": "about:blank", "status": 500, "detail": "injected fault 500"})
    assert not refused_by_slurmctld({"job_id": 5, "errors": [{"error_number": 2000}]})


SPEC = JobSpec(
    executable="/bin/echo",
    arguments=["hello world"],
    environment={"A": "1"},
    resources=ResourceSpec(node_count=2, process_count=4, memory=3 * 2**30),
    attributes=JobAttributes(duration=timedelta(seconds=61), account="proj"),
)


def render(version: str) -> dict[str, Any]:
    return render_job(
        SPEC, version=version, partition="debug", tag="t1", directory="/w", base_environment={"PATH": "/bin"}
    )


def test_v0038_renders_a_map_environment_and_minutes() -> None:
    job = render("v0.0.38")
    assert job["environment"] == {"PATH": "/bin", "A": "1", "FACILITY_SUBMIT_TAG": "t1"}
    assert job["time_limit"] == 2  # 61 s rounds up to whole minutes
    assert job["nodes"] == [2, 2] and job["memory_per_node"] == 3072
    assert job["comment"] == "facility-submit-tag:t1" and job["partition"] == "debug"
    assert job["standard_output"] == "/w/slurm-%j.out"
    body = build_submit("slurm/v0.0.38", "v0.0.38", job, script_for(SPEC)).json
    assert body["script"] == "#!/bin/sh\nexec /bin/echo 'hello world'\n" and "script" not in body["job"]


@pytest.mark.parametrize("version", ["v0.0.40", "v0.0.43", "v0.0.44"])
def test_later_versions_render_lists_and_structs(version: str) -> None:
    job = render(version)
    assert job["environment"] == ["PATH=/bin", "A=1", "FACILITY_SUBMIT_TAG=t1"]
    assert job["time_limit"] == {"number": 2, "set": True, "infinite": False}
    assert job["minimum_nodes"] == job["maximum_nodes"] == 2
    body = build_submit(f"slurm/{version}", version, job, "#!/bin/sh\ntrue\n").json
    assert set(body) == {"job"} and body["job"]["script"] == "#!/bin/sh\ntrue\n"


def test_versions_are_normalised_or_refused() -> None:
    assert normalise_version("0.0.43", facility="slurmrest") == "v0.0.43"
    with pytest.raises(ConfigurationError, match=r"v0\.0\.37"):
        normalise_version("v0.0.37", facility="slurmrest")


def test_refusals_read_as_slurmrestd_words_not_its_json() -> None:
    """A job description slurmrestd cannot read is a 400 (``error_code`` in v0.0.38); slurmctld's
    refusal a 500; later versions put what failed in ``description`` and why in ``error``."""
    unreadable = load("v0.0.38_submit_unreadable.json")
    assert refusal_text(unreadable, json.dumps(unreadable)) == (
        'Unable to read integer value (error 9202); Unable to process key "nice"; '
        "Failure during parsing (error 9001)"
    )
    assert error_text(load("v0.0.38_submit_refused.json")) == "Invalid partition name specified (error 2000)"
    v0043 = {
        "errors": [
            {
                "description": "Batch job submission failed",
                "error_number": 2000,
                "error": "Invalid partition name specified",
                "source": "slurm_submit_batch_job()",
            }
        ]
    }
    assert error_text(v0043) == "Batch job submission failed: Invalid partition name specified (error 2000)"
    gateway = {"code": 3, "message": "invalid", "public_message": "the job has no script"}
    assert refusal_text(gateway, json.dumps(gateway)) == "the job has no script"
    assert refusal_text(None, "<html>bad request</html>") == "<html>bad request</html>"


def test_an_accounting_record_reads_as_a_finished_job() -> None:
    """Debian's dbv0.0.38 writes ``state.current`` as a word and, for a job that exited 3,
    ``exit_code`` 0 (the code is lost there): FAILED without a code, never RUNNING."""
    job = parse_job(load("v0.0.38_slurmdb_job_failed.json")["jobs"][0], "debug")
    assert (job.id, job.state, job.exit_code, job.native_state) == ("255", JobState.FAILED, None, "FAILED")
    assert job.finished_at is not None and job.submitted_at is not None
    assert load("v0.0.38_slurmdb_job_missing.json")["jobs"] == []


def test_the_served_versions_come_from_the_openapi_document() -> None:
    assert served_in_document(load("v0.0.38_openapi_paths.json")) == ServedApi("v0.0.38", accounting=True)
    without_accounting = {"paths": {"/slurm/v0.0.38/ping": {}, "/slurm/v0.0.37/ping": {}}}
    assert served_in_document(without_accounting) == ServedApi("v0.0.38", accounting=False)
    newer = {
        "paths": {"/slurm/v0.0.41/jobs/": {}, "/slurm/v0.0.42/jobs/": {}, "/slurmdb/v0.0.41/job/{job_id}": {}}
    }
    assert served_in_document(newer) == ServedApi("v0.0.42", accounting=False)
    assert served_in_document({"paths": {"/slurm/v0.0.36/ping": {}}}) is None
    assert served_in_document("not a document") is None

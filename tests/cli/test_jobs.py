"""Jobs from the command: why a job failed, waiting, the default resource, job detail, filters,
following output, cancelling a finished job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import run


@pytest.fixture
def polaris(env: dict[str, str | None]) -> dict[str, str | None]:
    """The user's environment with polaris as the connection's resource."""
    return {**env, "FACILITY_RESOURCE": "polaris"}


def _submit(env: dict[str, str | None], *command: str, options: tuple[str, ...] = ()) -> str:
    result = run(env, "submit", *options, "--", *command)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_the_default_resource_serves_every_job_command(polaris: dict[str, str | None]) -> None:
    job_id = _submit(polaris, "/bin/echo", "hi")
    assert job_id.isdigit()
    assert run(polaris, "wait", job_id, "--interval", "0.1").exit_code == 0
    assert run(polaris, "output", job_id).stdout == "hi\n"
    assert job_id in {job["id"] for job in json.loads(run(polaris, "jobs", "--json").stdout)}
    assert run(polaris, "job", job_id, "--json").exit_code == 0
    assert run(polaris, "cancel", job_id).exit_code == 0


def test_without_any_resource_the_command_says_how_to_name_one(env: dict[str, str | None]) -> None:
    result = run(env, "submit", "--", "/bin/echo", "hi")
    assert result.exit_code == 2
    assert "no resource: give --resource NAME" in result.stderr
    assert "unknown resource" not in result.output


def test_waiting_for_a_mistyped_job_ends_with_exit_7(polaris: dict[str, str | None]) -> None:
    result = run(polaris, "wait", "424242", "--interval", "0.05", "--grace", "0.3", "--timeout", "60")
    assert result.exit_code == 7, result.output
    assert "not found" in result.stderr and "424242" in result.stderr


def test_wait_and_submit_wait_say_why_a_job_failed(polaris: dict[str, str | None]) -> None:
    job_id = _submit(polaris, "/no/such/binary")
    waited = run(polaris, "wait", job_id, "--interval", "0.1")
    assert waited.exit_code == 8
    assert f"job {job_id}: FAILED" in waited.stdout
    assert "No such file or directory" in waited.stdout and "/no/such/binary" in waited.stdout
    timed_out = run(
        polaris, "submit", "--time", "2s", "--wait", "--interval", "0.1", "--", "/bin/sleep", "60"
    )
    assert timed_out.exit_code == 8
    assert "TIMEOUT" in timed_out.stderr and "walltime exceeded" in timed_out.stderr
    listing = run(polaris, "jobs", "--state", "failed,timeout")
    assert listing.exit_code == 0
    header, *rows = listing.stdout.splitlines()
    assert "REASON" in header
    assert any(job_id in row and "/no/such/binary" in row for row in rows)
    assert any("TIMEOUT" in row and "walltime exceeded" in row for row in rows)


def test_submit_wait_prints_only_the_id_on_stdout(polaris: dict[str, str | None]) -> None:
    result = run(polaris, "submit", "--wait", "--interval", "0.1", "--", "/bin/echo", "captured")
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    assert job_id.isdigit()
    assert f"job {job_id}: COMPLETED (exit code 0)" in result.stderr
    assert "state changes" not in result.stderr and f"job {job_id}: " in result.stderr
    with_output = run(polaris, "submit", "-w", "-o", "--interval", "0.1", "--", "/bin/echo", "printed")
    assert with_output.stdout.splitlines()[1:] == ["printed"]


def test_wait_reports_each_state_change_with_the_time_elapsed(polaris: dict[str, str | None]) -> None:
    job_id = _submit(polaris, "/bin/sleep", "0.5")
    result = run(polaris, "wait", job_id, "--interval", "0.05")
    assert result.exit_code == 0, result.output
    changes = [line for line in result.stderr.splitlines() if f"job {job_id}:" in line]
    assert changes[0].startswith("[") and "s] job" in changes[0]
    assert [line.rpartition(": ")[2].split()[0] for line in changes][-1] == "COMPLETED"
    assert len(changes) >= 2  # at least one state before the end


def test_job_detail_and_its_native_record(polaris: dict[str, str | None]) -> None:
    job_id = _submit(polaris, "/bin/echo", "detail", options=("--name", "detailed"))
    run(polaris, "wait", job_id, "--interval", "0.1")
    shown = run(polaris, "job", job_id)
    assert shown.exit_code == 0, shown.output
    lines = dict(line.split(None, 1) for line in shown.stdout.splitlines() if not line.startswith("exit"))
    assert lines["job"] == job_id and lines["name"] == "detailed" and lines["state"].startswith("COMPLETED")
    assert "exit code  0" in shown.stdout and lines["stdout"].endswith(".out")
    native = json.loads(run(polaris, "job", job_id, "--json").stdout)
    assert native["raw"]["status"]["state"] == "completed" and native["state"] == "COMPLETED"


def test_jobs_are_filtered_by_state_and_limited(polaris: dict[str, str | None]) -> None:
    first = _submit(polaris, "/bin/true")
    second = _submit(polaris, "/bin/true")
    for job_id in (first, second):
        run(polaris, "wait", job_id, "--interval", "0.1")
    newest = json.loads(run(polaris, "jobs", "--state", "COMPLETED", "--limit", "1", "--json").stdout)
    assert [job["id"] for job in newest] == [second]
    assert run(polaris, "jobs", "--state", "nonsense").exit_code == 2


def test_script_jobs_are_named_after_their_file(polaris: dict[str, str | None], tmp_path: Path) -> None:
    script = tmp_path / "analysis.sh"
    script.write_text("#!/bin/bash\necho ok\n")
    job_id = run(polaris, "submit", "--script", str(script)).stdout.strip()
    assert json.loads(run(polaris, "job", job_id, "--json").stdout)["name"] == "analysis.sh"


def test_output_follow_prints_until_the_job_ends(polaris: dict[str, str | None]) -> None:
    job_id = _submit(polaris, "/bin/sh", "-c", "echo one; sleep 0.4; echo two")
    result = run(polaris, "output", job_id, "--follow", "--interval", "0.05")
    assert result.exit_code == 0, result.output
    assert result.stdout == "one\ntwo\n"


def test_cancelling_a_finished_job_is_not_an_error(polaris: dict[str, str | None]) -> None:
    job_id = _submit(polaris, "/bin/true")
    run(polaris, "wait", job_id, "--interval", "0.1")
    result = run(polaris, "cancel", job_id)
    assert result.exit_code == 0, result.output
    assert "already ended (COMPLETED)" in result.stdout
    assert json.loads(run(polaris, "cancel", job_id, "--json").stdout)["cancelled"] is False


def test_submit_options_reach_the_job(polaris: dict[str, str | None], cli_emulator: Any) -> None:
    home = cli_emulator.credentials["home"]
    job_id = _submit(
        polaris,
        "/bin/sh",
        "-c",
        'echo "$GREETING $FACILITY_SUBMIT_TAG"',
        options=("-e", "GREETING=hello", "--tag", "cli-tag-1", "--stdout", f"{home}/tagged.out"),
    )
    assert run(polaris, "wait", job_id, "--interval", "0.1").exit_code == 0
    assert Path(home, "tagged.out").read_text() == "hello cli-tag-1\n"
    again = run(polaris, "submit", "--tag", "cli-tag-1", "--", "/bin/true")
    assert again.stdout.strip() == job_id  # the tag finds the job: not submitted twice
    assert f"job {job_id} already carries tag cli-tag-1" in again.stderr


def test_output_follow_reads_the_api_output_stream_where_it_has_one(
    env: dict[str, str | None], cli_emulator: Any
) -> None:
    import httpx

    flux = {
        **env,
        "FACILITY_API": "flux",
        "FACILITY_URL": cli_emulator.api_url("flux", "none"),
        "FACILITY_TOKEN": None,
        "FACILITY_RESOURCE": "flux",
    }
    job_id = _submit(flux, "/bin/sh", "-c", "echo one; echo two")

    def streams() -> int:
        routes = httpx.get(f"{cli_emulator.url}/_emulator/stats", timeout=10).json()["routes"]
        return int(routes.get("GET /flux-noauth/v1/jobs/{jobid}/output/stream", 0))

    before = streams()
    result = run(flux, "output", job_id, "--follow", "--interval", "0.05")
    assert result.exit_code == 0, result.output
    assert result.stdout == "one\ntwo\n"
    assert streams() > before

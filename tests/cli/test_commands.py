"""The job, status and file commands against the emulator: exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from .conftest import run


def test_status_lists_resources_and_never_prints_the_token(env: dict[str, str | None]) -> None:
    result = run(env, "status")
    assert result.exit_code == 0, result.output
    assert "polaris" in result.stdout and "up" in result.stdout
    assert str(env["FACILITY_TOKEN"]) not in result.output


def test_status_json_of_one_resource_is_an_object(env: dict[str, str | None]) -> None:
    result = run(env, "status", "polaris", "--json")
    assert result.exit_code == 0
    resource = json.loads(result.stdout)
    assert resource["name"] == "polaris" and resource["state"] == "up"
    assert json.loads(run(env, "status", "-r", "polaris", "--json").stdout) == resource
    assert isinstance(json.loads(run(env, "status", "--json").stdout), list)


def test_submit_a_command_wait_and_read_its_output(env: dict[str, str | None]) -> None:
    submitted = run(env, "submit", "-r", "polaris", "--", "/bin/echo", "hello from the cli")
    assert submitted.exit_code == 0, submitted.output
    job_id = submitted.stdout.strip()
    waited = run(env, "wait", job_id, "-r", "polaris", "--interval", "0.1", "--timeout", "60")
    assert waited.exit_code == 0, waited.output
    assert f"job {job_id}: COMPLETED (exit code 0)" in waited.stdout
    output = run(env, "output", job_id, "-r", "polaris")
    assert output.stdout == "hello from the cli\n"
    listed = run(env, "jobs", "-r", "polaris", "--json")
    assert job_id in {job["id"] for job in json.loads(listed.stdout)}


def test_a_failing_script_exits_8_with_its_exit_code(env: dict[str, str | None], tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\necho partial\nexit 3\n")
    result = run(env, "submit", "-r", "polaris", "--script", str(script), "--wait", "--interval", "0.1")
    assert result.exit_code == 8, result.output
    assert "FAILED (exit code 3)" in result.stderr


def test_cancel_a_running_job(env: dict[str, str | None]) -> None:
    job_id = run(env, "submit", "-r", "polaris", "--", "/bin/sleep", "60").stdout.strip()
    cancelled = run(env, "cancel", job_id, "-r", "polaris")
    assert cancelled.exit_code == 0 and f"cancelled job {job_id}" in cancelled.stdout
    waited = run(env, "wait", job_id, "-r", "polaris", "--interval", "0.1", "--timeout", "60")
    assert waited.exit_code == 8 and "CANCELLED" in waited.stdout


def test_output_of_an_unknown_job_exits_7(env: dict[str, str | None]) -> None:
    result = run(env, "output", "999999", "-r", "polaris")
    assert result.exit_code == 7, result.output
    assert "not found" in result.output


def test_put_ls_get_round_trip(env: dict[str, str | None], cli_emulator: Any, tmp_path: Path) -> None:
    home = cli_emulator.credentials["home"]
    local = tmp_path / "data.txt"
    local.write_text("payload\n" * 100)
    put = run(env, "put", "-r", "polaris", str(local), f"{home}/data.txt")
    assert put.exit_code == 0, put.output
    listing = run(env, "ls", "-r", "polaris", home, "--json")
    assert "data.txt" in {entry["name"] for entry in json.loads(listing.stdout)}
    back = tmp_path / "back.txt"
    got = run(env, "get", "-r", "polaris", f"{home}/data.txt", str(back))
    assert got.exit_code == 0, got.output
    assert back.read_text() == local.read_text()


def test_outages_show_an_announced_incident(env: dict[str, str | None], cli_emulator: Any) -> None:
    incident = {
        "name": "cli test maintenance",
        "type": "planned",
        "start": "2030-01-01T00:00:00Z",
        "end": "2030-01-02T00:00:00Z",
        "resources": ["aurora"],
    }
    created = httpx.post(f"{cli_emulator.url}/_emulator/incidents", json=incident)
    created.raise_for_status()
    try:
        result = run(env, "outages", "--json")
        assert result.exit_code == 0, result.output
        assert "cli test maintenance" in {outage["name"] for outage in json.loads(result.stdout)}
    finally:
        httpx.delete(f"{cli_emulator.url}/_emulator/incidents/{created.json()['id']}")


def test_no_connection_at_all_exits_2(env: dict[str, str | None]) -> None:
    env = {**env, "FACILITY_URL": None, "FACILITY_API": None, "FACILITY_TOKEN": None}
    result = run(env, "status")
    assert result.exit_code == 2
    assert "no connection" in result.output


def test_wait_gives_up_after_its_timeout_with_exit_9(env: dict[str, str | None]) -> None:
    job_id = run(env, "submit", "-r", "polaris", "--", "/bin/sleep", "60").stdout.strip()
    try:
        result = run(env, "wait", job_id, "-r", "polaris", "--interval", "0.1", "--timeout", "0.5")
        assert result.exit_code == 9, result.output
        assert "timed out" in result.output
    finally:
        run(env, "cancel", job_id, "-r", "polaris")


def test_events_list_the_feed_and_since_shows_only_what_is_new(
    env: dict[str, str | None], cli_emulator: Any
) -> None:
    incident = {
        "name": "cli events",
        "type": "unplanned",
        "start": "2031-05-01T00:00:00Z",
        "end": "2031-05-01T01:00:00Z",
        "resources": ["home"],
    }
    created = httpx.post(f"{cli_emulator.url}/_emulator/incidents", json=incident)
    created.raise_for_status()
    try:
        listed = run(env, "events", "--resource", "home", "--json")
        assert listed.exit_code == 0, listed.output
        events = json.loads(listed.stdout)
        assert [e["name"] for e in events] == ["cli events begins", "cli events ends"]
        newer = run(env, "events", "-r", "home", "--since", events[0]["id"], "--json")
        assert [e["id"] for e in json.loads(newer.stdout)] == [events[1]["id"]]
        table = run(env, "events", "-r", "home", "--since", "2031-05-01T00:30:00Z")
        assert "cli events ends" in table.stdout and "cli events begins" not in table.stdout
        assert run(env, "events", "-r", "home", "--since", events[1]["id"]).exit_code == 0
    finally:
        httpx.delete(f"{cli_emulator.url}/_emulator/incidents/{created.json()['id']}")

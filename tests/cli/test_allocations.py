"""``facility allocations`` lists each project's grant, usage and what is left, and with
``--min-remaining`` exits 10 when a checked allocation has less left."""

from __future__ import annotations

import json
from typing import Any

import httpx

from .conftest import run


def _set(server: Any, project: str, **values: float) -> None:
    body = {"project": project, "capability": "polaris", **values}
    httpx.put(f"{server.url}/_emulator/allocations", json=body, timeout=10).raise_for_status()


def test_allocations_lists_every_project_or_one(env: dict[str, str | None], cli_emulator: Any) -> None:
    shown = run(env, "allocations")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].split() == [
        "PROJECT", "CAPABILITY", "RESOURCE", "USER", "UNIT", "ALLOCATED", "USED", "REMAINING", "LEFT"
    ]  # fmt: skip
    assert any(line.startswith("demo") and "polaris" in line and "node-hours" in line for line in lines)
    assert any(line.startswith("staff") for line in lines)
    data = json.loads(run(env, "allocations", "--project", "staff", "--json").stdout)
    assert {a["project"] for a in data["allocations"]} == {"staff"}
    polaris = next(a for a in data["allocations"] if a["resource"] == "polaris")
    assert polaris["remaining"] == polaris["allocated"] - polaris["used"]
    assert "check" not in data


def test_min_remaining_exits_10_below_it(env: dict[str, str | None], cli_emulator: Any) -> None:
    try:
        _set(cli_emulator, "staff", allocation=100.0, base_usage=99.0)
        low = run(env, "allocations", "-p", "staff", "--min-remaining", "5%")
        assert low.exit_code == 10, low.output
        assert "below the minimum: staff Polaris compute nodes: " in low.stdout
        data = json.loads(run(env, "allocations", "-p", "staff", "--min-remaining", "0.5", "--json").stdout)
        assert data["check"]["ok"] is True
        ok = run(env, "allocations", "-p", "staff", "--min-remaining", "0.5", "--capability", "polaris")
        assert ok.exit_code == 0, ok.output
        assert ok.stdout.splitlines()[-1].startswith("ok: staff Polaris compute nodes: ")
    finally:
        _set(cli_emulator, "staff", allocation=100.0, base_usage=40.0)


def test_bad_input_and_unknown_projects_say_what_is_wrong(env: dict[str, str | None]) -> None:
    several = run(env, "allocations", "--min-remaining", "1")
    assert several.exit_code == 2 and "project: the allocations belong to several projects" in several.stderr
    bad = run(env, "allocations", "-p", "demo", "--min-remaining", "plenty")
    assert bad.exit_code == 2 and "min_remaining" in bad.stderr
    unknown = run(env, "allocations", "-p", "nosuch")
    assert unknown.exit_code == 7 and "nosuch" in unknown.stderr


def test_an_api_without_allocations_says_where_to_look(env: dict[str, str | None], cli_emulator: Any) -> None:
    credentials = cli_emulator.flavour_credentials("s3m")
    conn = json.dumps(
        {"conn_type": "facility_s3m", "host": cli_emulator.api_url("s3m"), "password": credentials["token"]}
    )
    refused = run({**env, "FACILITY_CONN": conn}, "allocations")
    assert refused.exit_code == 1
    assert "not supported by this API" in refused.stderr and "myOLCF" in refused.stderr

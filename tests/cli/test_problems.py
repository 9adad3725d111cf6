"""Errors that would mislead are probed once and named for what they are: a base URL that does
not serve the API, TLS to a plain-HTTP server, a resource in an outage; slurmrestd's refusals
are shown in its own words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import NO_RETRY, run


def _conn(cli_emulator: Any, host: str, **options: Any) -> str:
    token = cli_emulator.credentials["static_token"]
    extra = {"resource": "polaris", "backend_options": options}
    return json.dumps({"conn_type": "facility_iri", "host": host, "password": token, "extra": extra})


@pytest.mark.parametrize("where", ["root", "sfapi"])
def test_a_base_url_that_does_not_serve_the_api_says_so(
    env: dict[str, str | None], cli_emulator: Any, where: str
) -> None:
    url = cli_emulator.url if where == "root" else cli_emulator.api_url("sfapi")
    env = {**env, "FACILITY_URL": url}
    for command in (["jobs", "-r", "polaris"], ["output", "424242", "-r", "polaris"], ["check"]):
        result = run(env, *command)
        assert result.exit_code == 2, result.output
        assert f"{url} does not serve the IRI Facility API (iri)" in result.stderr
        assert "https://api.alcf.anl.gov/api/v1" in result.stderr
        assert "check the name, id or path" not in result.stderr


def test_a_job_id_that_is_not_there_is_still_not_found(env: dict[str, str | None]) -> None:
    result = run(env, "output", "424242", "-r", "polaris")
    assert result.exit_code == 7 and "does not serve" not in result.stderr


def test_https_to_a_plain_http_server_says_tls_failed(env: dict[str, str | None], cli_emulator: Any) -> None:
    url = cli_emulator.iri_url("v1").replace("http://", "https://")
    result = run({**env, "FACILITY_CONN": _conn(cli_emulator, url, retry=NO_RETRY)}, "check")
    assert result.exit_code == 3, result.output
    assert "TLS failed" in result.stderr and "host unreachable" not in result.stderr
    assert f"use {cli_emulator.iri_url('v1')}" in result.stderr


@pytest.fixture
def polaris_outage(cli_emulator: Any) -> Iterator[dict[str, str]]:
    incident = {
        "name": "polaris maintenance",
        "description": "OS upgrade of the compute nodes",
        "type": "planned",
        "start": "2020-01-01T00:00:00Z",
        "end": "2030-01-02T00:00:00Z",
        "resources": ["polaris"],
    }
    created = httpx.post(f"{cli_emulator.url}/_emulator/incidents", json=incident)
    created.raise_for_status()
    try:
        yield incident
    finally:
        httpx.delete(f"{cli_emulator.url}/_emulator/incidents/{created.json()['id']}").raise_for_status()


def test_a_submit_during_an_outage_shows_its_retries_and_the_outage(
    env: dict[str, str | None], cli_emulator: Any, polaris_outage: dict[str, str]
) -> None:
    quick = {"attempts": 3, "backoff": 0.01, "jitter": 0}
    conn = _conn(cli_emulator, cli_emulator.iri_url("v1"), retry=quick)
    result = run({**env, "FACILITY_CONN": conn}, "submit", "--", "/bin/echo", "hi")
    assert result.exit_code == 6, result.output
    assert result.stderr.count("retrying in") == 2
    assert "the facility answered 503" in result.stderr
    assert "resource down: polaris is in outage 'polaris maintenance'" in result.stderr
    assert "OS upgrade of the compute nodes" in result.stderr and "expected to end 2030-01-0" in result.stderr
    checked = run({**env, "FACILITY_CONN": conn}, "check")
    assert checked.exit_code == 6
    assert "in outage 'polaris maintenance' (expected to end" in checked.stderr


def _slurmrest(cli_emulator: Any) -> str:
    credentials = cli_emulator.flavour_credentials("slurmrestd")
    return json.dumps(
        {
            "conn_type": "facility_slurmrest",
            "host": cli_emulator.api_url("slurmrestd"),
            "password": credentials["token"],
            "extra": {"user_name": credentials["user_name"], "resource": "debug"},
        }
    )


def test_a_slurmrestd_refusal_is_shown_in_its_own_words(
    env: dict[str, str | None], cli_emulator: Any
) -> None:
    conn = _slurmrest(cli_emulator)
    result = run({**env, "FACILITY_CONN": conn}, "submit", "--directory", "/outside", "--", "/bin/true")
    assert result.exit_code == 1, result.output
    assert "'/outside' is outside the sandbox" in result.stderr
    assert '"meta"' not in result.stderr


def test_slurmrest_check_queries_the_resource_it_checks(
    env: dict[str, str | None], cli_emulator: Any
) -> None:
    result = run({**env, "FACILITY_CONN": _slurmrest(cli_emulator)}, "check")
    assert result.exit_code == 0, result.output
    assert "credentials accepted (job query on debug)" in result.stdout

"""``facility submit`` reads walltimes as people type them and refuses bad input before sending,
saying what is wrong or missing; ``--dry-run`` shows what would be sent."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import typer

from facility_cli.jobspec import SubmitRequest, build_spec, parse_walltime

from .conftest import run


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", timedelta(minutes=90)),
        ("1.5", timedelta(seconds=90)),
        ("90m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("1d", timedelta(days=1)),
        ("30:00", timedelta(minutes=30)),
        ("1:00:00", timedelta(hours=1)),
        ("1-00:00:00", timedelta(days=1)),
        ("2-12", timedelta(days=2, hours=12)),
        ("1-02:30", timedelta(days=1, hours=2, minutes=30)),
        (" 10M ", timedelta(minutes=10)),
    ],
)
def test_walltime_forms(text: str, expected: timedelta) -> None:
    assert parse_walltime(text) == expected


@pytest.mark.parametrize("text", ["0", "-5", "0m", "nan", "inf", "1:75:00", "1h-", "soon", "", "00:00:00"])
def test_bad_walltimes_are_refused_naming_the_option(text: str) -> None:
    with pytest.raises(typer.BadParameter) as refused:
        parse_walltime(text)
    assert "HH:MM:SS" in str(refused.value)


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--time", "1:00:00x"], "not a walltime"),
        (["--time", "nan"], "not a number of minutes"),
        (["--time", "0"], "must be positive"),
        (["--time", "-3"], "must be positive"),
        (["--nodes", "0"], "greater than or equal to 1"),
        (["--env", "NOVALUE"], "expected NAME=VALUE"),
    ],
)
def test_bad_submit_input_exits_2_before_any_request(
    env: dict[str, str | None], arguments: list[str], says: str
) -> None:
    result = run(env, "submit", "-r", "polaris", *arguments, "--", "/bin/echo", "hi")
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert "Traceback" not in result.output


def test_submit_says_what_is_missing(env: dict[str, str | None], tmp_path: Path) -> None:
    nothing = run(env, "submit", "-r", "polaris")
    assert nothing.exit_code == 2
    assert "nothing to run: give a command after --" in nothing.stderr
    script = tmp_path / "job.sh"
    script.write_text("echo hi\n")
    both = run(env, "submit", "-r", "polaris", "--script", str(script), "--", "/bin/echo")
    assert both.exit_code == 2 and "not both" in both.stderr
    assert "--output needs --wait" in run(env, "submit", "-o", "--", "/bin/true").stderr


def test_the_spec_carries_every_option(tmp_path: Path) -> None:
    request = SubmitRequest(
        command=["--", "/bin/app", "--flag"],
        script=None,
        nodes=2,
        walltime="1h",
        queue="debug",
        account="P1",
        environment={"A": "1"},
        stdout="/o",
        stderr="/e",
        attributes={"filesystems": "home:eagle"},
        tag="t-1",
    )
    spec = build_spec(request, takes_script=False)
    assert (spec.executable, list(spec.arguments), spec.name) == ("/bin/app", ["--flag"], "app")
    assert spec.resources.node_count == 2 and spec.attributes.duration == timedelta(hours=1)
    assert spec.environment == {"A": "1", "FACILITY_SUBMIT_TAG": "t-1"}
    assert dict(spec.attributes.custom_attributes) == {"filesystems": "home:eagle"}
    assert (spec.stdout_path, spec.stderr_path, spec.attributes.queue_name) == ("/o", "/e", "debug")


def test_dry_run_prints_the_job_and_sends_nothing(env: dict[str, str | None], cli_emulator: object) -> None:
    before = run(env, "jobs", "-r", "polaris", "--json").stdout
    result = run(
        env,
        "submit",
        "-r",
        "polaris",
        "--dry-run",
        "--json",
        "--time",
        "90m",
        "--attr",
        "filesystems=home:eagle",
        "--",
        "/bin/hostname",
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["resource"] == "polaris" and shown["spec"]["executable"] == "/bin/hostname"
    assert shown["spec"]["attributes"]["custom_attributes"] == {"filesystems": "home:eagle"}
    assert str(env["FACILITY_TOKEN"]) not in result.output
    assert run(env, "jobs", "-r", "polaris", "--json").stdout == before
    text = run(env, "submit", "-r", "polaris", "--dry-run", "--", "/bin/hostname")
    assert "dry run: nothing is sent" in text.stderr and '"executable": "/bin/hostname"' in text.stdout

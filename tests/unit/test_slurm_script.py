"""The Slurm renderer shared by the SF API, FirecREST and slurmrestd/S3M: what it refuses (before
any request) and how it formats."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest

from facility_common import (
    SUBMIT_TAG_VARIABLE,
    AsyncFacilityClient,
    InvalidJobSpec,
    JobAttributes,
    JobSpec,
    ResourceSpec,
)
from facility_common.backends.firecrest import script as firecrest_script
from facility_common.backends.sfapi import script as sfapi_script
from facility_common.backends.slurmrest.jobs import render_job
from facility_common.http import RetryPolicy

TRUE = JobSpec(executable="/bin/true")


def render_sfapi(spec: JobSpec, tag: str = "t1") -> str:
    return sfapi_script.render_script(spec, tag=tag)[0]


def render_firecrest(spec: JobSpec, tag: str = "t1") -> str:
    body = firecrest_script.submit_body(spec, tag=tag, directory="/users/a", account=None, partition=None)
    return str(body["job"]["script"])


def render_slurmrest(spec: JobSpec, tag: str = "t1") -> dict[str, Any]:
    return render_job(
        spec, version="v0.0.44", partition="debug", tag=tag, directory="/w", base_environment={}
    )


RENDERERS = {"sfapi": render_sfapi, "firecrest": render_firecrest, "slurmrest": render_slurmrest}


def refused(facility: str, spec: JobSpec, tag: str = "t1") -> InvalidJobSpec:
    with pytest.raises(InvalidJobSpec) as caught:
        RENDERERS[facility](spec, tag)
    assert caught.value.facility == facility
    return caught.value


# -- 1. the submit tag ----------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["abc\n#SBATCH --qos=premium", "abc ", " abc", "a\tb", "a\rb", "a\x1bb", ""])
@pytest.mark.parametrize("facility", sorted(RENDERERS))
def test_no_renderer_writes_a_tag_with_whitespace_or_control_characters(facility: str, tag: str) -> None:
    error = refused(facility, TRUE, tag)
    assert error.field == f"environment.{SUBMIT_TAG_VARIABLE}"
    assert "tag" in error.message


def test_firecrest_tag_line_reads_back_as_written() -> None:
    script = firecrest_script.render_script(TRUE, tag="run-1:a@b+c=d")
    assert script.splitlines()[1] == "# facility-submit-tag: run-1:a@b+c=d"
    assert firecrest_script.tag_of_script(script) == "run-1:a@b+c=d"


# -- 2. custom attributes that would replace what the backend relies on ---------------------------


def test_a_custom_comment_cannot_replace_the_slurmrest_tag() -> None:
    error = refused(
        "slurmrest",
        JobSpec(executable="/bin/true", attributes=JobAttributes(custom_attributes={"comment": "mine"})),
    )
    assert error.field == "attributes.custom_attributes"
    assert "comment" in error.message and "slurmrest" in error.message


@pytest.mark.parametrize("key", ["comment", "environment", "script"])
@pytest.mark.parametrize(
    ("facility", "options"),
    [
        ("slurmrest", {"base_url": "http://127.0.0.1:6820", "auth": "jwt", "user_name": "alice"}),
        ("s3m", {"base_url": "https://s3m.example.org", "auth": "opaque"}),
    ],
)
def test_reserved_job_fields_are_refused_before_any_request(
    facility: str, options: dict[str, Any], key: str
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    spec = JobSpec(executable="/bin/true", attributes=JobAttributes(custom_attributes={key: "x"}))

    async def main() -> None:
        async with AsyncFacilityClient.connect(
            facility, transport=httpx.MockTransport(handler), retry=RetryPolicy(attempts=1), **options
        ) as client:
            with pytest.raises(InvalidJobSpec) as caught:
                await client.submit("odo", spec)
            assert caught.value.field == "attributes.custom_attributes"
            assert caught.value.facility == facility
            assert facility in caught.value.message

    anyio.run(main)
    assert seen == []


@pytest.mark.parametrize(
    ("facility", "key"),
    [
        ("sfapi", "comment"),
        ("sfapi", "output"),
        ("sfapi", "error"),
        ("sfapi", "chdir"),
        ("firecrest", "job-name"),
    ],
)
def test_script_sites_refuse_the_options_they_rely_on(facility: str, key: str) -> None:
    spec = JobSpec(executable="/bin/true", name="n", attributes=JobAttributes(custom_attributes={key: "x"}))
    assert refused(facility, spec).field == "attributes.custom_attributes"


# -- 3. values that would add options or break a line ---------------------------------------------

INJECTED = "m1234 --job-name=INJECTED --chdir=/x"


@pytest.mark.parametrize("facility", sorted(RENDERERS))
@pytest.mark.parametrize(
    ("field", "attributes"),
    [
        ("attributes.account", JobAttributes(account=INJECTED)),
        ("attributes.queue_name", JobAttributes(queue_name="debug --qos=premium")),
        ("attributes.reservation_id", JobAttributes(reservation_id="r1\t--exclusive")),
        ("attributes.account", JobAttributes(account="m1234'")),
        ("attributes.queue_name", JobAttributes(queue_name='"debug"')),
    ],
)
def test_scheduling_values_are_one_word(facility: str, field: str, attributes: JobAttributes) -> None:
    error = refused(facility, JobSpec(executable="/bin/true", attributes=attributes))
    assert error.field == field
    assert field in error.message and facility in error.message


@pytest.mark.parametrize("facility", sorted(RENDERERS))
@pytest.mark.parametrize("key", ["bad key!", "Constraint", "mail type", "--", "9lives", "a;b"])
def test_custom_attribute_keys_must_be_option_names(facility: str, key: str) -> None:
    spec = JobSpec(executable="/bin/true", attributes=JobAttributes(custom_attributes={key: "x"}))
    error = refused(facility, spec)
    assert error.field == "attributes.custom_attributes"
    assert repr(key) in error.message


@pytest.mark.parametrize("facility", sorted(RENDERERS))
@pytest.mark.parametrize("value", ["gpu --qos=premium", "a\tb", "gpu\x0b"])
def test_custom_attribute_values_are_one_word(facility: str, value: str) -> None:
    spec = JobSpec(executable="/bin/true", attributes=JobAttributes(custom_attributes={"constraint": value}))
    error = refused(facility, spec)
    assert error.field == "attributes.custom_attributes['constraint']"


@pytest.mark.parametrize("facility", ["sfapi", "firecrest"])
@pytest.mark.parametrize("value", ["gpu'", 'gpu"', "gpu#x", "gpu\\"])
def test_directive_values_hold_nothing_sbatch_would_unquote_or_cut(facility: str, value: str) -> None:
    spec = JobSpec(executable="/bin/true", attributes=JobAttributes(custom_attributes={"constraint": value}))
    refused(facility, spec)


def test_job_descriptions_take_quotes_since_no_line_is_parsed() -> None:
    spec = JobSpec(
        executable="/bin/true", attributes=JobAttributes(custom_attributes={"mail_user": "o'brien@x"})
    )
    assert render_slurmrest(spec)["mail_user"] == "o'brien@x"


@pytest.mark.parametrize(
    ("facility", "field", "changes"),
    [
        ("sfapi", "stdout_path", {"stdout_path": "/a b/out"}),
        ("sfapi", "stderr_path", {"stderr_path": "/x/it's.err"}),
        ("sfapi", "directory", {"directory": "/run#1"}),
        ("firecrest", "stdout_path", {"stdout_path": "/a b/out"}),
        ("firecrest", "stdin_path", {"stdin_path": "in put"}),
        ("firecrest", "name", {"name": "my job"}),
        ("slurmrest", "stdout_path", {"stdout_path": "/a b/out"}),
        ("slurmrest", "directory", {"directory": "/w\t1"}),
        ("slurmrest", "name", {"name": "my job"}),
    ],
)
def test_paths_and_names_are_one_word(facility: str, field: str, changes: dict[str, str]) -> None:
    assert refused(facility, TRUE.replace(**changes)).field == field


def test_the_sfapi_injection_no_longer_reaches_a_directive() -> None:
    with pytest.raises(InvalidJobSpec, match=r"attributes\.account"):
        render_sfapi(JobSpec(executable="/bin/true", attributes=JobAttributes(account=INJECTED)))
    assert "--job-name=INJECTED" not in render_sfapi(TRUE)


# -- the shared formats -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "sfapi", "firecrest", "minutes"),
    [
        (timedelta(seconds=1), "00:00:01", "00:00:01", 1),
        (timedelta(seconds=59, milliseconds=1), "00:01:00", "00:01:00", 1),
        (timedelta(seconds=61), "00:01:01", "00:01:01", 2),
        (timedelta(days=2, hours=3, minutes=4, seconds=5), "2-03:04:05", "2-03:04:05", 3065),
    ],
)
def test_one_duration_format_everywhere(
    duration: timedelta, sfapi: str, firecrest: str, minutes: int
) -> None:
    spec = JobSpec(executable="/bin/true", attributes=JobAttributes(duration=duration))
    assert f"#SBATCH --time={sfapi}" in render_sfapi(spec).splitlines()
    assert f"#SBATCH --time={firecrest}" in render_firecrest(spec).splitlines()
    assert render_slurmrest(spec)["time_limit"]["number"] == minutes


def test_memory_rounds_up_to_whole_mebibytes_everywhere() -> None:
    spec = JobSpec(executable="/bin/true", resources=ResourceSpec(memory=2**20 + 1))
    assert "#SBATCH --mem=2M" in render_sfapi(spec).splitlines()
    assert "#SBATCH --mem=2M" in render_firecrest(spec).splitlines()
    assert render_slurmrest(spec)["memory_per_node"]["number"] == 2


def test_an_empty_custom_value_is_a_flag_in_scripts() -> None:
    spec = JobSpec(executable="/bin/true", attributes=JobAttributes(custom_attributes={"requeue": ""}))
    assert "#SBATCH --requeue" in render_sfapi(spec).splitlines()
    assert "#SBATCH --requeue" in render_firecrest(spec).splitlines()


def test_job_description_fields_may_be_written_with_dashes() -> None:
    spec = JobSpec(executable="/bin/true", attributes=JobAttributes(custom_attributes={"--mail-type": "END"}))
    job = render_slurmrest(spec)
    assert job["mail_type"] == "END" and "--mail-type" not in job

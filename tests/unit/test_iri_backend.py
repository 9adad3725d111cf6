"""IRI backend: parsers on recorded payloads, request builders, and flows over a mock transport."""

from __future__ import annotations

import base64
import json
import logging
import os
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from facility_common.backends import states
from facility_common.backends.iri import IRI_FILE_LIMIT, IRIBackend
from facility_common.backends.iri.file_parsers import (
    _download_url,
    _parse_checksum,
    _parse_content,
    _parse_download,
    _parse_file_type,
    _parse_ls,
    _parse_stat,
    _parse_task_submit,
    _pick_output_file,
    _task_failure,
)
from facility_common.backends.iri.parsers import (
    _find_tagged,
    _parse_events,
    _parse_incident,
    _parse_job,
    _parse_jobs,
    _parse_object,
    _parse_objects,
    _parse_outages,
    _parse_resources,
    _parse_task,
)
from facility_common.backends.iri.requests import (
    _build_delete_task,
    _build_event,
    _build_events,
    _build_facility,
    _build_filesystem_resources,
    _build_fs,
    _build_get_job,
    _build_incident,
    _build_list_jobs,
    _build_site,
    _build_sites,
    _build_submit,
    _build_tasks,
    _build_update_job,
    _compression_value,
)
from facility_common.backends.submit import DEFAULT_SUBMIT_ATTEMPTS, SUBMIT_TAG_VARIABLE
from facility_common.errors import (
    APIError,
    ConfigurationError,
    InvalidJobSpec,
    JobSubmissionError,
    NotFoundError,
    RateLimitedError,
    UnsupportedOperation,
    WaitTimeout,
)
from facility_common.http import RetryPolicy, _problem_detail
from facility_common.models import JobAttributes, JobSpec, JobState, ResourceSpec, ResourceState

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "iri"
POLARIS = "55c1c993-1124-47f9-b823-514ba3849a9a"
EAGLE = "0f7cbb6a-3f0e-4a53-9f3e-8c8c3f6b1d20"
HOME = "a3e1b5d2-7c44-4f0b-9b1e-2d6f0c9e8a11"

pytestmark = pytest.mark.filterwarnings("error")


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def fresh_state_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(states, "_warned", set())


def echo_spec(**changes: Any) -> JobSpec:
    base = JobSpec(
        executable="/bin/echo",
        arguments=["hello"],
        name="echo",
        resources=ResourceSpec(node_count=1, memory=2 * 1024**3),
        attributes=JobAttributes(duration=timedelta(minutes=5), queue_name="debug", account="proj"),
    )
    return base.replace(**changes) if changes else base


# -- parsers on recorded payloads ------------------------------------------------------------


def test_parse_resources_v1() -> None:
    resources = _parse_resources(load("resources.json"))
    by_name = {r.name: r for r in resources}
    assert by_name["polaris"].id == POLARIS
    assert by_name["polaris"].state is ResourceState.UP
    assert by_name["polaris"].resource_type == "compute"
    assert by_name["eagle"].state is ResourceState.DEGRADED
    assert by_name["home"].state is ResourceState.DOWN
    assert by_name["website"].state is ResourceState.UNKNOWN  # current_status null
    assert by_name["polaris"].updated_at == datetime(2026, 2, 21, 12, tzinfo=UTC)


def test_parse_resources_v2_urn_types() -> None:
    resources = _parse_resources(load("resources_v2.json"))
    assert [r.resource_type for r in resources] == ["compute", "service"]
    assert resources[1].state is ResourceState.UNKNOWN


def test_parse_resources_accepts_items_envelope() -> None:
    assert len(_parse_resources({"items": load("resources.json")})) == 4


def test_incidents_to_outages() -> None:
    names = {POLARIS: "polaris", EAGLE: "eagle", HOME: "home"}
    now = datetime(2026, 2, 21, 12, tzinfo=UTC)
    outages = _parse_outages(load("incidents.json"), names=names, start=now)
    by_id = {o.id: o for o in outages}
    # cancelled never happened; finished ones are before the window
    assert set(by_id) == {"inc-planned-maint", "inc-eagle-degraded", "inc-reservation"}
    assert by_id["inc-planned-maint"].planned is True
    assert by_id["inc-planned-maint"].resources == ("polaris",)
    assert by_id["inc-planned-maint"].status == "down"
    assert by_id["inc-reservation"].planned is True
    ongoing = by_id["inc-eagle-degraded"]
    assert ongoing.planned is False and ongoing.end is None
    assert ongoing.overlaps(now, now + timedelta(hours=1))


def test_outages_resource_filter_and_window() -> None:
    names = {POLARIS: "polaris", EAGLE: "eagle", HOME: "home"}
    start = datetime(2026, 1, 5, 11, tzinfo=UTC)
    outages = _parse_outages(
        load("incidents.json"), names=names, resource_id=HOME, start=start, end=start + timedelta(hours=1)
    )
    assert [o.id for o in outages] == ["inc-resolved-no-end"]
    # a completed incident without an end ends at its last_modified
    assert outages[0].end == datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
    later = start + timedelta(hours=3)
    assert _parse_outages(load("incidents.json"), names=names, resource_id=HOME, start=later, end=later) == []


def test_polaris_job_example() -> None:
    job = _parse_job(load("job_polaris_queued.json"), "polaris")
    assert job.id == "4012345.polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov"
    assert job.resource == "polaris"
    assert job.state is JobState.PENDING
    assert job.native_state == "queued"
    assert job.name == "my_job"
    assert job.stdout_path == "/home/user/logs"
    assert job.message == "Job is waiting in queue"
    assert job.updated_at == datetime.fromtimestamp(1771675200.0, tz=UTC)
    assert job.raw["job_spec"]["attributes"]["custom_attributes"] == {"filesystems": "eagle"}


@pytest.mark.parametrize(
    ("payload", "state"),
    [
        ("job_completed.json", JobState.COMPLETED),
        ("job_completed_nonzero.json", JobState.FAILED),
        ("job_failed.json", JobState.FAILED),
        ("job_failed_walltime_reason.json", JobState.TIMEOUT),
        ("job_failed_walltime_message.json", JobState.TIMEOUT),
        ("job_completed_slurm_timeout.json", JobState.TIMEOUT),
        ("job_held.json", JobState.HELD),
        ("job_canceled.json", JobState.CANCELLED),
        ("job_active_no_spec.json", JobState.RUNNING),
    ],
)
def test_job_states(payload: str, state: JobState) -> None:
    assert _parse_job(load(payload), "polaris").state is state


def test_job_timestamps_and_exit_code() -> None:
    job = _parse_job(load("job_completed.json"), "polaris")
    assert job.exit_code == 0
    assert job.submitted_at == datetime.fromtimestamp(1771675200.0, tz=UTC)
    assert job.started_at == datetime(2026, 2, 21, 12, 5, tzinfo=UTC)
    assert job.finished_at == datetime.fromtimestamp(1771675800.0, tz=UTC)
    assert job.stdout_path == "/home/user/echo.out" and job.stderr_path == "/home/user/echo.err"
    assert type(job).from_dict(json.loads(json.dumps(job.to_dict()))) == job


def test_unknown_job_state_is_unknown_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        job = _parse_job(load("job_unknown_state.json"), "polaris")
        assert job.state is JobState.UNKNOWN
        assert job.native_state == "suspended_for_maintenance"
    warned = [r for r in caplog.records if "suspended_for_maintenance" in r.getMessage()]
    assert len(warned) == 1


def test_job_list_and_tag_lookup() -> None:
    listing = load("jobs_list.json")
    assert [j.state for j in _parse_jobs(listing, "polaris")] == [
        JobState.PENDING,
        JobState.COMPLETED,
        JobState.HELD,
    ]
    found = _find_tagged(listing, "4b3f0c2a9e8d4f6b8a7c1d2e3f405162", "polaris")
    assert found is not None and found.id == "1001" and found.resource == "polaris"
    assert _find_tagged(listing, "no-such-tag", "polaris") is None


def test_parse_ls_entries() -> None:
    entries = _parse_ls(load("task_ls_completed.json")["result"], "/home/user")
    assert [(e.name, e.type, e.path) for e in entries] == [
        ("logs", "directory", "/home/user/logs"),
        ("run.sh", "file", "/home/user/run.sh"),
        ("data", "symlink", "/home/user/data"),
    ]
    assert entries[1].size == 182 and entries[1].permissions == "rwxr--r--"
    assert entries[2].link_target == "/eagle/myproject/data"
    assert entries[0].is_dir and entries[0].modified_at == datetime(2026, 2, 21, 12, tzinfo=UTC)


def test_parse_stat() -> None:
    entry = _parse_stat(load("task_stat_completed.json")["result"], "/home/user/run.sh")
    assert entry.name == "run.sh" and entry.type == "file"
    assert entry.size == 182 and entry.permissions == "rw-r--r--"
    assert entry.user == "1001" and entry.modified_at == datetime.fromtimestamp(1771588200, tz=UTC)


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        ("task_head_completed.json", "line 1\nline 2\n"),
        ("task_tail_completed.json", "line 9\nline 10\n"),
        ("task_view_completed.json", "hello world\n"),
    ],
)
def test_parse_head_tail_view(payload: str, text: str) -> None:
    assert _parse_content(load(payload)["result"]) == text


def test_parse_download_decodes_or_refuses() -> None:
    """A string is base64 (the reference server's answer); content whose encoding is unknown is
    refused, never written as it came."""
    encoded = base64.b64encode(b"\x00\x01payload").decode()
    assert _parse_download({"output": encoded}) == b"\x00\x01payload"
    assert _parse_download(load("task_download_base64.json")["result"]) == b"\x00\x01binary\xff\n"
    assert _parse_download({"output": {"content_base64": base64.b64encode(b"abc").decode()}}) == b"abc"
    assert _parse_download({"output": {"content": "plain", "encoding": "utf-8"}}) == b"plain"
    for unreadable in (
        load("task_download_string.json")["result"],  # text that is not base64
        {"output": {"content": "plain"}},
        {"output": {"content": "x", "encoding": "rot13"}},
        {"output": 42},
        None,
    ):
        with pytest.raises(ValueError):
            _parse_download(unreadable)
    assert _download_url({"output": "https://api.example.org/api/v2/files/abc"}) == (
        "https://api.example.org/api/v2/files/abc"
    )
    assert _download_url({"output": encoded}) is None


def test_task_failures_map_to_errors() -> None:
    missing = _task_failure(
        load("task_failed_not_found.json"), op="ls", path="/home/user/nope", resource="eagle"
    )
    assert isinstance(missing, NotFoundError)
    assert "/home/user/nope" in str(missing) and "eagle" in str(missing)
    denied = _task_failure(load("task_failed_permission.json"), op="rm", path="/etc/passwd", resource="home")
    assert type(denied) is APIError and "Permission denied" in str(denied)


def test_task_submit_response() -> None:
    assert _parse_task_submit(load("task_submit.json")) == "task-123"
    with pytest.raises(ValueError):
        _parse_task_submit({"nothing": 1})


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ("problem_400_account.json", "Exactly one of attributes.account"),
        ("problem_404_job.json", "Job 999 not found"),
        ("problem_422_invalid_params.json", "Invalid job specification"),
    ],
)
def test_problem_json_details(payload: str, detail: str) -> None:
    response = httpx.Response(
        load(payload)["status"],
        content=(PAYLOADS / payload).read_bytes(),
        headers={"content-type": "application/problem+json"},
    )
    assert (_problem_detail(response) or "").startswith(detail)


def test_pick_output_file_in_directory() -> None:
    entries = _parse_ls(
        {
            "output": [
                {"name": "my_job.o4012345", "type": "-"},
                {"name": "my_job.e4012345", "type": "-"},
                {"name": "other.o1", "type": "-"},
            ]
        },
        "/home/user/logs",
    )
    job_id = "4012345.polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov"
    stdout = _pick_output_file(entries, job_id, "stdout")
    stderr = _pick_output_file(entries, job_id, "stderr")
    assert stdout is not None and stdout.path == "/home/user/logs/my_job.o4012345"
    assert stderr is not None and stderr.name == "my_job.e4012345"
    assert _pick_output_file(entries, "77", "stdout") is None


# -- request builders ------------------------------------------------------------------------


def test_submit_body_v1() -> None:
    request = _build_submit(POLARIS, echo_spec(), tag="t" * 32, api_version="v1")
    body = request.json
    assert request.method == "POST" and request.path == f"compute/job/{POLARIS}"
    assert body["executable"] == "/bin/echo" and body["arguments"] == ["hello"]
    assert body["attributes"] == {"duration": 300, "queue_name": "debug", "account": "proj"}
    assert isinstance(body["attributes"]["duration"], int)
    assert body["resources"] == {"node_count": 1, "memory": 2 * 1024**3}
    assert body["environment"][SUBMIT_TAG_VARIABLE] == "t" * 32
    assert "stdout_path" not in body and "stderr_path" not in body
    assert request.headers is None
    assert 409 not in request.ok


def test_submit_body_keeps_only_jobspec_fields() -> None:
    allowed = set(load("job_polaris_queued.json")["job_spec"]) | {"environment", "directory", "stdin_path"}
    request = _build_submit(
        POLARIS, echo_spec(directory="/home/u", stdout_path="/home/u/o"), tag="x", api_version="v1"
    )
    assert set(request.json) <= allowed | {"stdout_path"}


def test_submit_v1_project_fills_account() -> None:
    spec = echo_spec(attributes=JobAttributes(duration=timedelta(seconds=90)))
    body = _build_submit(POLARIS, spec, tag="x", api_version="v1", project="myproj").json
    assert body["attributes"] == {"duration": 90, "account": "myproj"}


def test_submit_v2_headers() -> None:
    tag = uuid.uuid4().hex
    key = str(uuid.uuid4())
    with_account = _build_submit(
        POLARIS, echo_spec(), tag=tag, api_version="v2", project="ignored", idempotency_key=key
    )
    assert with_account.headers == {"Idempotency-Key": key}
    assert with_account.json["attributes"]["account"] == "proj"
    assert 409 in with_account.ok
    no_account = echo_spec(attributes=JobAttributes(duration=timedelta(seconds=60)))
    request = _build_submit(POLARIS, no_account, tag=tag, api_version="v2", project="myproj")
    assert request.headers is None and request.json["attributes"]["account"] == "myproj"
    assert 409 not in request.ok  # without a key, a 409 is a refusal
    header = _build_submit(
        POLARIS, no_account, tag=tag, api_version="v2", project="myproj", project_header=True
    )
    assert header.headers == {"X-IRI-Facility-Project": "myproj"}
    assert "account" not in header.json["attributes"]
    with pytest.raises(InvalidJobSpec) as refused:
        _build_submit(POLARIS, no_account, tag=tag, api_version="v2")
    assert refused.value.field == "attributes.account"


def test_submit_refuses_scripts() -> None:
    with pytest.raises(InvalidJobSpec) as refused:
        _build_submit(POLARIS, JobSpec(script="#!/bin/bash\necho hi\n"), tag="x", api_version="v1")
    assert refused.value.field == "script"
    assert 'executable="/bin/bash"' in str(refused.value)


def test_job_status_builders() -> None:
    get = _build_get_job(POLARIS, "4012345.polaris-pbs-01")
    assert get.method == "GET" and get.path == f"compute/status/{POLARIS}/4012345.polaris-pbs-01"
    assert get.params == {"historical": True, "include_spec": True}
    listing = _build_list_jobs(POLARIS, ["1", "2"])
    assert listing.method == "POST" and listing.json == {"job_ids": ["1", "2"]}
    assert listing.params is not None and listing.params["limit"] == 1000 and listing.idempotent is True


def test_fs_builders_v1_and_v2() -> None:
    ls1 = _build_fs("v1", "ls", POLARIS, {"path": "/home", "showHidden": True})
    assert (ls1.method, ls1.params, ls1.json) == ("GET", {"path": "/home", "showHidden": True}, None)
    ls2 = _build_fs("v2", "ls", POLARIS, {"path": "/home", "showHidden": True})
    assert (ls2.method, ls2.params, ls2.json) == ("POST", None, {"path": "/home", "showHidden": True})
    assert ls2.idempotent is True
    rm1 = _build_fs("v1", "rm", POLARIS, {"path": "/x"})
    assert (rm1.method, rm1.params) == ("DELETE", {"path": "/x"})
    chmod1 = _build_fs("v1", "chmod", POLARIS, {"path": "/x", "mode": "755"})
    assert (chmod1.method, chmod1.json) == ("PUT", {"path": "/x", "mode": "755"})
    mkdir1 = _build_fs("v1", "mkdir", POLARIS, {"path": "/x", "parent": True})
    assert (mkdir1.method, mkdir1.json, mkdir1.idempotent) == ("POST", {"path": "/x", "parent": True}, True)
    head2 = _build_fs("v2", "head", POLARIS, {"path": "/x", "lines": 5, "bytes": None})
    assert head2.json == {"path": "/x", "lines": 5}
    up = _build_fs("v2", "upload", POLARIS, {"path": "/x"})
    assert (up.method, up.params, up.path) == ("POST", {"path": "/x"}, f"filesystem/upload/{POLARIS}")


def test_api_version_from_url() -> None:
    assert IRIBackend(base_url="https://api.alcf.anl.gov/api/v1").api_version == "v1"
    assert IRIBackend(base_url="https://api.iri.nersc.gov/api/v2/").api_version == "v2"
    assert IRIBackend(base_url="http://127.0.0.1:8000/iri/api/v2").api_version == "v2"
    assert IRIBackend(base_url="https://example.org/iri").api_version == "v1"
    assert IRIBackend(base_url="https://example.org/iri", api_version="2").api_version == "v2"
    with pytest.raises(ConfigurationError):
        IRIBackend(base_url="https://example.org/api/v1", api_version="v9")


def test_describe_has_no_secrets() -> None:
    backend = IRIBackend(base_url="https://api.alcf.anl.gov/api/v1", auth=httpx.BasicAuth("u", "secret"))
    text = json.dumps(backend.describe()) + repr(backend)
    assert "secret" not in text
    assert backend.describe()["capabilities"] == [
        "allocations",
        "files",
        "identity",
        "job_output",
        "jobs",
        "outages",
        "status",
        "tags",
    ]


def test_update_job_builder_v1_and_v2() -> None:
    job_id = "4012345.polaris-pbs-01"
    update = _build_update_job(POLARIS, job_id, echo_spec(), api_version="v1")
    assert (update.method, update.path) == ("PUT", f"compute/job/{POLARIS}/{job_id}")
    assert update.idempotent is True and update.headers is None and 409 not in update.ok
    assert update.json["attributes"] == {"duration": 300, "queue_name": "debug", "account": "proj"}
    assert "environment" not in update.json  # no tag of our own on an update
    tagged = echo_spec(environment={SUBMIT_TAG_VARIABLE: "airflow-run-7", "A": "1"})
    kept = _build_update_job(POLARIS, job_id, tagged, api_version="v1").json
    assert kept["environment"] == {SUBMIT_TAG_VARIABLE: "airflow-run-7", "A": "1"}
    filled = _build_update_job(
        POLARIS, job_id, echo_spec(attributes=JobAttributes()), api_version="v1", project="myproj"
    )
    assert filled.json["attributes"] == {"account": "myproj"}
    no_account = echo_spec(attributes=JobAttributes(duration=timedelta(seconds=60)))
    v2 = _build_update_job(POLARIS, job_id, no_account, api_version="v2", project="myproj")
    assert v2.method == "PUT" and v2.headers is None and v2.json["attributes"]["account"] == "myproj"
    header = _build_update_job(
        POLARIS, job_id, no_account, api_version="v2", project="myproj", project_header=True
    )
    assert header.headers == {"X-IRI-Facility-Project": "myproj"}
    assert "account" not in header.json["attributes"]
    with pytest.raises(InvalidJobSpec, match=r"attributes\.account"):
        _build_update_job(POLARIS, job_id, no_account, api_version="v2")
    with pytest.raises(InvalidJobSpec, match="script"):
        _build_update_job(POLARIS, job_id, JobSpec(script="echo hi"), api_version="v1")


def test_new_fs_builders_v1() -> None:
    checksum = _build_fs("v1", "checksum", POLARIS, {"path": "/x"})
    assert (checksum.method, checksum.path, checksum.params, checksum.json) == (
        "GET",
        f"filesystem/checksum/{POLARIS}",
        {"path": "/x"},
        None,
    )
    assert checksum.idempotent is True
    kind = _build_fs("v1", "file", POLARIS, {"path": "/x"})
    assert (kind.method, kind.params, kind.idempotent) == ("GET", {"path": "/x"}, True)
    link = _build_fs("v1", "symlink", POLARIS, {"path": "/x", "link_path": "/l"})
    assert (link.method, link.params, link.json) == ("POST", None, {"path": "/x", "link_path": "/l"})
    assert link.idempotent is False
    pack = _build_fs(
        "v1", "compress", POLARIS, {"path": "/d", "target_path": "/d.tgz", "compression": "gzip"}
    )
    assert (pack.method, pack.json) == (
        "POST",
        {"path": "/d", "target_path": "/d.tgz", "compression": "gzip"},
    )
    unpack = _build_fs(
        "v1", "extract", POLARIS, {"path": "/d.tbz", "target_path": "/o", "compression": "bzip2"}
    )
    assert unpack.json == {"path": "/d.tbz", "target_path": "/o", "compression": "bzip2"}


def test_new_fs_builders_v2_post_json_and_urns() -> None:
    for op in ("checksum", "file"):
        request = _build_fs("v2", op, POLARIS, {"path": "/x"})
        assert (request.method, request.params, request.json) == ("POST", None, {"path": "/x"})
        assert request.idempotent is True
    link = _build_fs("v2", "symlink", POLARIS, {"path": "/x", "link_path": "/l"})
    assert (link.method, link.json) == ("POST", {"path": "/x", "link_path": "/l"})
    pack = _build_fs(
        "v2", "compress", POLARIS, {"path": "/d", "target_path": "/d.tar", "compression": "none"}
    )
    assert pack.json == {"path": "/d", "target_path": "/d.tar", "compression": "urn:doe-iri:compression:none"}
    unpack = _build_fs("v2", "extract", POLARIS, {"path": "/d.txz", "target_path": "/o", "compression": "xz"})
    assert unpack.json["compression"] == "urn:doe-iri:compression:xz"


def test_compression_values() -> None:
    assert [_compression_value("v1", c) for c in ("none", "gzip", "bzip2", "xz")] == [
        "none",
        "gzip",
        "bzip2",
        "xz",
    ]
    assert _compression_value("v2", "GZIP") == "urn:doe-iri:compression:gzip"
    assert _compression_value("v1", "urn:doe-iri:compression:xz") == "xz"
    with pytest.raises(InvalidJobSpec) as refused:
        _compression_value("v2", "zip")
    assert refused.value.field == "compression"


def test_status_and_task_builders() -> None:
    assert (_build_facility().method, _build_facility().path) == ("GET", "facility")
    sites = _build_sites(1000)
    assert (sites.path, sites.params) == ("facility/sites", {"offset": 1000, "limit": 1000})
    assert _build_site("alcf").path == "facility/sites/alcf"
    start, end = datetime(2026, 2, 21, 9, tzinfo=UTC), datetime(2026, 2, 21, 12, 30, tzinfo=UTC)
    events = _build_events(resource_id=EAGLE, incident_id="inc-1", status="up", start=start, end=end)
    assert events.path == "status/events"
    assert events.params == {
        "resource_id": EAGLE,
        "incident_id": "inc-1",
        "status": "up",
        "from": "2026-02-21T09:00:00Z",
        "to": "2026-02-21T12:30:00Z",
        "offset": 0,
        "limit": 1000,
    }
    assert _build_events().params is not None and _build_events().params["from"] is None
    assert _build_event("evt 1").path == "status/events/evt%201"
    assert _build_incident("inc-1").path == "status/incidents/inc-1"
    v1 = _build_filesystem_resources("v1")
    v2 = _build_filesystem_resources("v2")
    assert (v1.method, v2.method, v2.json, v2.idempotent) == ("GET", "POST", None, True)
    assert (_build_tasks().method, _build_tasks().path) == ("GET", "task")
    assert (_build_delete_task("task-1").method, _build_delete_task("task-1").path) == (
        "DELETE",
        "task/task-1",
    )


def test_parse_checksum_shapes() -> None:
    digest = load("task_checksum_completed.json")["result"]["output"]["checksum"]
    assert _parse_checksum(load("task_checksum_completed.json")["result"]) == f"sha256:{digest}"
    assert _parse_checksum({"output": {"algorithm": "SHA-512", "checksum": "AB12"}}) == "sha512:ab12"
    assert _parse_checksum({"output": {"algorithm": "sha_1", "hash": "ff"}}) == "sha1:ff"
    assert _parse_checksum({"output": digest.upper()}) == f"sha256:{digest}"
    assert _parse_checksum({"output": f"{digest}  /home/user/echo.out"}) == f"sha256:{digest}"
    assert _parse_checksum({"output": "MD5:0a0B"}) == "md5:0a0b"
    for broken in ({"output": {"algorithm": "SHA-256"}}, {"output": "not hex"}, None, {"output": ""}):
        with pytest.raises(ValueError):
            _parse_checksum(broken)


def test_parse_file_type_shapes() -> None:
    assert _parse_file_type(load("task_file_completed.json")["result"], "/home/user/echo.out") == "ASCII text"
    assert _parse_file_type({"output": "/a/b: directory\n"}, "/a/b") == "directory"
    assert _parse_file_type({"output": {"type": "symbolic link to /x"}}, "/l") == "symbolic link to /x"
    assert _parse_file_type("data", "/f") == "data"
    for broken in ({"output": None}, {"output": "  "}, {"output": {"size": 3}}):
        with pytest.raises(ValueError):
            _parse_file_type(broken, "/f")


def test_parse_events_window_and_order() -> None:
    events = _parse_events(load("events.json"))
    assert [e["id"] for e in events] == ["evt-eagle-down", "evt-eagle-up", "evt-polaris-down"]
    assert events[0]["status"] == "down" and events[0]["incident_uri"].endswith("inc-eagle-degraded")
    window = _parse_events(
        load("events.json"),
        start=datetime(2026, 2, 21, 10, tzinfo=UTC),
        end=datetime(2026, 2, 22, tzinfo=UTC),
    )
    assert [e["id"] for e in window] == ["evt-eagle-up"]
    with pytest.raises(ValueError):
        _parse_events([{"name": "no id"}])
    with pytest.raises(ValueError):
        _parse_events({"id": "not a list"})


def test_parse_plain_objects_and_tasks() -> None:
    facility = _parse_object(load("facility.json"), "facility")
    assert facility["short_name"] == "ALCF" and facility["site_uris"]
    sites = _parse_objects({"items": load("sites.json")}, "site")
    assert [site["id"] for site in sites] == ["alcf"]
    with pytest.raises(ValueError, match="site"):
        _parse_object(["alcf"], "site")
    with pytest.raises(ValueError, match="no id"):
        _parse_object({"name": "x"}, "facility")
    tasks = [_parse_task(item) for item in load("tasks_list.json")]
    assert [(t["id"], t["status"]) for t in tasks] == [("task-201", "completed"), ("task-204", "pending")]
    assert _parse_task({"id": 7})["status"] == "pending"  # the spec's default
    with pytest.raises(ValueError, match="unknown status"):
        _parse_task({"id": "t", "status": "exploded"})


def test_incident_by_id_keeps_cancelled() -> None:
    cancelled = next(i for i in load("incidents.json") if i["resolution"] == "cancelled")
    assert _parse_incident(cancelled, {}) is None
    outage = _parse_incident(cancelled, {}, keep_cancelled=True)
    assert outage is not None and outage.id == "inc-cancelled" and outage.raw["resolution"] == "cancelled"


# -- flows over a mock transport -------------------------------------------------------------


class FakeIRI:
    """A small IRI facility with real job and task state, for httpx.MockTransport."""

    prefix = "/api/v1"

    def __init__(self, version: str = "v1") -> None:
        self.prefix = f"/api/{version}"
        self.resources = load("resources.json")
        self.incidents = load("incidents.json")
        self.jobs: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.log: list[httpx.Request] = []
        self.drop_submits_after_recording = 0
        self.drop_submits_before_recording = 0
        self.conflicts = 0
        self.refuse_submit: tuple[int, str] | None = None
        self.honour_job_filter = True
        self.task_polls_before_done = 1
        self.task_results: dict[str, Any] = {}  # op -> (status, result), or a list used in turn
        self.no_idempotency_store = False
        self.gateway_error_after_recording = 0
        self.gateway_status = 504
        self.unreadable_submit_answers = 0
        self.uploads: dict[str, bytes] = {}
        self.events = load("events.json")
        self.task_list: Any = load("tasks_list.json")
        self.facility_doc: Any = load("facility.json")
        self.update_refusal: tuple[int, str] | None = None
        self.blobs: dict[str, bytes] = {}  # path under the API root -> bytes served as they are
        self.empty_lists_404 = False  # answer an empty page of incidents/events as the reference server

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.log.append(request)
        parts = request.url.path[len(self.prefix) :].strip("/").split("/")
        if parts[0] == "files":  # what download results may link to
            blob = self.blobs.get(request.url.path[len(self.prefix) :])
            return httpx.Response(200, content=blob) if blob is not None else self._problem(404, "gone")
        if parts[0] == "filesystem" and parts[1] == "resources":
            self.calls[f"{request.method} /filesystem/resources"] += 1
            return httpx.Response(200, json=[r for r in self.resources if r["resource_type"] == "storage"])
        if parts[0] == "filesystem":
            self.calls[f"{request.method} /filesystem/{parts[1]}"] += 1
            return self._fs(request, parts[1])
        if parts[0] == "task":
            self.calls[f"{request.method} /task"] += 1
            if request.method == "DELETE":
                return self._delete_task(parts[1])
            if len(parts) == 1:
                return httpx.Response(200, json=self.task_list)
            return self._get_task(request, parts[1:])
        if parts[0] == "facility":
            self.calls[f"{request.method} /{'/'.join(parts[:2])}"] += 1
            return self._facility(parts[1:])
        route = f"{request.method} /{parts[0]}/{parts[1]}"
        rest = parts[2:]
        self.calls[route + ("/{id}" if rest and parts[0] == "status" else "")] += 1
        handler = getattr(self, "_" + route.lower().replace(" /", "_").replace("/", "_"))
        response: httpx.Response = handler(request, rest)
        return response

    @staticmethod
    def _query(request: httpx.Request) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}

    def _get_status_resources(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        if rest:
            found = [r for r in self.resources if r["id"] == rest[0]]
            return httpx.Response(200, json=found[0]) if found else self._problem(404, "no such resource")
        query = self._query(request)
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
        return httpx.Response(200, json=self.resources[offset : offset + limit])

    def _get_status_incidents(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        if rest:
            found = [i for i in self.incidents if i["id"] == rest[0]]
            return httpx.Response(200, json=found[0]) if found else self._problem(404, "no such incident")
        query = self._query(request)
        offset = int(query.get("offset", 0))
        return self._page(self.incidents[offset:], "incidents")

    def _get_status_events(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        if rest:
            found = [e for e in self.events if e["id"] == rest[0]]
            return httpx.Response(200, json=found[0]) if found else self._problem(404, "no such event")
        query = self._query(request)
        events = [
            e
            for e in self.events
            if ("resource_id" not in query or e["resource_uri"].endswith(query["resource_id"]))
            and ("incident_id" not in query or (e["incident_uri"] or "").endswith(query["incident_id"]))
        ]
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
        return self._page(events[offset : offset + limit], "events")

    def _page(self, items: list[Any], what: str) -> httpx.Response:
        if not items and self.empty_lists_404:
            return httpx.Response(
                404,
                json={"title": "Not Found", "detail": f"No {what} found"},
                headers={"content-type": "application/problem+json"},
            )
        return httpx.Response(200, json=items)

    def _get_account_whoami(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        return httpx.Response(404, json={"title": "Not Found", "detail": "Not Found"})

    def _get_compute_resources(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        return httpx.Response(200, json=[r for r in self.resources if r["resource_type"] == "compute"])

    def _facility(self, rest: list[str]) -> httpx.Response:
        sites = load("sites.json")
        if not rest:
            return httpx.Response(200, json=self.facility_doc)
        if len(rest) == 1:
            return httpx.Response(200, json=sites)
        found = [site for site in sites if site["id"] == rest[1]]
        return httpx.Response(200, json=found[0]) if found else self._problem(404, "site not found")

    def _put_compute_job(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        job = self.jobs.get(rest[1])
        if job is None:
            return self._problem(404, f"Job {rest[1]} not found")
        if self.update_refusal is not None:
            return self._problem(*self.update_refusal)
        job["job_spec"] = json.loads(request.content)
        job["status"] = {"state": "queued", "time": 1771675500.0, "message": "job updated"}
        return httpx.Response(200, json=job)

    def _delete_task(self, task_id: str) -> httpx.Response:
        if self.tasks.pop(task_id, None) is None:
            return self._problem(404, f"task {task_id} not found")
        return httpx.Response(200, json=f"task {task_id} deleted")

    def _post_compute_job(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        if self.refuse_submit is not None:
            return self._problem(*self.refuse_submit)
        if self.conflicts:
            self.conflicts -= 1
            return self._problem(409, "in flight", headers={"Retry-After": "0"})
        if self.no_idempotency_store and "Idempotency-Key" in request.headers:
            return self._problem(501, "idempotency store not configured")
        if self.drop_submits_before_recording:
            self.drop_submits_before_recording -= 1
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        spec = json.loads(request.content)
        job_id = str(len(self.jobs) + 1001)
        spec.setdefault("stdout_path", f"/home/user/job-{job_id}.out")
        spec.setdefault("stderr_path", f"/home/user/job-{job_id}.err")
        self.jobs[job_id] = {
            "id": job_id,
            "status": {"state": "queued", "time": 1771675200.0},
            "job_spec": spec,
        }
        if self.drop_submits_after_recording:
            self.drop_submits_after_recording -= 1
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        if self.gateway_error_after_recording:
            self.gateway_error_after_recording -= 1
            return self._problem(self.gateway_status, "upstream failed")
        if self.unreadable_submit_answers:
            self.unreadable_submit_answers -= 1
            return httpx.Response(200, json={"id": [job_id], "status": 7})
        return httpx.Response(200, json={"id": job_id, "status": {"state": "new"}})

    def _post_compute_status(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        jobs = list(self.jobs.values())
        if self.honour_job_filter and body and "job_ids" in body:
            jobs = [j for j in jobs if j["id"] in body["job_ids"]]
        query = self._query(request)
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
        return httpx.Response(200, json=jobs[offset : offset + limit])

    def _get_compute_status(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        job = self.jobs.get(rest[1])
        return httpx.Response(200, json=job) if job else self._problem(404, f"Job {rest[1]} not found")

    def _delete_compute_cancel(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        job = self.jobs.get(rest[1])
        if job is None:
            return self._problem(404, "no such job")
        job["status"]["state"] = "canceled"
        return httpx.Response(204)

    def _fs(self, request: httpx.Request, op: str) -> httpx.Response:
        task_id = f"task-{len(self.tasks) + 1}"
        planned = self.task_results.get(op, ("completed", {"output": None}))
        status, result = planned.pop(0) if isinstance(planned, list) else planned
        if op == "upload":
            self.uploads[self._query(request)["path"]] = request.content
        args = json.loads(request.content) if request.content and op != "upload" else self._query(request)
        self.tasks[task_id] = {
            "id": task_id,
            "status": "pending",
            "polls": 0,
            "final": status,
            "result": result,
            "command": {"router": "filesystem", "command": op, "args": args},
        }
        return httpx.Response(200, json={"task_id": task_id, "task_uri": f"{self.prefix}/task/{task_id}"})

    def _get_task(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        task = self.tasks.get(rest[0]) if rest else None
        if task is None:
            return self._problem(404, "no such task")
        task["polls"] += 1
        done = task["polls"] > self.task_polls_before_done
        body = {
            "id": task["id"],
            "status": task["final"] if done else "active",
            "result": task["result"] if done else None,
            "command": task["command"],
        }
        return httpx.Response(200, json=body)

    @staticmethod
    def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> httpx.Response:
        body = {"type": "about:blank", "status": status, "title": "error", "detail": detail, "instance": "x"}
        return httpx.Response(
            status, json=body, headers={"content-type": "application/problem+json", **(headers or {})}
        )

    def requests_to(self, method: str, fragment: str) -> list[httpx.Request]:
        return [r for r in self.log if r.method == method and fragment in r.url.path]


def make_backend(fake: FakeIRI, **options: Any) -> IRIBackend:
    transport = options.pop("transport", None) or httpx.MockTransport(fake)
    backend = IRIBackend(
        base_url=f"http://127.0.0.1:9{fake.prefix}",
        transport=transport,
        retry=RetryPolicy(attempts=2, backoff=0.0, jitter=0.0),
        task_poll_interval=0.0,
        task_timeout=5.0,
        submit_lookup_delays=(0.0,),
        **options,
    )
    return backend


@pytest.mark.anyio
async def test_submit_happy_path() -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    job = await backend.submit("polaris", echo_spec())
    await backend.aclose()
    assert job.id == "1001" and job.resource == "polaris"
    assert job.state is JobState.PENDING and job.native_state == "new"
    assert job.name == "echo"
    sent = json.loads(fake.requests_to("POST", "/compute/job/")[0].content)
    assert fake.requests_to("POST", "/compute/job/")[0].url.path.endswith(POLARIS)
    assert sent["attributes"]["duration"] == 300
    assert len(sent["environment"][SUBMIT_TAG_VARIABLE]) == 32
    assert "Idempotency-Key" not in fake.requests_to("POST", "/compute/job/")[0].headers
    assert fake.calls["POST /compute/job"] == 1


@pytest.mark.anyio
async def test_submit_after_dropped_answer_finds_job_by_tag() -> None:
    fake = FakeIRI()
    fake.drop_submits_after_recording = 1
    backend = make_backend(fake)
    job = await backend.submit("polaris", echo_spec())
    await backend.aclose()
    assert fake.calls["POST /compute/job"] == 1  # never sent twice
    assert len(fake.jobs) == 1 and job.id == "1001"
    assert job.state is JobState.PENDING and job.stdout_path == "/home/user/job-1001.out"
    lookup = fake.requests_to("POST", "/compute/status/")[0]
    assert "historical=true" in str(lookup.url) and "include_spec=true" in str(lookup.url)


@pytest.mark.anyio
async def test_submit_resends_when_lost_request_created_nothing() -> None:
    fake = FakeIRI()
    fake.drop_submits_before_recording = 1
    backend = make_backend(fake)
    job = await backend.submit("polaris", echo_spec())
    await backend.aclose()
    assert fake.calls["POST /compute/job"] == 2 and len(fake.jobs) == 1
    tags = {
        json.loads(r.content)["environment"][SUBMIT_TAG_VARIABLE]
        for r in fake.requests_to("POST", "/compute/job/")
    }
    assert len(tags) == 1 and job.id == "1001"


@pytest.mark.anyio
async def test_submit_gives_up_after_bounded_attempts() -> None:
    fake = FakeIRI()
    fake.drop_submits_before_recording = 10
    backend = make_backend(fake)
    with pytest.raises(JobSubmissionError, match="3 attempts"):
        await backend.submit("polaris", echo_spec())
    await backend.aclose()
    assert fake.calls["POST /compute/job"] == DEFAULT_SUBMIT_ATTEMPTS


@pytest.mark.anyio
async def test_submit_keeps_callers_tag() -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    await backend.submit("polaris", echo_spec(environment={SUBMIT_TAG_VARIABLE: "airflow-run-7"}))
    await backend.aclose()
    assert fake.jobs["1001"]["job_spec"]["environment"][SUBMIT_TAG_VARIABLE] == "airflow-run-7"


@pytest.mark.anyio
async def test_submit_refusal_is_job_submission_error() -> None:
    fake = FakeIRI()
    fake.refuse_submit = (422, "queue 'debug' does not accept jobs over 1 hour")
    backend = make_backend(fake)
    with pytest.raises(JobSubmissionError) as refused:
        await backend.submit("polaris", echo_spec())
    await backend.aclose()
    assert refused.value.resource == "polaris" and refused.value.status_code == 422
    assert "does not accept jobs over 1 hour" in str(refused.value)


@pytest.mark.anyio
async def test_a_submit_still_rate_limited_after_the_retries_is_not_called_refused() -> None:
    fake = FakeIRI()
    fake.refuse_submit = (429, "slow down")
    backend = make_backend(fake)
    with pytest.raises(RateLimitedError):
        await backend.submit("polaris", echo_spec())
    await backend.aclose()
    assert not fake.jobs


@pytest.mark.anyio
async def test_a_bad_submit_tag_is_refused_before_any_request() -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    with pytest.raises(InvalidJobSpec, match=SUBMIT_TAG_VARIABLE) as caught:
        await backend.submit("polaris", echo_spec(environment={SUBMIT_TAG_VARIABLE: "two words"}))
    await backend.aclose()
    assert caught.value.facility == "iri" and not fake.log


@pytest.mark.anyio
async def test_submit_v2_idempotency_project_header_and_conflict() -> None:
    fake = FakeIRI("v2")
    fake.conflicts = 1
    backend = make_backend(fake, project="myproj", project_header=True)
    spec = echo_spec(attributes=JobAttributes(duration=timedelta(seconds=60)))
    job = await backend.submit("polaris", spec)
    await backend.aclose()
    sent = fake.requests_to("POST", "/compute/job/")
    assert len(sent) == 2 and len(fake.jobs) == 1 and job.id == "1001"
    keys = {r.headers["Idempotency-Key"] for r in sent}
    assert len(keys) == 1  # one key for every re-send of one submit call
    assert all(r.headers["X-IRI-Facility-Project"] == "myproj" for r in sent)
    assert all("account" not in json.loads(r.content)["attributes"] for r in sent)
    again = make_backend(fake, project="myproj")
    await again.submit("polaris", spec)
    await again.aclose()
    later = fake.requests_to("POST", "/compute/job/")[len(sent) :]
    assert {r.headers["Idempotency-Key"] for r in later}.isdisjoint(keys)  # a new call, a new key


@pytest.mark.anyio
async def test_submit_v2_without_account_fails_before_any_request() -> None:
    fake = FakeIRI("v2")
    backend = make_backend(fake)
    with pytest.raises(InvalidJobSpec, match=r"attributes\.account"):
        await backend.submit("polaris", echo_spec(attributes=JobAttributes()))
    with pytest.raises(InvalidJobSpec, match="script"):
        await backend.submit("polaris", JobSpec(script="echo hi"))
    await backend.aclose()
    assert fake.log == []


@pytest.mark.anyio
async def test_resource_names_resolved_once_and_cached() -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    job = await backend.submit("polaris", echo_spec())
    for _ in range(3):
        assert (await backend.get_job("polaris", job.id)).id == job.id
    assert (await backend.get_job(POLARIS, job.id)).resource == "polaris"
    assert (await backend.get_job("Polaris", job.id)).resource == "polaris"
    assert fake.calls["GET /status/resources"] == 1
    with pytest.raises(NotFoundError) as unknown:
        await backend.get_job("aurora", "1")
    assert "polaris" in str(unknown.value) and "eagle" in str(unknown.value)
    passthrough = str(uuid.uuid4())
    with pytest.raises(NotFoundError):  # the fake knows no job there; the id itself is passed on
        await backend.get_job(passthrough, "1")
    assert fake.requests_to("GET", f"/compute/status/{passthrough}/1")
    await backend.aclose()


@pytest.mark.anyio
async def test_list_jobs_one_call_and_client_side_filter() -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    for _ in range(3):
        await backend.submit("polaris", echo_spec())
    fake.honour_job_filter = False
    before = fake.calls["POST /compute/status"]
    jobs = await backend.list_jobs("polaris", ["1001", "1003", "9999"])
    assert fake.calls["POST /compute/status"] == before + 1
    assert sorted(j.id for j in jobs) == ["1001", "1003"]
    body = json.loads(fake.requests_to("POST", "/compute/status/")[-1].content)
    assert body == {"job_ids": ["1001", "1003", "9999"]}
    assert await backend.list_jobs("polaris", []) == []
    assert fake.calls["POST /compute/status"] == before + 1
    assert len(await backend.list_jobs("polaris")) == 3
    await backend.aclose()


@pytest.mark.anyio
async def test_cancel_and_job_output() -> None:
    fake = FakeIRI()
    fake.task_results["tail"] = ("completed", load("task_tail_completed.json")["result"])
    fake.task_results["view"] = ("completed", load("task_view_completed.json")["result"])
    backend = make_backend(fake)
    job = await backend.submit("polaris", echo_spec())
    assert await backend.job_output("polaris", job.id, "stdout", tail=2) == "line 9\nline 10\n"
    tail_call = fake.requests_to("GET", "/filesystem/tail/")[0]
    assert FakeIRI._query(tail_call) == {"path": "/home/user/job-1001.out", "lines": "2"}
    assert await backend.job_output("polaris", job.id, "stderr") == "hello world\n"
    await backend.cancel("polaris", job.id)
    assert (await backend.get_job("polaris", job.id)).state is JobState.CANCELLED
    fake.jobs[job.id]["job_spec"].pop("stdout_path")
    with pytest.raises(NotFoundError, match="no known stdout path"):
        await backend.job_output("polaris", job.id)
    await backend.aclose()


@pytest.mark.anyio
async def test_task_polling_to_completion() -> None:
    fake = FakeIRI()
    fake.task_polls_before_done = 3
    fake.task_results["ls"] = ("completed", load("task_ls_completed.json")["result"])
    backend = make_backend(fake)
    entries = await backend.ls("eagle", "/home/user")
    await backend.aclose()
    assert [e.name for e in entries] == ["logs", "run.sh", "data"]
    assert len(fake.requests_to("GET", "/task/task-1")) == 4
    assert fake.requests_to("GET", f"/filesystem/ls/{EAGLE}")


@pytest.mark.anyio
async def test_task_failure_and_timeout() -> None:
    fake = FakeIRI()
    fake.task_results["stat"] = ("failed", load("task_failed_not_found.json")["result"])
    fake.task_results["rm"] = ("failed", load("task_failed_permission.json")["result"])
    backend = make_backend(fake)
    with pytest.raises(NotFoundError, match="/home/user/nope"):
        await backend.stat("eagle", "/home/user/nope")
    with pytest.raises(APIError, match="Permission denied") as denied:
        await backend.rm("home", "/etc/passwd")
    assert not isinstance(denied.value, NotFoundError) and denied.value.resource == "home"
    fake.task_polls_before_done = 10**6
    backend.task_timeout = 0.05
    backend.task_poll_interval = 0.01
    with pytest.raises(WaitTimeout, match="still active"):
        await backend.mkdir("eagle", "/home/user/new", parents=True)
    await backend.aclose()


@pytest.mark.anyio
async def test_v2_filesystem_uses_json_posts() -> None:
    fake = FakeIRI("v2")
    fake.task_results["head"] = ("completed", load("task_head_completed.json")["result"])
    backend = make_backend(fake)
    assert await backend.head("eagle", "/home/user/echo.out", lines=2) == "line 1\nline 2\n"
    await backend.chmod("eagle", "/home/user/echo.out", "755")
    await backend.aclose()
    head = fake.requests_to("POST", "/filesystem/head/")[0]
    assert json.loads(head.content) == {"path": "/home/user/echo.out", "lines": 2}
    chmod = fake.requests_to("POST", "/filesystem/chmod/")[0]
    assert json.loads(chmod.content) == {"path": "/home/user/echo.out", "mode": "755"}


@pytest.mark.anyio
async def test_download_writes_whole_file_only(tmp_path: Path) -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    fake.task_results["download"] = ("completed", load("task_download_base64.json")["result"])
    target = tmp_path / "data.bin"
    await backend.download("eagle", "/home/user/data.bin", target)
    assert target.read_bytes() == b"\x00\x01binary\xff\n"
    fake.task_results["download"] = ("completed", {"output": base64.b64encode(b"hello world\n").decode()})
    await backend.download("eagle", "/home/user/echo.out", tmp_path / "echo.out")
    assert (tmp_path / "echo.out").read_text() == "hello world\n"
    for unreadable in (
        {"output": {"content": "!!!", "encoding": "base64"}},
        load("task_download_string.json")["result"],  # text, not base64: never written as it came
        {"output": {"content": "words"}},
        {"output": ["a", "list"]},
    ):
        fake.task_results["download"] = ("completed", unreadable)
        with pytest.raises(APIError):
            await backend.download("eagle", "/home/user/broken", tmp_path / "broken")
    await backend.aclose()
    assert sorted(os.listdir(tmp_path)) == ["data.bin", "echo.out"]


@pytest.mark.anyio
async def test_download_result_naming_a_url(tmp_path: Path) -> None:
    """A URL result is fetched through the session from the API's own host; another host is
    refused (the API's credentials would go there) and leaves no file."""

    class Bearer(httpx.Auth):
        def auth_flow(self, request: httpx.Request) -> Any:
            request.headers["Authorization"] = "Bearer t0ken"
            yield request

    fake = FakeIRI()
    backend = make_backend(fake, auth=Bearer())
    served = f"http://127.0.0.1:9{fake.prefix}/files/abc"
    fake.task_results["download"] = ("completed", {"output": served})
    fake.blobs["/files/abc"] = b"\x00from a link"
    await backend.download("eagle", "/home/user/data.bin", tmp_path / "data.bin")
    assert (tmp_path / "data.bin").read_bytes() == b"\x00from a link"
    fetched = [r for r in fake.log if r.url.path.endswith("/files/abc")]
    assert len(fetched) == 1 and fetched[0].headers["Authorization"] == "Bearer t0ken"
    fake.task_results["download"] = ("completed", {"output": served.replace("abc", "gone?sig=s3cr3t")})
    with pytest.raises(NotFoundError) as gone:
        await backend.download("eagle", "/home/user/data.bin", tmp_path / "gone.bin")
    assert "/files/gone" in str(gone.value) and "s3cr3t" not in str(gone.value)
    assert gone.value.__cause__ is None and gone.value.__suppress_context__
    for elsewhere in ("https://127.0.0.1:9/files/abc", "http://files.example.org/abc"):
        fake.task_results["download"] = ("completed", {"output": elsewhere})
        with pytest.raises(APIError, match="another host"):
            await backend.download("eagle", "/home/user/data.bin", tmp_path / "other.bin")
    await backend.aclose()
    assert sorted(os.listdir(tmp_path)) == ["data.bin"]


@pytest.mark.anyio
async def test_upload_small_and_too_large(tmp_path: Path) -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    small = tmp_path / "small.txt"
    small.write_bytes(b"payload")
    seen: list[tuple[int, int | None]] = []
    await backend.upload("eagle", small, "/home/user/small.txt", progress=lambda d, t: seen.append((d, t)))
    assert b"payload" in fake.uploads["/home/user/small.txt"]
    assert b'name="file"' in fake.uploads["/home/user/small.txt"]
    assert seen[-1] == (7, 7)
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:
        handle.truncate(IRI_FILE_LIMIT + 1)
    calls = len(fake.log)
    with pytest.raises(UnsupportedOperation, match="Globus"):
        await backend.upload("eagle", big, "/home/user/big.bin")
    assert len(fake.log) == calls
    await backend.aclose()


@pytest.mark.anyio
async def test_status_flows() -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    names = [r.name for r in await backend.resources()]
    assert names == ["polaris", "eagle", "home", "website"]
    polaris = await backend.resource("polaris")
    assert polaris.id == POLARIS and polaris.state is ResourceState.UP
    outages = await backend.outages(
        "polaris", datetime(2030, 3, 10, tzinfo=UTC), datetime(2030, 3, 12, tzinfo=UTC)
    )
    assert [o.id for o in outages] == ["inc-planned-maint"]
    assert outages[0].resources == ("polaris",)
    incident_call = fake.requests_to("GET", "/status/incidents")[0]
    assert FakeIRI._query(incident_call)["resource_id"] == POLARIS
    everything = await backend.outages()
    assert {o.id for o in everything} >= {"inc-planned-maint", "inc-eagle-degraded", "inc-reservation"}
    await backend.aclose()
    assert fake.calls["GET /status/resources"] == 1
    assert fake.calls["GET /status/resources/{id}"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 504])
async def test_submit_after_gateway_timeout_finds_job_by_tag(status: int) -> None:
    fake = FakeIRI()
    fake.gateway_error_after_recording = 1
    fake.gateway_status = status
    backend = make_backend(fake)
    job = await backend.submit("polaris", echo_spec())
    await backend.aclose()
    assert fake.calls["POST /compute/job"] == 1 and len(fake.jobs) == 1 and job.id == "1001"


@pytest.mark.anyio
async def test_submit_v2_without_idempotency_store_falls_back_to_tag() -> None:
    fake = FakeIRI("v2")
    fake.no_idempotency_store = True
    backend = make_backend(fake)
    job = await backend.submit("polaris", echo_spec())
    job2 = await backend.submit("polaris", echo_spec())
    await backend.aclose()
    sent = fake.requests_to("POST", "/compute/job/")
    assert [("Idempotency-Key" in r.headers) for r in sent] == [True, False, False]
    assert (job.id, job2.id) == ("1001", "1002")


@pytest.mark.anyio
async def test_job_output_in_directory_path() -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    spec = echo_spec(stdout_path="/home/user/logs", stderr_path="/home/user/logs", name="my_job")
    job = await backend.submit("polaris", spec)
    fake.task_results["tail"] = [
        ("failed", {"error": "tail: error reading '/home/user/logs': Is a directory"}),
        ("completed", {"output": {"content": "End\n"}}),
    ]
    fake.task_results["ls"] = (
        "completed",
        {"output": [{"name": f"my_job.o{job.id}", "type": "-"}, {"name": f"my_job.e{job.id}", "type": "-"}]},
    )
    assert await backend.job_output("polaris", job.id, tail=5) == "End\n"
    await backend.aclose()
    second_tail = fake.requests_to("GET", "/filesystem/tail/")[1]
    assert FakeIRI._query(second_tail)["path"] == f"/home/user/logs/my_job.o{job.id}"


@pytest.mark.anyio
async def test_update_job_flow_and_refusals() -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    job = await backend.submit("polaris", echo_spec())
    longer = echo_spec(name="echo-longer", attributes=JobAttributes(duration=timedelta(minutes=10)))
    updated = await backend.update_job("polaris", job.id, longer)
    assert updated.id == job.id and updated.name == "echo-longer" and updated.state is JobState.PENDING
    put = fake.requests_to("PUT", f"/compute/job/{POLARIS}/{job.id}")
    assert len(put) == 1 and json.loads(put[0].content)["attributes"]["duration"] == 600
    assert "Idempotency-Key" not in put[0].headers
    conflict = load("problem_409_update_started.json")
    fake.update_refusal = (409, conflict["detail"])
    with pytest.raises(JobSubmissionError) as refused:
        await backend.update_job("polaris", job.id, longer)
    assert refused.value.status_code == 409 and refused.value.resource == "polaris"
    assert "only new or queued jobs can be updated" in str(refused.value)
    assert len(fake.requests_to("PUT", "/compute/job/")) == 2  # a 409 is not retried
    fake.update_refusal = (422, "duration exceeds the queue limit")
    with pytest.raises(JobSubmissionError, match="queue limit"):
        await backend.update_job("polaris", job.id, longer)
    with pytest.raises(NotFoundError):
        await backend.update_job("polaris", "999", longer)
    await backend.aclose()


@pytest.mark.anyio
async def test_update_job_v2_project_header_and_no_account() -> None:
    fake = FakeIRI("v2")
    backend = make_backend(fake, project="myproj")
    job = await backend.submit("polaris", echo_spec())
    spec = echo_spec(attributes=JobAttributes(duration=timedelta(seconds=60)))
    await backend.update_job("polaris", job.id, spec)
    put = fake.requests_to("PUT", "/compute/job/")[0]
    assert "X-IRI-Facility-Project" not in put.headers
    assert json.loads(put.content)["attributes"]["account"] == "myproj"
    await backend.aclose()
    fake = FakeIRI("v2")
    backend = make_backend(fake, project="myproj", project_header=True)
    await backend.update_job("polaris", (await backend.submit("polaris", echo_spec())).id, spec)
    put = fake.requests_to("PUT", "/compute/job/")[0]
    assert put.headers["X-IRI-Facility-Project"] == "myproj"
    assert "account" not in json.loads(put.content)["attributes"]
    await backend.aclose()
    bare = make_backend(FakeIRI("v2"))
    with pytest.raises(InvalidJobSpec):
        await bare.update_job("polaris", "1001", spec)
    await bare.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_new_file_operations_flow(version: str) -> None:
    fake = FakeIRI(version)
    fake.task_results["checksum"] = ("completed", load("task_checksum_completed.json")["result"])
    fake.task_results["file"] = ("completed", load("task_file_completed.json")["result"])
    backend = make_backend(fake)
    digest = load("task_checksum_completed.json")["result"]["output"]["checksum"]
    assert await backend.checksum("eagle", "/home/user/echo.out") == f"sha256:{digest}"
    assert await backend.file_type("eagle", "/home/user/echo.out") == "ASCII text"
    await backend.symlink("eagle", "/home/user/echo.out", "/home/user/link")
    await backend.compress("eagle", "/home/user/dir", "/home/user/dir.tar.bz2", compression="bzip2")
    await backend.extract("eagle", "/home/user/dir.tar.bz2", "/home/user/out", compression="bzip2")
    with pytest.raises(InvalidJobSpec):
        await backend.compress("eagle", "/home/user/dir", "/home/user/dir.zip", compression="zip")
    fake.task_results["extract"] = ("failed", load("task_compress_failed.json")["result"])
    with pytest.raises(NotFoundError, match="no such file"):
        await backend.extract("eagle", "/home/user/missing", "/home/user/out")
    fake.task_results["checksum"] = ("completed", {"output": {"algorithm": "SHA-256"}})
    with pytest.raises(APIError, match="unusable answer"):
        await backend.checksum("eagle", "/home/user/echo.out")
    await backend.aclose()
    commands = [t["command"] for t in fake.tasks.values()]
    args = {c["command"]: c["args"] for c in commands}
    read = "POST" if version == "v2" else "GET"
    assert fake.calls[f"{read} /filesystem/checksum"] == 2 and fake.calls[f"{read} /filesystem/file"] == 1
    assert args["checksum"] == {"path": "/home/user/echo.out"}
    assert args["symlink"] == {"path": "/home/user/echo.out", "link_path": "/home/user/link"}
    compression = "bzip2" if version == "v1" else "urn:doe-iri:compression:bzip2"
    assert args["compress"] == {
        "path": "/home/user/dir",
        "target_path": "/home/user/dir.tar.bz2",
        "compression": compression,
    }
    assert args["extract"]["compression"] == ("gzip" if version == "v1" else "urn:doe-iri:compression:gzip")
    assert fake.calls["POST /filesystem/compress"] == 1  # the zip one never left


@pytest.mark.anyio
@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_iri_extras_flow(version: str) -> None:
    fake = FakeIRI(version)
    backend = make_backend(fake)
    assert backend.facility == "iri"  # the contract's label is untouched
    assert (await backend.facility_info())["short_name"] == "ALCF"
    assert [site["id"] for site in await backend.sites()] == ["alcf"]
    assert (await backend.site("alcf"))["short_name"] == "ANL"
    with pytest.raises(NotFoundError):
        await backend.site("nowhere")
    events = await backend.events("eagle")
    assert [e["id"] for e in events] == ["evt-eagle-down", "evt-eagle-up"]
    assert FakeIRI._query(fake.requests_to("GET", "/status/events")[-1])["resource_id"] == EAGLE
    since = await backend.events(
        incident_id="inc-eagle-degraded", since=datetime(2026, 2, 21, 10, tzinfo=UTC)
    )
    assert [e["id"] for e in since] == ["evt-eagle-up"]
    query = FakeIRI._query(fake.requests_to("GET", "/status/events")[-1])
    assert query["from"] == "2026-02-21T10:00:00Z" and "to" not in query
    assert (await backend.event("evt-polaris-down"))["incident_uri"] is None
    outage = await backend.incident("inc-planned-maint")
    assert outage.planned is True and outage.resources == ("polaris",)
    assert [r.name for r in await backend.compute_resources()] == ["polaris"]
    assert [r.name for r in await backend.filesystem_resources()] == ["eagle", "home"]
    fs_method = "POST" if version == "v2" else "GET"
    assert fake.calls[f"{fs_method} /filesystem/resources"] == 1
    assert [t["id"] for t in await backend.tasks()] == ["task-201", "task-204"]
    await backend.mkdir("eagle", "/home/user/new")
    task = await backend.get_task("task-1")
    assert task["status"] == "completed" and task["command"]["command"] == "mkdir"
    await backend.delete_task("task-1")
    with pytest.raises(NotFoundError):
        await backend.get_task("task-1")
    fake.task_list = {"unexpected": True}
    with pytest.raises(APIError, match="GET /task"):
        await backend.tasks()
    fake.facility_doc = ["not", "an", "object"]
    with pytest.raises(APIError, match="facility"):
        await backend.facility_info()
    await backend.aclose()


class SlowFakeIRI(FakeIRI):
    """A facility whose first submits time out on the client while the server goes on with them:
    the job appears when :meth:`finish_late` is called."""

    def __init__(self, version: str = "v1") -> None:
        super().__init__(version)
        self.time_out_submits = 0
        self.late: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and "/compute/job/" in request.url.path and self.time_out_submits:
            self.time_out_submits -= 1
            self.late.append(request)  # logged when the server gets to it
            raise httpx.ReadTimeout("timed out", request=request)
        return super().__call__(request)

    def finish_late(self) -> None:
        for request in self.late:
            super().__call__(request)
        self.late.clear()


@pytest.mark.anyio
async def test_a_timed_out_submit_is_not_sent_again_and_the_same_tag_reattaches() -> None:
    fake = SlowFakeIRI()
    fake.time_out_submits = 1
    backend = make_backend(fake)
    spec = echo_spec(environment={SUBMIT_TAG_VARIABLE: "airflow-run-9"})
    with pytest.raises(JobSubmissionError, match="outcome is unknown") as unknown:
        await backend.submit("polaris", spec)
    assert "airflow-run-9" in str(unknown.value)
    assert len(fake.late) == 1 and not fake.requests_to("POST", "/compute/job/")  # not sent again
    fake.finish_late()  # the server was still at work: the job exists now
    job = await backend.submit("polaris", spec)
    await backend.aclose()
    assert len(fake.requests_to("POST", "/compute/job/")) == 1 and list(fake.jobs) == [job.id]


@pytest.mark.anyio
async def test_a_timed_out_v2_submit_is_sent_again_under_its_idempotency_key() -> None:
    fake = SlowFakeIRI("v2")
    fake.time_out_submits = 1
    backend = make_backend(fake, project="myproj")
    job = await backend.submit("polaris", echo_spec())
    await backend.aclose()
    sent = [*fake.late, *fake.requests_to("POST", "/compute/job/")]
    assert len(sent) == 2 and len({r.headers["Idempotency-Key"] for r in sent}) == 1
    assert list(fake.jobs) == [job.id]


@pytest.mark.anyio
async def test_a_timed_out_submit_after_a_501_to_the_key_is_not_sent_again() -> None:
    class NoStoreSlowFakeIRI(SlowFakeIRI):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if "Idempotency-Key" in request.headers:
                self.log.append(request)
                return self._problem(501, "idempotency store not configured")
            return super().__call__(request)

    fake = NoStoreSlowFakeIRI("v2")
    fake.time_out_submits = 1
    backend = make_backend(fake, project="myproj")
    with pytest.raises(JobSubmissionError, match="outcome is unknown") as unknown:
        await backend.submit("polaris", echo_spec())
    await backend.aclose()
    assert unknown.value.outcome_unknown
    keyed = [r for r in fake.requests_to("POST", "/compute/job/") if "Idempotency-Key" in r.headers]
    assert len(keyed) == 1 and len(fake.late) == 1  # the keyless re-send timed out: not sent again
    assert "Idempotency-Key" not in fake.late[0].headers


@pytest.mark.anyio
async def test_a_v2_submit_kept_in_flight_leaves_its_tag_in_doubt() -> None:
    fake = FakeIRI("v2")
    fake.conflicts = 100
    backend = make_backend(fake, project="myproj", settle_window=3600.0)
    spec = echo_spec(environment={SUBMIT_TAG_VARIABLE: "in-flight-1"})
    with pytest.raises(JobSubmissionError, match="409") as unknown:
        await backend.submit("polaris", spec)
    assert unknown.value.outcome_unknown and "in-flight-1" in str(unknown.value)
    sent = fake.requests_to("POST", "/compute/job/")
    assert len({r.headers["Idempotency-Key"] for r in sent}) == 1
    fake.conflicts = 0
    with pytest.raises(JobSubmissionError, match="outcome is unknown"):
        await backend.submit("polaris", spec)  # looks first; moments later, nothing listed proves nothing
    await backend.aclose()
    assert len(fake.requests_to("POST", "/compute/job/")) == len(sent) and not fake.jobs


@pytest.mark.anyio
async def test_a_just_submitted_job_the_api_does_not_show_yet_is_pending() -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    job = await backend.submit("polaris", echo_spec())
    fake.jobs.clear()  # not visible yet
    assert (await backend.get_job("polaris", job.id)).state is JobState.PENDING
    with pytest.raises(NotFoundError):
        await backend.get_job("polaris", "9999")
    await backend.aclose()


@pytest.mark.anyio
async def test_find_job_by_tag_returns_the_newest_tagged_job() -> None:
    fake = FakeIRI()
    backend = make_backend(fake)
    tagged = echo_spec().replace(environment={SUBMIT_TAG_VARIABLE: "t-twice"})
    await backend.submit("polaris", tagged)
    second = await backend.submit("polaris", tagged)  # sent again on purpose: a second job
    await backend.submit("polaris", echo_spec())
    found = await backend.find_job_by_tag("polaris", "t-twice")
    assert found is not None and found.id == second.id == "1002" and found.resource == "polaris"
    assert await backend.find_job_by_tag("polaris", "never-used") is None
    await backend.aclose()


@pytest.mark.anyio
async def test_an_unreadable_submit_answer_is_found_by_tag_not_called_a_refusal() -> None:
    fake = FakeIRI()
    fake.unreadable_submit_answers = 1
    backend = make_backend(fake)
    job = await backend.submit("polaris", echo_spec())
    assert job.id == "1001" and fake.calls["POST /compute/job"] == 1
    await backend.aclose()


@pytest.mark.anyio
async def test_an_unreadable_submit_answer_with_no_job_listed_leaves_the_outcome_unknown() -> None:
    fake = FakeIRI()
    fake.unreadable_submit_answers = 1
    backend = make_backend(fake)
    # The listing does not show the job yet.
    fake._post_compute_status = lambda request, rest: httpx.Response(200, json=[])  # type: ignore[method-assign]
    with pytest.raises(JobSubmissionError) as caught:
        await backend.submit("polaris", echo_spec())
    assert caught.value.outcome_unknown
    text = str(caught.value)
    assert "could not be read" in text and "may exist" in text and "refused" not in text
    assert fake.calls["POST /compute/job"] == 1
    await backend.aclose()

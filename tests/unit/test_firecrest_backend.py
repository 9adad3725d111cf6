"""FirecREST backend: parsers on recorded payloads, request building, and the backend's error,
not-found and no-duplicate-submit handling over a mocked transport (the backend's ``transport``
option); and the body limit of the transport pyfirecrest users can give their client."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from facility_common import JobAttributes, JobSpec, JobState, NotFoundError, ResourceSpec
from facility_common.auth import FacilityAuth, StaticToken
from facility_common.backends.firecrest import FirecrestBackend
from facility_common.backends.firecrest.files import check_upload_name
from facility_common.backends.firecrest.parsers import (
    default_directory,
    job_id_of,
    largest_direct_download,
    largest_view,
    max_ops_file_size,
    parse_checksum,
    parse_file_entry,
    parse_jobs,
    parse_outages,
    parse_s3_upload,
    parse_stat,
    parse_system,
    parse_transfer_job,
    scheduler_type,
    storage_error_text,
    transfer_succeeded,
    without_url_queries,
)
from facility_common.backends.firecrest.requests import build_transfer_upload, build_view
from facility_common.backends.firecrest.script import render_script, submit_body, tag_of_script
from facility_common.backends.firecrest.verdicts import (
    ended_before_cancel,
    sbatch_refusal,
    transfer_said_not_found,
    unknown_to_scancel,
)
from facility_common.errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    InvalidJobSpec,
    JobSubmissionError,
    ServerError,
)
from facility_common.http import RetryPolicy
from facility_common.models import ResourceState
from facility_emulator.batch import parse_directives

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "firecrest"


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


# -- parsers ------------------------------------------------------------------------------------


def test_systems_health_maps_to_resource_state() -> None:
    systems = {s["name"]: s for s in load("systems.json")["systems"]}
    states = {name: parse_system(s).state for name, s in systems.items()}
    assert states == {
        "daint": ResourceState.UP,
        "eiger": ResourceState.DOWN,
        "santis": ResourceState.DEGRADED,
        "clariden": ResourceState.UNKNOWN,
    }
    eiger = parse_system(systems["eiger"])
    assert eiger.id == eiger.name == "eiger"
    assert "slurmctld not responding" in (eiger.description or "")
    assert scheduler_type(systems["santis"]) == "pbs"
    assert max_ops_file_size(systems["daint"]) == 5242880
    assert max_ops_file_size(systems["eiger"]) == 5242880  # FirecREST's default when unsaid
    assert default_directory(systems["daint"], "alice") == "/users/alice"


def test_slurm_states_are_normalised() -> None:
    jobs = {j.id: j for j in parse_jobs(load("jobs_slurm.json")["jobs"], "daint")}
    assert jobs["101"].state is JobState.COMPLETED and jobs["101"].exit_code == 0
    assert jobs["102"].state is JobState.FAILED and jobs["102"].exit_code == 3
    assert jobs["103"].state is JobState.TIMEOUT
    assert jobs["104"].state is JobState.CANCELLED
    assert jobs["105"].state is JobState.PENDING and jobs["105"].started_at is None
    assert jobs["106"].state is JobState.RUNNING  # a list is finished only when all steps are
    assert jobs["107"].state is JobState.UNKNOWN
    assert jobs["101"].finished_at == datetime.fromtimestamp(1748851205, UTC)


def test_pbs_letters_are_settled_by_exit_code() -> None:
    jobs = {j.id: j.state for j in parse_jobs(load("jobs_pbs.json")["jobs"], "santis", scheduler="pbs")}
    assert jobs == {
        "7001.pbs": JobState.PENDING,
        "7002.pbs": JobState.HELD,
        "7003.pbs": JobState.COMPLETED,
        "7004.pbs": JobState.FAILED,
        "7005.pbs": JobState.RUNNING,
    }


def test_output_paths_come_from_metadata() -> None:
    meta = load("metadata.json")["jobs"][0]
    job = parse_jobs(load("jobs_slurm.json")["jobs"][:1], "daint", outputs={"101": meta})[0]
    assert (job.stdout_path, job.stderr_path) == ("/users/alice/slurm-101.out", "/users/alice/slurm-101.err")
    assert tag_of_script(meta["script"]) == "0f3c"


def test_reservations_are_planned_outages() -> None:
    systems = {s["name"]: s for s in load("systems.json")["systems"]}
    outages = parse_outages(
        "eiger", load("reservations.json")["reservations"], parse_system(systems["eiger"])
    )
    planned = [o for o in outages if o.planned]
    assert [o.name for o in planned] == ["maint-june", "course"]
    assert planned[0].start == datetime.fromtimestamp(1748851200, UTC)
    assert planned[0].resources == ("eiger",)
    unplanned = [o for o in outages if not o.planned]
    assert len(unplanned) == 1 and unplanned[0].end is None


def test_file_models() -> None:
    entries = [parse_file_entry(e, "/users/alice") for e in load("ls.json")["output"]]
    assert [(e.name, e.type, e.size) for e in entries] == [
        ("data.bin", "file", 20480),
        ("runs", "directory", 4096),
        ("latest", "symlink", 7),
    ]
    assert entries[2].link_target == "runs/42" and entries[0].path == "/users/alice/data.bin"
    stat = parse_stat(load("stat.json")["output"], "/users/alice/data.bin")
    assert (stat.type, stat.size, stat.permissions) == ("file", 20480, "rw-r-----")
    assert parse_checksum(load("checksum.json")["output"]).startswith("sha256:9f86d0")


def test_rendered_script_reads_back_as_slurm_reads_it() -> None:
    spec = JobSpec(
        executable="/bin/echo",
        arguments=["hello world"],
        name="demo",
        stdout_path="out.txt",
        resources=ResourceSpec(node_count=2, process_count=8, memory=2 * 1024**3, exclusive_node_use=True),
        attributes=JobAttributes(
            duration=timedelta(hours=26, seconds=5), custom_attributes={"constraint": "gpu"}
        ),
    )
    script = render_script(spec, tag="abc")
    directives = parse_directives(script)
    assert directives.job_name == "demo"
    assert directives.time_limit == 26 * 3600 + 5
    assert directives.nodes == "2" and directives.output == "out.txt"
    assert directives.options["mem"] == "2048M" and directives.options["constraint"] == "gpu"
    assert "exclusive" in directives.options
    assert script.rstrip().endswith("/bin/echo 'hello world'")
    assert tag_of_script(script) == "abc"


def test_given_script_keeps_its_own_directives_after_ours() -> None:
    spec = JobSpec(script="#!/bin/bash\n#SBATCH --job-name=mine\necho hi\n", name="theirs")
    script = render_script(spec, tag="t1")
    assert script.splitlines()[:2] == ["#!/bin/bash", "# facility-submit-tag: t1"]
    assert parse_directives(script).job_name == "mine"  # the later directive wins
    body = submit_body(spec, tag="t1", directory="/users/a", account="g1", partition="normal")["job"]
    assert body["workingDirectory"] == "/users/a" and body["account"] == "g1"
    assert body["partition"] == "normal" and "reservation" not in body
    assert body["env"] == {"FACILITY_SUBMIT_TAG": "t1"}


# -- the backend over a mocked transport ----------------------------------------------------------


def _backend(handler: Any, **options: Any) -> FirecrestBackend:
    return FirecrestBackend(
        base_url="https://firecrest.example/v2",
        auth=None,
        submit_lookup_delays=(0.0,),
        transport=httpx.MockTransport(handler),
        **{"retry": None, **options},
    )


def _systems() -> httpx.Response:
    return httpx.Response(200, json=load("systems.json"))


def test_get_job_not_found_is_a_clean_not_found_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status/systems"):
            return _systems()
        return httpx.Response(404, json=load("error_not_found.json"))

    async def run() -> None:
        backend = _backend(handler)
        with pytest.raises(NotFoundError, match="Job not found"):
            await backend.get_job("daint", "555")
        await backend.aclose()

    anyio.run(run)


def test_ambiguous_submit_finds_the_tagged_job_instead_of_sending_again() -> None:
    posts: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/status/systems"):
            return _systems()
        if request.method == "POST" and path.endswith("/compute/daint/jobs"):
            posts.append(json.loads(request.content))
            return httpx.Response(502, text="bad gateway")
        if path.endswith("/compute/daint/jobs"):
            job = dict(load("jobs_slurm.json")["jobs"][4], jobId="900", name="tagged")
            return httpx.Response(200, json={"jobs": [job]})
        if path.endswith("/jobs/900/metadata"):
            script = posts[0]["job"]["script"]
            return httpx.Response(200, json={"jobs": [{"jobId": "900", "script": script}]})
        return httpx.Response(404, json={"message": "not here"})

    async def run() -> None:
        backend = _backend(handler, directory="/users/alice")
        spec = JobSpec(executable="/bin/true", name="tagged")
        job = await backend.submit("daint", spec)
        assert job.id == "900" and job.state is JobState.PENDING
        assert len(posts) == 1
        await backend.aclose()

    anyio.run(run)


def test_refused_job_is_a_submission_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status/systems"):
            return _systems()
        return httpx.Response(400, json={"errorType": "error", "message": "sbatch: error: invalid partition"})

    async def run() -> None:
        backend = _backend(handler, directory="/users/alice")
        with pytest.raises(JobSubmissionError, match="invalid partition"):
            await backend.submit("daint", JobSpec(executable="/bin/true"))
        await backend.aclose()

    anyio.run(run)


def test_a_401_with_a_static_token_is_an_authentication_error() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(401, json={"message": "expired"})

    async def run() -> None:
        backend = FirecrestBackend(
            base_url="https://firecrest.example/v2",
            auth=FacilityAuth(StaticToken("tok")),
            transport=httpx.MockTransport(handler),
        )
        with pytest.raises(AuthenticationError):
            await backend.resources()  # a static token cannot be refreshed: the 401 stands
        await backend.aclose()

    anyio.run(run)
    assert seen == ["Bearer tok"]


# -- ids, unreadable answers, find_job_by_tag, the body limit -----------------------------------


@pytest.mark.parametrize("value", [[1001], {"id": 1}, True, None, "", 1.5])
def test_a_job_id_of_the_wrong_type_is_an_api_error(value: Any) -> None:
    with pytest.raises(APIError, match="job id"):
        job_id_of(value)
    assert job_id_of(1001) == "1001" and job_id_of(" 77 ") == "77"


def _tagged_server(
    submit: httpx.Response, *, tagged: bool, metadata_fails: bool = False
) -> tuple[Any, list[dict[str, Any]]]:
    """A handler whose submit answers ``submit``; the listing shows job 900, whose script carries
    the submitted tag when ``tagged``."""
    posts: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/status/systems"):
            return _systems()
        if request.method == "POST" and path.endswith("/compute/daint/jobs"):
            posts.append(json.loads(request.content))
            return submit
        if path.endswith("/compute/daint/jobs"):
            job = dict(load("jobs_slurm.json")["jobs"][4], jobId="900", name="tagged")
            return httpx.Response(200, json={"jobs": [job] if posts else []})
        if path.endswith("/jobs/900/metadata"):
            if metadata_fails:
                return httpx.Response(500, json={"message": "metadata unavailable"})
            script = posts[0]["job"]["script"] if tagged else "#!/bin/bash\ntrue\n"
            return httpx.Response(200, json={"jobs": [{"jobId": "900", "script": script}]})
        return httpx.Response(404, json={"message": "not here"})

    return handler, posts


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(201, text="<html>not json</html>"),
        httpx.Response(200, json={"jobId": 5}),  # a success status other than the API's 201
        httpx.Response(201, json={"jobId": [1001]}),
        httpx.Response(201, json={"noJobId": True}),
    ],
    ids=["not-json", "unexpected-2xx", "wrong-type", "no-id"],
)
def test_an_unreadable_submit_answer_finds_the_job_by_its_tag(answer: httpx.Response) -> None:
    handler, posts = _tagged_server(answer, tagged=True)

    async def run() -> Any:
        backend = _backend(handler, directory="/users/alice")
        try:
            return await backend.submit("daint", JobSpec(executable="/bin/true", name="tagged"))
        finally:
            await backend.aclose()

    job = anyio.run(run)
    assert job.id == "900" and len(posts) == 1


def test_an_unreadable_submit_answer_without_the_job_is_an_unknown_outcome() -> None:
    handler, posts = _tagged_server(httpx.Response(201, text="garbage"), tagged=False)

    async def run() -> None:
        backend = _backend(handler, directory="/users/alice")
        spec = JobSpec(executable="/bin/true", name="tagged", environment={"FACILITY_SUBMIT_TAG": "t-1"})
        try:
            with pytest.raises(JobSubmissionError) as caught:
                await backend.submit("daint", spec)
            assert caught.value.outcome_unknown
            assert "could not be read" in str(caught.value) and "may exist" in str(caught.value)
            assert "FACILITY_SUBMIT_TAG=t-1" in str(caught.value)
            # The same tag again moments later looks first and, not finding it, still sends
            # nothing: the API may list the job late.
            with pytest.raises(JobSubmissionError) as again:
                await backend.submit("daint", spec)
            assert again.value.outcome_unknown
        finally:
            await backend.aclose()

    anyio.run(run)
    assert len(posts) == 1


def test_a_503_is_a_known_outcome_raised_as_it_is() -> None:
    # The shared submit policy: a 503 provably created no job, so it is neither looked up nor
    # sent again; it is raised as the server error it is (it used to become JobSubmissionError).
    handler, posts = _tagged_server(httpx.Response(503, json={"message": "down"}), tagged=False)

    async def run() -> None:
        backend = _backend(handler, directory="/users/alice", retry=RetryPolicy(attempts=1))
        try:
            with pytest.raises(ServerError) as caught:
                await backend.submit("daint", JobSpec(executable="/bin/true"))
            assert caught.value.status_code == 503
        finally:
            await backend.aclose()

    anyio.run(run)
    assert len(posts) == 1


def test_find_job_by_tag_reads_the_tag_from_the_script() -> None:
    handler, _ = _tagged_server(httpx.Response(201, json={"jobId": 900}), tagged=True)

    async def run() -> None:
        backend = _backend(handler, directory="/users/alice")
        spec = JobSpec(executable="/bin/true", name="tagged", environment={"FACILITY_SUBMIT_TAG": "t-2"})
        try:
            assert (await backend.submit("daint", spec)).id == "900"
            found = await backend.find_job_by_tag("daint", "t-2")
            assert found is not None and found.id == "900"
            assert await backend.find_job_by_tag("daint", "some-other-tag") is None
        finally:
            await backend.aclose()

    anyio.run(run)


def test_find_job_by_tag_with_unreadable_metadata_is_an_unknown_outcome() -> None:
    handler, _ = _tagged_server(httpx.Response(201, json={"jobId": 900}), tagged=True, metadata_fails=True)

    async def run() -> None:
        backend = _backend(handler, directory="/users/alice", retry=RetryPolicy(attempts=1))
        try:
            await backend.submit("daint", JobSpec(executable="/bin/true", name="tagged"))
            with pytest.raises(JobSubmissionError) as caught:
                await backend.find_job_by_tag("daint", "t-3")
            assert caught.value.outcome_unknown
        finally:
            await backend.aclose()

    anyio.run(run)


def test_the_backend_validates_max_body_bytes() -> None:
    with pytest.raises(ConfigurationError, match="max_body_bytes"):
        FirecrestBackend(base_url="https://firecrest.example/v2", max_body_bytes=0)
    backend = FirecrestBackend(base_url="https://firecrest.example/v2", max_body_bytes=1234)
    assert backend.max_body_bytes == 1234


# -- staging and transfer answers ------------------------------------------------------------------

SIGNED = "https://s3.cscs.example/bucket/key?X-Amz-Credential=AK%2F1&X-Amz-Signature=0badc0ffee"


def test_staging_urls_lose_their_query_in_any_text() -> None:
    text = f"PUT {SIGNED} failed; see {SIGNED}."
    cleaned = without_url_queries(text)
    assert "0badc0ffee" not in cleaned and "X-Amz" not in cleaned
    assert cleaned.count("https://s3.cscs.example/bucket/key?…") == 2


def test_an_s3_error_answer_keeps_only_its_code_and_message() -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>'
        "<Message>The request signature we calculated does not match</Message>"
        "<SignatureProvided>0badc0ffee</SignatureProvided>"
        "<CanonicalRequest>PUT /bucket/key X-Amz-Signature=0badc0ffee</CanonicalRequest></Error>"
    )
    text = storage_error_text(body, "application/xml")
    assert text == "SignatureDoesNotMatch: The request signature we calculated does not match"
    assert storage_error_text('{"message": "NoSuchKey", "data": "x"}', "application/json") == "NoSuchKey"
    assert storage_error_text("<html>proxy</html>", "text/html") is None


def test_staged_upload_directives_are_read_and_never_shown() -> None:
    answer = {
        "transferJob": {"jobId": 77, "system": "eiger", "logs": {"outputLog": "/o", "errorLog": "/e"}},
        "transferDirectives": {
            "transferMethod": "s3",
            "partsUploadUrls": [SIGNED, SIGNED],
            "completeUploadUrl": SIGNED,
            "maxPartSize": 1000,
        },
    }
    stage = parse_s3_upload(answer, 1500)
    assert stage.part_size == 1000 and len(stage.part_urls) == 2
    assert "0badc0ffee" not in repr(stage)
    job = parse_transfer_job(answer, "daint", "the staged upload")
    assert (job.job_id, job.system, job.output_log) == ("77", "eiger", "/o")
    with pytest.raises(APIError, match="2 parts of 1000 bytes") as caught:
        parse_s3_upload(answer, 2500)
    assert "0badc0ffee" not in str(caught.value)
    with pytest.raises(APIError, match="'streamer'"):
        parse_s3_upload({"transferDirectives": {"transferMethod": "streamer"}}, 1)


def test_a_transfer_job_succeeded_when_its_log_says_so() -> None:
    assert transfer_succeeded("copying\nFiles were successfully copied.\n")
    assert transfer_succeeded("Multipart file upload successfully completed")
    assert not transfer_succeeded("cp: cannot stat 'x': No such file or directory")


def test_what_slurm_said_behind_the_servers_500s() -> None:
    refused = load("error_sbatch_refused.json")["message"]
    assert sbatch_refusal(refused) == (
        "sbatch: error: invalid partition specified: nope; "
        "sbatch: error: Batch job submission failed: Invalid partition name specified"
    )
    assert sbatch_refusal(load("error_sbatch_timeout.json")["message"]) is None  # the job may exist
    assert sbatch_refusal("Unexpected Slurm command response. exit_status:0 std_err:sbatch: error: x") is None
    assert sbatch_refusal("Unable to submit new job") is None and sbatch_refusal(None) is None
    ended, unknown = (
        load("error_scancel_ended.json")["message"],
        load("error_scancel_unknown.json")["message"],
    )
    assert ended_before_cancel(ended) and not ended_before_cancel(unknown)
    assert unknown_to_scancel(unknown) and not unknown_to_scancel(ended)
    assert not ended_before_cancel("Unexpected Slurm command response. exit_status:1 std_err:ssh: broken")
    assert transfer_said_not_found("mv: cannot stat '/u/a': No such file or directory\nUnable to move files")
    assert not transfer_said_not_found("cp: cannot create regular file '/u/b': Permission denied")


@pytest.mark.parametrize("limit", [5 * 1024 * 1024, 1024 * 1024, 1000, 7])
def test_sizes_sent_stay_under_the_servers_output_limit(limit: int) -> None:
    """The server answers 413 once a command's output reaches max_ops_file_size: view's dd writes
    two blocks of `size` bytes, download's base64 writes 4 bytes per 3 of the file."""
    view = largest_view(limit)
    assert 2 * view < limit <= 2 * (view + 1)
    largest = largest_direct_download(limit)
    assert 4 * -(-largest // 3) < limit <= 4 * -(-(largest + 1) // 3)


def test_requests_the_server_needs_in_their_form() -> None:
    assert build_view("daint", "/f", offset=0, size=1024).params == {"path": "/f", "offset": 0, "size": 1024}
    current = build_transfer_upload("daint", "/users/a/big.bin", 9, account="g1").json
    assert current == {
        "sourcePath": "/users/a/big.bin",
        "transferDirectives": {"transferMethod": "s3", "fileSize": 9},
        "account": "g1",
    }
    legacy = build_transfer_upload("daint", "/users/a/big.bin", 9, account=None, version=(2, 3, 1)).json
    assert legacy == {"sourcePath": "/users/a", "fileName": "big.bin", "fileSize": 9}


@pytest.mark.parametrize("path", ["/u/a/", "/u/..", 'x/a"b', "/u/\\x", "/u/a\tb", "/u/it's", "/u/o'k/a"])
def test_upload_names_the_multipart_header_cannot_carry_are_refused(path: str) -> None:
    with pytest.raises(InvalidJobSpec) as caught:
        check_upload_name(path)
    assert (caught.value.field, caught.value.facility) == ("remote_path", "firecrest")
    assert check_upload_name("/u/50% off été;x=1.txt") == "/u/50% off été;x=1.txt"


def test_firecrest_never_gets_a_token_with_less_than_thirty_seconds_left() -> None:
    """FirecREST refuses a token with under 30 s left ("Access token expires too soon"): the
    backend sends only tokens with at least 40 s left, refreshing earlier than usual."""
    from facility_common.auth import OIDCClientCredentials

    issued = 0
    now = [1000.0]

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        nonlocal issued
        issued += 1
        return httpx.Response(200, json={"access_token": f"tok-{issued}", "expires_in": 60})

    source = OIDCClientCredentials(
        "https://idp.example.org/token",
        "client",
        "secret",
        transport=httpx.MockTransport(token_endpoint),
        clock=lambda: now[0],
    )
    sent: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Authorization"])
        return httpx.Response(200, json=[])

    backend = FirecrestBackend(
        base_url="https://firecrest.example/v2", auth=FacilityAuth(source), transport=httpx.MockTransport(api)
    )
    assert backend.options.min_token_validity >= 30

    async def main() -> list[str]:
        for step in (0, 10, 15, 10, 11, 10):
            now[0] += step
            await backend._session.request("GET", "status/systems")
        await backend.aclose()
        return sent

    # 60 s tokens: the usual lead is 6 s, but a token is handed out only while 40 s are left.
    assert anyio.run(main) == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
        "Bearer tok-2",
        "Bearer tok-3",
        "Bearer tok-3",
    ]
    assert (anyio.run(source.token)) == "tok-3"  # other users of the source keep the usual lead

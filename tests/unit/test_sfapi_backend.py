"""SF API backend: script rendering, parsers on recorded payloads, and flows over a mock transport."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from facility_common.backends.sfapi import SFAPIBackend
from facility_common.backends.sfapi.parsers import (
    parse_download,
    parse_jobs,
    parse_ls,
    parse_outages,
    parse_status,
)
from facility_common.backends.sfapi.requests import build_download, build_jobs, build_ls
from facility_common.backends.sfapi.script import (
    JobComment,
    check_directives,
    parse_comment,
    render_comment,
    render_script,
    slurm_duration,
)
from facility_common.backends.sfapi.tasks import parse_task
from facility_common.errors import (
    APIError,
    InvalidJobSpec,
    JobSubmissionError,
    NotFoundError,
    RateLimitedError,
    UnsupportedOperation,
)
from facility_common.http import RetryPolicy
from facility_common.models import JobAttributes, JobSpec, JobState, ResourceSpec, ResourceState

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "sfapi"
BASE = "https://api.nersc.example/api/v1.2"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- scripts ----------------------------------------------------------------------------------


def test_render_script_maps_the_jobspec_to_sbatch_lines() -> None:
    spec = JobSpec(
        executable="/bin/echo",
        arguments=["hello world", "$HOME"],
        name="my job",
        directory="/pscratch/run",
        environment={"A": "it's"},
        resources=ResourceSpec(
            node_count=2, processes_per_node=4, memory=3 * 1024**3, exclusive_node_use=True
        ),
        attributes=JobAttributes(
            duration=timedelta(hours=1, seconds=1),
            queue_name="debug",
            account="m1234",
            custom_attributes={"constraint": "gpu"},
        ),
    )
    script, comment = render_script(spec, tag="t1")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    for expected in (
        "#SBATCH --job-name=my_job",
        "#SBATCH --time=01:00:01",
        "#SBATCH --qos=debug",
        "#SBATCH --account=m1234",
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --mem=3072M",
        "#SBATCH --exclusive",
        "#SBATCH --constraint=gpu",
        "#SBATCH --chdir=/pscratch/run",
        "#SBATCH --output=facility-%j.out",
        "#SBATCH --error=facility-%j.err",
        "export A='it'\"'\"'s'",
        "export FACILITY_SUBMIT_TAG=t1",
        "/bin/echo 'hello world' '$HOME'",
    ):
        assert expected in lines
    assert comment == JobComment("t1", "facility-%j.out", "facility-%j.err")
    assert f"#SBATCH --comment={render_comment(comment)}" in lines
    # every directive sits before the first command, at the start of its line
    first_command = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    assert all(i < first_command for i, line in enumerate(lines) if "#SBATCH" in line)


def test_slurm_duration_and_comment_round_trip() -> None:
    assert slurm_duration(2) == "00:00:02"
    assert slurm_duration(0.2) == "00:00:01"
    assert slurm_duration(86400 + 61) == "1-00:01:01"
    comment = JobComment("t", "/a b/%j,x.out", "err")
    assert parse_comment(render_comment(comment)) == comment
    assert parse_comment("someone else's comment") is None


INDENTED = (
    "#!/bin/bash\n  #SBATCH -C gpu\n\t#SBATCH --qos=debug\n#SBATCH -N 1\nsrun hostname\n  #SBATCH later\n"
)


def test_indented_sbatch_lines_are_fixed_or_refused_never_ignored(caplog: pytest.LogCaptureFixture) -> None:
    fixed = check_directives(INDENTED, "fix")
    assert fixed.splitlines()[1:4] == ["#SBATCH -C gpu", "#SBATCH --qos=debug", "#SBATCH -N 1"]
    assert fixed.splitlines()[5] == "  #SBATCH later"  # after the first command: not a directive
    assert "2, 3" in caplog.text
    with pytest.raises(InvalidJobSpec, match=r"line\(s\) 2, 3 have whitespace before #SBATCH"):
        check_directives(INDENTED, "refuse")
    with pytest.raises(InvalidJobSpec, match="#!"):
        check_directives("echo hi\n", "fix")


def test_given_script_is_tagged_and_keeps_its_output_paths() -> None:
    script, comment = render_script(
        JobSpec(script="#!/bin/bash\n #SBATCH -o out-%j.txt\necho hi\n"), tag="t2"
    )
    assert script.splitlines()[1].startswith("#SBATCH --comment=facility:tag=t2")
    assert script.splitlines()[2] == "#SBATCH -o out-%j.txt"
    assert comment.stdout == comment.stderr == "out-%j.txt"
    _, own = render_script(JobSpec(script="#!/bin/bash\n#SBATCH --comment=mine\necho\n"), tag="t3")
    assert own.tag is None and own.stdout == "slurm-%j.out"


# -- parsers ----------------------------------------------------------------------------------


def test_parse_sacct_states_through_the_shared_table() -> None:
    jobs = {job.id: job for job in parse_jobs(payload("sacct.json"), "perlmutter", "sacct")}
    expected = {
        "1": JobState.COMPLETED,
        "2": JobState.CANCELLED,
        "3": JobState.FAILED,
        "4": JobState.FAILED,
        "5": JobState.TIMEOUT,
        "6": JobState.FAILED,
        "7": JobState.TIMEOUT,
        "8": JobState.FAILED,
        "10": JobState.UNKNOWN,
    }
    for job_id, state in expected.items():
        assert jobs[job_id].state is state, job_id
    assert jobs["2"].native_state == "CANCELLED by 71234"
    assert jobs["8"].exit_code == 3
    assert jobs["1"].finished_at == datetime(2025, 3, 1, 10, 1, tzinfo=UTC)
    assert jobs["1"].stdout_path == "/home/a/slurm-1.out"


def test_parse_squeue_rows_and_output_paths_from_the_comment() -> None:
    running, held = parse_jobs(payload("squeue.json"), "perlmutter", "squeue")
    assert running.state is JobState.RUNNING and running.exit_code is None
    assert running.stdout_path == "/pscratch/sd/a/alice/facility-31415.out"
    assert running.stderr_path == "/pscratch/sd/a/alice/run/facility-31415.err"
    assert held.state is JobState.HELD and held.message == "JobHeldUser"


def test_parse_status_outages_tasks_ls_download() -> None:
    statuses = [parse_status(item) for item in payload("status_all.json")]
    assert [s.state for s in statuses] == [ResourceState.UP, ResourceState.DEGRADED, ResourceState.DOWN]
    assert statuses[0].id == statuses[0].name == "perlmutter"
    [outage] = parse_outages(payload("outages_planned_all.json"), planned=True)
    assert outage.planned and outage.resources == ("perlmutter",)
    assert outage.start == datetime(2025, 3, 12, 13, 0, tzinfo=UTC)
    assert parse_task(payload("task_submit_completed.json")) == (
        "completed",
        {"status": "ok", "error": None, "jobid": "31415"},
    )
    entries = {e.name: e for e in parse_ls(payload("ls_dir.json"), "/home/alice", "perlmutter")}
    assert set(entries) == {"data.txt", "sub", "link", ".hidden"}
    assert entries["data.txt"].type == "file" and entries["data.txt"].size == 12
    assert entries["data.txt"].path == "/home/alice/data.txt"
    assert entries["link"].type == "symlink" and entries["link"].link_target == "data.txt"
    assert entries["sub"].permissions == "rwxr-xr-x"
    with pytest.raises(NotFoundError, match="No such file"):
        parse_ls(payload("ls_missing.json"), "/nope", "perlmutter")
    assert parse_download(payload("download_binary.json"), "/x", "perlmutter") == b"\x00\x01\x02\xff"


def test_builders_send_cached_false_and_batched_kwargs() -> None:
    request = build_jobs("perlmutter", ["1", "2"], sacct=False)
    assert request.params == {"sacct": False, "cached": False, "kwargs": ["jobid=1,2"]}
    assert build_ls("perlmutter", "/home/a b").path == "utilities/ls/perlmutter//home/a%20b"
    assert build_download("dtns", "rel/x").params == {"binary": True}


# -- flows over a mock transport --------------------------------------------------------------


class FakeSFAPI:
    """A tiny SF API: records calls; submit can lose its first answer after creating the job."""

    def __init__(self, *, lose_first_submit: bool = False) -> None:
        self.lose_first_submit = lose_first_submit
        self.submits: list[dict[str, str]] = []
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1.2/")
        self.calls.append(f"{request.method} {path}?{request.url.query.decode()}")
        if request.method == "POST" and path == "compute/jobs/perlmutter":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            self.submits.append(form)
            if self.lose_first_submit and len(self.submits) == 1:
                return httpx.Response(504, json={"detail": "gateway timeout"})
            return httpx.Response(200, json={"task_id": "77", "status": "OK", "error": None})
        if path == "tasks/77":
            return httpx.Response(200, json=payload("task_submit_completed.json"))
        if path == "compute/jobs/perlmutter" and request.method == "GET":
            comment = ""
            if self.submits:
                line = next(x for x in self.submits[0]["job"].splitlines() if "--comment=" in x)
                comment = line.split("--comment=", 1)[1]
            row = {
                "jobid": "31415",
                "jobname": "j",
                "state": "PENDING",
                "exitcode": "0:0",
                "comment": comment,
            }
            return httpx.Response(200, json={"status": "OK", "output": [row], "error": None})
        return httpx.Response(404, json={"detail": "Not Found"})


def _backend(handler: Callable[[httpx.Request], httpx.Response]) -> SFAPIBackend:
    return SFAPIBackend(
        base_url=BASE,
        transport=httpx.MockTransport(handler),
        task_poll_interval=0,
        submit_lookup_delays=(0.0,),
        retry=RetryPolicy(attempts=1),
    )


@pytest.mark.anyio
async def test_submit_awaits_the_task_and_reads_the_jobid() -> None:
    fake = FakeSFAPI()
    backend = _backend(fake)
    job = await backend.submit("perlmutter", JobSpec(executable="/bin/true"))
    assert job.id == "31415" and job.state is JobState.PENDING
    assert fake.submits[0]["isPath"] == "false"
    assert "GET tasks/77?" in fake.calls
    await backend.aclose()


@pytest.mark.anyio
async def test_lost_submit_answer_finds_the_tagged_job_instead_of_resubmitting() -> None:
    fake = FakeSFAPI(lose_first_submit=True)
    backend = _backend(fake)
    job = await backend.submit("perlmutter", JobSpec(executable="/bin/true"))
    assert job.id == "31415"
    assert len(fake.submits) == 1
    assert any("sacct=true" in call for call in fake.calls)
    await backend.aclose()


@pytest.mark.anyio
async def test_refused_submit_task_is_a_job_submission_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"task_id": "78", "status": "OK", "error": None})
        return httpx.Response(200, json=payload("task_submit_failed.json"))

    backend = _backend(handler)
    with pytest.raises(JobSubmissionError, match="Invalid qos"):
        await backend.submit("perlmutter", JobSpec(executable="/bin/true"))
    await backend.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("operation", ["mkdir", "rm", "chmod", "view"])
async def test_missing_file_operations_name_what_to_use(operation: str) -> None:
    backend = _backend(FakeSFAPI())
    method = getattr(backend, operation)
    args = {"mkdir": ("/x",), "rm": ("/x",), "chmod": ("/x", "600"), "view": ("/x",)}[operation]
    with pytest.raises(UnsupportedOperation, match=r"`command`.*Globus"):
        await method("perlmutter", *args)
    await backend.aclose()


@pytest.mark.anyio
async def test_domain_errors_in_200_answers_raise() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "ERROR", "error": "permission denied", "output": []})

    backend = _backend(handler)
    with pytest.raises(APIError, match="permission denied"):
        await backend.list_jobs("perlmutter", ["1"])
    await backend.aclose()


@pytest.mark.anyio
async def test_opt_in_shell_file_operations_run_through_command() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            sent.append(parse_qs(request.content.decode())["executable"][0])
            return httpx.Response(200, json={"task_id": "9", "status": "OK", "error": None})
        result = {"status": "ok", "output": "", "error": None, "exit_code": 0}
        return httpx.Response(200, json={"id": "9", "status": "completed", "result": json.dumps(result)})

    backend = SFAPIBackend(
        base_url=BASE,
        transport=httpx.MockTransport(handler),
        task_poll_interval=0,
        shell_file_operations=True,
    )
    await backend.mkdir("perlmutter", "/a b/c", parents=True)
    await backend.chmod("perlmutter", "/x", "640")
    with pytest.raises(InvalidJobSpec):
        await backend.chmod("perlmutter", "/x", "640; rm -rf /")
    assert sent == ["mkdir -p -- '/a b/c'", "chmod 640 -- /x"]
    await backend.aclose()


def _sacct(rows: list[dict[str, str]]) -> httpx.Response:
    return httpx.Response(200, json={"status": "OK", "output": rows, "error": None})


def _tagged_row(job_id: str, tag: str, submitted: str) -> dict[str, str]:
    comment = render_comment(JobComment(tag, "facility-%j.out", None))
    return {"jobid": job_id, "jobname": "j", "state": "COMPLETED", "exitcode": "0:0", "comment": comment,
            "submit": submitted}  # fmt: skip


@pytest.mark.anyio
@pytest.mark.parametrize("listed", [True, False])
async def test_an_unreadable_submit_answer_is_looked_for_and_never_called_a_refusal(listed: bool) -> None:
    """A 200 whose task id leads nowhere (the ``wrong_types`` fault): the job may exist."""
    posts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1.2/")
        if request.method == "POST":
            posts.append(path)
            return httpx.Response(200, json={"task_id": 9, "status": 1, "error": []})
        if path == "compute/jobs/perlmutter":
            rows = [_tagged_row("31", "t-unread", "2026-01-01T00:00:00")] if listed else []
            return _sacct(rows)
        return httpx.Response(404, json={"detail": "Not Found"})

    backend = _backend(handler)
    spec = JobSpec(executable="/bin/true", environment={"FACILITY_SUBMIT_TAG": "t-unread"})
    if listed:
        assert (await backend.submit("perlmutter", spec)).id == "31"
    else:
        with pytest.raises(JobSubmissionError) as caught:
            await backend.submit("perlmutter", spec)
        assert caught.value.outcome_unknown
        text = str(caught.value)
        assert "could not be read" in text and "may exist" in text and "refused" not in text
    assert len(posts) == 1
    await backend.aclose()


@pytest.mark.anyio
async def test_find_job_by_tag_returns_the_newest_tagged_job() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _sacct(
            [
                _tagged_row("9", "t-1", "2026-01-01T10:00:00"),
                _tagged_row("10", "t-1", "2026-01-01T11:00:00"),
                _tagged_row("11", "t-2", "2026-01-01T12:00:00"),
                {"jobid": "12", "state": "RUNNING", "exitcode": "0:0", "comment": "hand-made"},
            ]
        )

    backend = _backend(handler)
    found = await backend.find_job_by_tag("perlmutter", "t-1")
    assert found is not None and found.id == "10" and found.state is JobState.COMPLETED
    assert await backend.find_job_by_tag("perlmutter", "t-3") is None
    await backend.aclose()


@pytest.mark.anyio
async def test_a_job_id_of_the_wrong_type_is_an_api_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _sacct([{"jobid": ["1"], "state": "RUNNING", "exitcode": "0:0"}])

    backend = _backend(handler)
    with pytest.raises(APIError, match="jobid"):
        await backend.list_jobs("perlmutter")
    await backend.aclose()


# -- the shared submit policy (facility_common.backends.submit) ---------------------------------


class StatusOnSubmit:
    """An SF API whose submits answer ``statuses`` in turn (then the task), creating the job
    first when ``creates``; sacct lists the jobs created, with their comments."""

    def __init__(self, *statuses: int, creates: bool = False, sacct_status: int = 200) -> None:
        self.statuses = list(statuses)
        self.creates = creates
        self.sacct_status = sacct_status
        self.posts = 0
        self.listed: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1.2/")
        if request.method == "POST":
            self.posts += 1
            job = parse_qs(request.content.decode())["job"][0]
            status = self.statuses.pop(0) if self.statuses else 200
            if status == 200 or self.creates:
                comment = next(x for x in job.splitlines() if "--comment=" in x).split("--comment=", 1)[1]
                self.listed.append({"jobid": f"{40 + self.posts}", "state": "PENDING", "exitcode": "0:0",
                                    "comment": comment})  # fmt: skip
            if status != 200:
                return httpx.Response(status, json={"detail": f"status {status}"})
            return httpx.Response(200, json={"task_id": "5", "status": "OK", "error": None})
        if path == "tasks/5":
            result = {"status": "ok", "jobid": self.listed[-1]["jobid"], "error": None}
            return httpx.Response(200, json={"id": "5", "status": "completed", "result": json.dumps(result)})
        if path == "compute/jobs/perlmutter":
            if self.sacct_status != 200:
                return httpx.Response(self.sacct_status, json={"detail": "sacct is down"})
            return _sacct(self.listed)
        return httpx.Response(404, json={"detail": "Not Found"})


@pytest.mark.anyio
@pytest.mark.parametrize("creates", [True, False])
async def test_a_500_on_submit_is_an_unknown_outcome_looked_into_before_sending_again(creates: bool) -> None:
    """Policy: a 500 may come after the application acted. Before the shared policy it was raised
    at once; now the tag is looked for, and the script sent again only when no job carries it."""
    fake = StatusOnSubmit(500, creates=creates)
    backend = _backend(fake)
    job = await backend.submit("perlmutter", JobSpec(executable="/bin/true"))
    assert job.id == "41" if creates else job.id == "42"
    assert fake.posts == (1 if creates else 2)
    assert len(fake.listed) == 1
    await backend.aclose()


@pytest.mark.anyio
async def test_a_refusal_names_the_api_and_a_429_stays_a_rate_limit() -> None:
    """Policy: any 4xx but 401/403/429 is a refusal in the API's words; a 429 left after the
    session's retries is raised as it is (it used to be reported as a refusal)."""
    backend = _backend(StatusOnSubmit(422))
    with pytest.raises(JobSubmissionError, match="the NERSC Superfacility API refused the job on perlmutter"):
        await backend.submit("perlmutter", JobSpec(executable="/bin/true"))
    await backend.aclose()
    fake = StatusOnSubmit(429)
    backend = _backend(fake)
    with pytest.raises(RateLimitedError):
        await backend.submit("perlmutter", JobSpec(executable="/bin/true"))
    assert fake.posts == 1 and not fake.listed
    await backend.aclose()


@pytest.mark.anyio
async def test_a_gateway_timeout_is_not_sent_again_and_the_next_submit_looks_first() -> None:
    """A 504 means NERSC may still be creating the job: outcome unknown, nothing re-sent; the
    same tagged spec submitted again finds the job (here created late) instead of sending."""
    fake = StatusOnSubmit(504)
    backend = SFAPIBackend(
        base_url=BASE,
        transport=httpx.MockTransport(fake),
        task_poll_interval=0,
        submit_lookup_delays=(0.0,),
        settle_window=0,
        retry=RetryPolicy(attempts=1),
    )
    spec = JobSpec(executable="/bin/true", environment={"FACILITY_SUBMIT_TAG": "t-504"})
    with pytest.raises(JobSubmissionError) as caught:
        await backend.submit("perlmutter", spec)
    assert caught.value.outcome_unknown and "FACILITY_SUBMIT_TAG=t-504" in str(caught.value)
    fake.listed.append(_tagged_row("77", "t-504", "2026-01-01T00:00:00"))
    assert (await backend.submit("perlmutter", spec)).id == "77"
    assert fake.posts == 1
    await backend.aclose()


@pytest.mark.anyio
async def test_a_lost_answer_whose_look_up_fails_is_reported_unknown_not_sent_again() -> None:
    fake = StatusOnSubmit(502, sacct_status=500)
    backend = _backend(fake)
    with pytest.raises(JobSubmissionError, match="looking for the job failed") as caught:
        await backend.submit("perlmutter", JobSpec(executable="/bin/true"))
    assert caught.value.outcome_unknown and fake.posts == 1
    await backend.aclose()


@pytest.mark.anyio
async def test_a_path_submit_carries_no_tag_and_is_never_sent_twice() -> None:
    posts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posts.append(request.url.path)
        return httpx.Response(502, json={"detail": "bad gateway"})

    backend = _backend(handler)
    with pytest.raises(JobSubmissionError, match="carries no tag") as caught:
        await backend.submit_path("perlmutter", "/home/a/job.sh")
    assert caught.value.outcome_unknown and len(posts) == 1
    await backend.aclose()


@pytest.mark.anyio
async def test_an_empty_submit_tag_is_refused_before_any_request() -> None:
    """The tag is checked once, by the shared policy: an empty one used to be replaced silently."""
    fake = FakeSFAPI()
    backend = _backend(fake)
    with pytest.raises(InvalidJobSpec, match="FACILITY_SUBMIT_TAG"):
        await backend.submit(
            "perlmutter", JobSpec(executable="/bin/true", environment={"FACILITY_SUBMIT_TAG": ""})
        )
    assert fake.calls == []
    await backend.aclose()

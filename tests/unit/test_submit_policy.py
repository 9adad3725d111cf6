"""The one submit policy: how each outcome is classified and resolved, on a scripted backend."""

from __future__ import annotations

import httpx
import pytest

from facility_common import (
    APIError,
    AuthenticationError,
    InvalidJobSpec,
    Job,
    JobState,
    JobSubmissionError,
    ServerError,
    TransportError,
)
from facility_common.backends.submit import (
    SUBMIT_TAG_VARIABLE,
    SubmitGuard,
    SubmitMemory,
    UnreadableAnswer,
    check_tag,
    tagged_environment,
)


def _job(job_id: str = "7") -> Job:
    return Job(id=job_id, resource="r", state=JobState.PENDING)


class Script:
    """A backend whose sends and looks answer from a script."""

    def __init__(self, sends: list[object], looks: list[object] | None = None) -> None:
        self.sends, self.looks = list(sends), list(looks or [])
        self.sent = self.looked = 0

    async def send(self) -> Job:
        self.sent += 1
        outcome = self.sends.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, Job)
        return outcome

    async def find(self, sent_at: float) -> Job | None:
        self.looked += 1
        outcome = self.looks.pop(0) if self.looks else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome if isinstance(outcome, Job) else None


def _guard(settle_window: float = 10.0) -> SubmitGuard:
    return SubmitGuard(
        facility="x", label="X API", memory=SubmitMemory(settle_window=settle_window), lookup_delays=(0.0,)
    )


def _timeout() -> TransportError:
    try:
        raise httpx.ReadTimeout("slow")
    except httpx.ReadTimeout:
        try:
            raise TransportError("POST job got no answer: ReadTimeout", facility="x") from None
        except TransportError as exc:
            return exc


async def _run(guard: SubmitGuard, script: Script, tag: str | None = "t1") -> Job:
    return await guard.submit(resource="r", tag=tag, send=script.send, find=script.find)


@pytest.mark.anyio
async def test_a_refusal_is_reported_with_the_facility_reason_and_never_looked_up() -> None:
    script = Script([APIError("POST job answered 400", status_code=400, body="no such queue")])
    with pytest.raises(JobSubmissionError, match="the X API refused the job on r: no such queue") as info:
        await _run(_guard(), script)
    assert not info.value.outcome_unknown and script.looked == 0


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502])
async def test_a_server_failure_looks_for_the_tag_then_sends_again(status: int) -> None:
    script = Script([ServerError("boom", status_code=status), _job("8")], looks=[None])
    assert (await _run(_guard(), script)).id == "8"
    assert (script.sent, script.looked) == (2, 1)


@pytest.mark.anyio
async def test_a_lost_answer_adopts_the_job_found_by_its_tag() -> None:
    script = Script([ServerError("gateway", status_code=504)], looks=[_job("9")])
    assert (await _run(_guard(), script)).id == "9"
    assert script.sent == 1


@pytest.mark.anyio
async def test_a_server_that_may_still_work_is_not_sent_again_and_the_tag_is_remembered() -> None:
    guard = _guard()
    script = Script([_timeout()], looks=[None])
    with pytest.raises(JobSubmissionError, match="outcome is unknown") as info:
        await _run(guard, script)
    assert info.value.outcome_unknown and script.sent == 1
    # Within the settle window a second submit of the tag sends nothing.
    again = Script([_job()], looks=[None])
    with pytest.raises(JobSubmissionError, match="moments ago"):
        await _run(guard, again)
    assert again.sent == 0


@pytest.mark.anyio
async def test_a_doubt_older_than_the_settle_window_is_resolved_by_looking_then_sending() -> None:
    guard = _guard(settle_window=0.0)
    with pytest.raises(JobSubmissionError):
        await _run(guard, Script([_timeout()], looks=[None]))
    again = Script([_job("10")], looks=[None])
    assert (await _run(guard, again)).id == "10"
    assert (again.looked, again.sent) == (1, 1)


@pytest.mark.anyio
async def test_an_unreadable_success_is_looked_up_and_never_sent_again() -> None:
    script = Script([UnreadableAnswer("no job id")], looks=[None])
    with pytest.raises(JobSubmissionError, match="could not be read: no job id"):
        await _run(_guard(), script)
    assert script.sent == 1


@pytest.mark.anyio
async def test_authentication_failures_pass_unchanged() -> None:
    script = Script([AuthenticationError("401", status_code=401)])
    with pytest.raises(AuthenticationError):
        await _run(_guard(), script)


@pytest.mark.anyio
async def test_an_untagged_submit_reports_an_unknown_outcome_without_looking() -> None:
    script = Script([ServerError("bad gateway", status_code=502)])
    with pytest.raises(JobSubmissionError, match="carries no tag") as info:
        await _run(_guard(), script, tag=None)
    assert info.value.outcome_unknown and script.looked == 0


@pytest.mark.anyio
async def test_when_no_look_can_be_made_the_outcome_is_unknown() -> None:
    script = Script([ServerError("bad gateway", status_code=502)], looks=[TransportError("down")])
    with pytest.raises(JobSubmissionError, match="looking for the job failed"):
        await _run(_guard(), script)


@pytest.mark.parametrize("tag", ["", " lead", "trail ", "two\nlines", "a b", 'q"', "x" * 129, "-dash"])
def test_tags_that_could_change_a_script_line_are_refused(tag: str) -> None:
    with pytest.raises(InvalidJobSpec, match=SUBMIT_TAG_VARIABLE):
        check_tag(tag, "x")


def test_the_tag_is_merged_last_so_no_setting_overwrites_it() -> None:
    merged = tagged_environment("t9", {SUBMIT_TAG_VARIABLE: "base"}, {SUBMIT_TAG_VARIABLE: "user", "A": "1"})
    assert merged == {SUBMIT_TAG_VARIABLE: "t9", "A": "1"}


@pytest.mark.anyio
async def test_a_submit_cancelled_while_sending_leaves_its_tag_in_doubt() -> None:
    import anyio

    guard = _guard()

    async def slow_send() -> Job:
        await anyio.sleep(30)
        return _job()

    async def find(sent_at: float) -> Job | None:
        return None

    with anyio.move_on_after(0.01):
        await guard.submit(resource="r", tag="t-cancel", send=slow_send, find=find)
    assert guard.memory.in_doubt("t-cancel")


@pytest.mark.anyio
async def test_a_verdict_read_by_the_backend_is_final_whatever_its_status() -> None:
    script = Script([JobSubmissionError("slurmctld refused it (error 2000)", status_code=500)])
    with pytest.raises(JobSubmissionError, match="error 2000"):
        await _run(_guard(), script)
    assert (script.sent, script.looked) == (1, 0)


@pytest.mark.anyio
async def test_a_408_is_a_server_step_that_timed_out_and_may_still_have_run() -> None:
    script = Script([APIError("POST jobs answered 408", status_code=408)], looks=[None])
    with pytest.raises(JobSubmissionError, match="outcome is unknown") as info:
        await _run(_guard(), script)
    assert info.value.outcome_unknown and script.sent == 1

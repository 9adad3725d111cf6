"""The pieces of the shared submit policy: which failures leave the server possibly at work, and
the memory of doubtful tags and of jobs not yet visible."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from facility_common.backends.submit import SubmitMemory, may_still_be_working, newest, outcome_unknown
from facility_common.errors import ServerError, TransportError
from facility_common.models import Job, JobState


def transport_error(cause: Exception) -> TransportError:
    """A TransportError raised while handling ``cause``, the way the HTTP session raises it."""
    try:
        try:
            raise cause
        except httpx.TransportError as exc:
            raise TransportError(f"POST x got no answer: {type(exc).__name__}", facility="f") from None
    except TransportError as error:
        return error


@pytest.mark.parametrize(
    ("cause", "working"),
    [
        (httpx.ReadTimeout("slow"), True),
        (httpx.WriteTimeout("slow"), True),
        (httpx.ConnectTimeout("never sent"), False),
        (httpx.PoolTimeout("never sent"), False),
        (httpx.ConnectError("refused"), False),
        (httpx.RemoteProtocolError("cut"), False),
    ],
)
def test_timeouts_after_sending_may_leave_the_server_at_work(cause: Exception, working: bool) -> None:
    assert may_still_be_working(transport_error(cause)) is working


def test_a_gateway_timeout_may_leave_the_server_at_work_a_bad_gateway_not() -> None:
    assert may_still_be_working(ServerError("504", facility="f", status_code=504))
    assert not may_still_be_working(ServerError("502", facility="f", status_code=502))
    assert may_still_be_working(TransportError("submit: ReadTimeout: ", facility="f"))


def test_the_outcome_unknown_error_names_the_tag_and_the_way_out() -> None:
    error = outcome_unknown(facility="f", resource="r", tag="t-1", reason="ReadTimeout")
    assert error.facility == "f" and error.resource == "r" and error.outcome_unknown
    assert (
        "outcome is unknown" in str(error)
        and "FACILITY_SUBMIT_TAG=t-1" in str(error)
        and "may exist" in str(error)
    )


def test_memory_of_doubtful_tags_and_recent_submits() -> None:
    memory = SubmitMemory(visibility_grace=60)
    assert not memory.in_doubt("t")
    memory.doubt("t", sent_at=123.0)
    assert memory.in_doubt("t") and memory.doubted_at("t") == 123.0
    memory.resolved("t")
    assert not memory.in_doubt("t")
    assert memory.pending_view("r", "7") is None
    memory.submitted(Job(id="7", resource="r", state=JobState.PENDING))
    view = memory.pending_view("r", "7")
    assert view is not None and view.state is JobState.PENDING and view.id == "7"
    assert SubmitMemory(visibility_grace=-1).pending_view("r", "7") is None


def test_memory_is_bounded() -> None:
    memory = SubmitMemory()
    memory.MAX_ENTRIES = 3
    for index in range(5):
        memory.doubt(f"t{index}")
    assert not memory.in_doubt("t0") and memory.in_doubt("t4")


def test_newest_goes_by_submit_time_then_by_numeric_id() -> None:
    def job(job_id: str, hour: int | None = None, aware: bool = True) -> Job:
        when = None if hour is None else datetime(2026, 1, 1, hour, tzinfo=UTC if aware else None)
        return Job(id=job_id, resource="r", state=JobState.COMPLETED, submitted_at=when)

    assert newest([]) is None
    assert newest([job("5", 9), job("4", 11, aware=False), job("6", 10)]).id == "4"  # type: ignore[union-attr]
    assert newest([job("9"), job("10"), job("abc")]).id == "abc"  # type: ignore[union-attr]
    assert newest([job("9"), job("10")]).id == "10"  # type: ignore[union-attr]


def test_a_recent_doubt_is_unsettled_and_an_old_one_is_not() -> None:
    memory = SubmitMemory(settle_window=10.0)
    assert not memory.unsettled("never-doubted")
    memory.doubt("recent")
    assert memory.unsettled("recent")
    memory.doubt("old", sent_at=time.time() - 11.0)
    assert memory.in_doubt("old") and not memory.unsettled("old")

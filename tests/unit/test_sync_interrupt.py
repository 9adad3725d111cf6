"""An interrupted blocking call stops its coroutine: nothing goes on in the background."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import anyio
import pytest

from facility_common import AsyncFacilityClient, FacilityClient, Job, JobSpec, JobState
from facility_common.backends.base import Capability, FacilityBackend


class SlowSubmit(FacilityBackend):
    """A submit that waits (like a retry pause before sending) and records what it did."""

    name = "slow"
    capabilities: ClassVar[frozenset[str]] = frozenset({Capability.JOBS})

    def __init__(self, **options: Any) -> None:
        self.facility = "slow"
        self.sent: list[str] = []
        self.cancelled = threading.Event()

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        try:
            await anyio.sleep(30)  # the pause before a retry of a 503
        except anyio.get_cancelled_exc_class():
            self.cancelled.set()
            raise
        self.sent.append(resource)
        return Job(id="1", resource=resource, state=JobState.PENDING)


class Interrupted(Exception):
    pass


@pytest.fixture
def alarm() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_submit_interrupted_before_sending_sends_nothing(alarm: None) -> None:
    backend = SlowSubmit()
    client = FacilityClient(AsyncFacilityClient(backend))
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    with pytest.raises(Interrupted):
        client.submit("r", JobSpec(executable="/bin/true"))
    # The coroutine was cancelled and had stopped before the interruption reached the caller.
    assert backend.cancelled.is_set()
    assert backend.sent == []

"""The sync facade's fast path: a plain call of a session-only backend runs the async client's
own coroutine on the caller's thread, its HTTP through the session's synchronous twin; anything
else runs on the home loop. Which thread answered is checked, never how fast."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncGenerator, Iterator
from typing import Any, ClassVar

import anyio
import httpx
import pytest

from facility_common import AsyncFacilityClient, FacilityClient, Job, JobSpec, JobState
from facility_common.auth import FacilityAuth, StaticToken
from facility_common.backends.base import Capability, FacilityBackend
from facility_common.drive import SharedLock, drive
from facility_common.http import ApiRequest, ApiSession
from facility_common.sync_transport import speaks_sync

BASE = "https://api.example.org/v1"


class Answers:
    """A facility answering every job look-up, noting the thread each request was handled on."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.tokens: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.threads.append(threading.current_thread().name)
        self.tokens.append(request.headers.get("Authorization", ""))
        return httpx.Response(200, json={"id": request.url.path.rsplit("/", 1)[-1], "state": "RUNNING"})


class SessionBackend(FacilityBackend):
    """A backend that reaches the network only through its ApiSession, as built-in ones do."""

    name = "session-only"
    capabilities: ClassVar[frozenset[str]] = frozenset({Capability.JOBS})
    session_only = True

    def __init__(self, answers: Answers, **options: Any) -> None:
        self.facility = "session-only"
        self.answers = answers
        self.stopped = threading.Event()
        self._session = ApiSession(
            facility="session-only",
            base_url=BASE,
            auth=FacilityAuth(StaticToken("t0k3n")),
            transport=httpx.MockTransport(answers),
        )

    async def get_job(self, resource: str, job_id: str) -> Job:
        """:calls: GET jobs/{job_id}"""
        data = await self._session.call(ApiRequest("GET", f"jobs/{job_id}"))
        return Job(id=str(data["id"]), resource=resource, state=JobState.RUNNING)

    async def list_jobs(self, resource: str, job_ids: list[str] | None = None) -> list[Job]:
        return [await self.get_job(resource, job_id) for job_id in job_ids or []]

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        try:
            await anyio.sleep(30)  # a pause before a retry, interrupted below
        except anyio.get_cancelled_exc_class():
            self.stopped.set()
            raise
        raise AssertionError("not reached")

    async def aclose(self) -> None:
        await self._session.aclose()


@pytest.fixture
def facade() -> Iterator[tuple[FacilityClient, Answers]]:
    answers = Answers()
    client = FacilityClient(AsyncFacilityClient(SessionBackend(answers)))
    try:
        yield client, answers
    finally:
        client.close()


def test_a_plain_call_is_answered_on_the_callers_thread(facade: tuple[FacilityClient, Answers]) -> None:
    client, answers = facade
    assert client.get_job("r", "7").id == "7"
    assert client.list_jobs("r", ["8"])[0].id == "8"
    assert answers.threads == [threading.current_thread().name] * 2
    assert answers.tokens == ["Bearer t0k3n"] * 2


def test_waits_and_extras_run_on_the_home_loop(facade: tuple[FacilityClient, Answers]) -> None:
    client, answers = facade
    client.poll_jobs("r", ["9"])
    client.call_backend("get_job", "r", "10")
    assert answers.threads == ["facility-client-loop"] * 2


def test_a_call_from_a_thread_running_a_loop_goes_to_the_home_loop(
    facade: tuple[FacilityClient, Answers],
) -> None:
    client, answers = facade

    async def inside() -> None:
        client.get_job("r", "11")

    asyncio.run(inside())
    assert answers.threads == ["facility-client-loop"]


def test_an_interrupted_driven_call_stops_its_coroutine(facade: tuple[FacilityClient, Answers]) -> None:
    client, _ = facade

    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(Interrupted):
            client.submit("r", JobSpec(executable="/bin/true"))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    backend = client.async_client.backend
    assert isinstance(backend, SessionBackend)
    assert backend.stopped.is_set()


class AsyncOnly(httpx.Auth):
    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        yield request


class Shared(httpx.Auth):
    pass


class Subclassed(FacilityAuth):
    pass


async def _async_handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200)


@pytest.mark.parametrize(
    ("auth", "transport", "sync"),
    [
        (None, None, True),
        (FacilityAuth(StaticToken("t")), None, True),
        (Subclassed(StaticToken("t")), None, True),
        (Shared(), None, True),
        (AsyncOnly(), None, False),
        (None, httpx.AsyncHTTPTransport(), False),
        (None, httpx.MockTransport(_async_handler), False),
        (None, httpx.MockTransport(lambda request: httpx.Response(200)), True),
    ],
)
def test_which_sessions_can_speak_synchronously(auth: Any, transport: Any, sync: bool) -> None:
    assert speaks_sync(auth, transport) is sync


def test_a_shared_lock_excludes_across_event_loops() -> None:
    lock = SharedLock()
    inside: list[int] = []
    overlaps: list[int] = []

    async def hold() -> None:
        for _ in range(20):
            async with lock:
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                await asyncio.sleep(0.001)  # let the other loop try meanwhile
                inside.pop()

    async def both() -> None:
        await hold()

    other = threading.Thread(target=lambda: asyncio.run(both()))
    other.start()
    drive(both)
    other.join()
    assert not overlaps
    assert not lock.locked()

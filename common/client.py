"""The facility client: one async implementation of every operation.

:class:`AsyncFacilityClient` wraps one backend (one API deployment) and adds what every API shares:
availability checks, waiting through the shared poller, argument validation. The synchronous
:class:`~facility_common.FacilityClient` (:mod:`facility_common.sync_client`) exposes the same
methods by running this client on a background event loop. Parsl and Airflow operators use the
facade; Airflow triggers and the poller use this client directly.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from .account import Allocation, Identity, Project
from .auth import resolve_auth
from .auth.types import AUTH_TYPES
from .backends.base import FacilityBackend
from .checks import STREAMS, answers_checked, as_spec
from .client_files import FileMethods
from .errors import ConfigurationError, InvalidJobSpec, UnsupportedOperation
from .models import Job, JobSpec, Outage, ResourceStatus
from .options import BackendOptions
from .poller import StatusPoller
from .registry import descriptors, get_descriptor

__all__ = ["AsyncFacilityClient", "client_auth"]


def client_auth(facility: str, base_url: str, auth: Any, typed: BackendOptions) -> httpx.Auth | None:
    """``auth`` resolved as a client of ``facility`` at ``base_url`` with ``typed`` options uses
    it: the options' TLS settings reach its token endpoints, and handshake flows (which talk to
    the API itself) get the API's base URL unless given one. Whoever needs a second session on a
    connection's credentials resolves them here once and hands the result to both."""
    if isinstance(auth, Mapping) and auth.get("base_url") is None:
        info = AUTH_TYPES.get(str(auth.get("type")))
        if info is not None and info.needs_base_url:
            auth = {**auth, "base_url": base_url}
    return resolve_auth(
        auth,
        facility=facility,
        verify=typed.tls(facility),
        allow_insecure_http=typed.allow_insecure_http,
    )


def _build_backend(
    facility: str, base_url: str, auth: Any, options: BackendOptions | None, values: dict[str, Any]
) -> FacilityBackend:
    """The backend of ``facility`` bound to ``base_url``: its options typed and checked (before
    anything else), then its auth resolved with the same TLS settings."""
    descriptor = get_descriptor(facility)
    backend_class: type[FacilityBackend] = descriptor.backend_class()
    typed: BackendOptions = backend_class.typed_options(options, values)
    resolved_auth = client_auth(facility, base_url, auth, typed)
    backend: FacilityBackend = backend_class(base_url=base_url, auth=resolved_auth, options=typed)
    return backend


def _offered_by(name: str) -> str:
    """``; the X API (x) has it`` for the built-in backends that have a public method ``name``."""
    if name.startswith("_"):
        return ""
    offering = []
    for descriptor in descriptors():
        try:
            backend_class = descriptor.backend_class()
        except ConfigurationError:  # a backend whose extra is not installed
            continue
        if callable(getattr(backend_class, name, None)):
            offering.append(f"the {descriptor.label} ({descriptor.name!r})")
    return f"; {' and '.join(offering)} {'has' if len(offering) == 1 else 'have'} it" if offering else ""


class AsyncFacilityClient(FileMethods):
    """Async client of one facility API deployment.

    Build it with :meth:`connect` (``AsyncFacilityClient.connect("iri", base_url=..., auth=...)``)
    or around a ready backend. ``resource`` arguments take a resource's name or id.
    """

    def __init__(self, backend: FacilityBackend) -> None:
        self.backend = backend
        self.pollers: dict[str, StatusPoller] = {}
        """The shared status poller of each resource (see :class:`StatusPoller`)."""

    @classmethod
    def connect(
        cls,
        facility: str,
        *,
        base_url: str,
        auth: Any = None,
        options: BackendOptions | None = None,
        **values: Any,
    ) -> AsyncFacilityClient:
        """Create a client for the API ``facility`` (a registry name such as ``"iri"``).

        ``auth`` is a token string, a token source from :mod:`facility_common.auth`, an
        ``httpx.Auth``, or a mapping describing one. Backend options come as the backend's typed
        options object (``options``; see its descriptor) or as keyword arguments, checked before
        anything else: an unknown or ill-typed one raises ConfigurationError naming it.
        No network call is made here.
        """
        return cls(_build_backend(facility, base_url, auth, options, values))

    @property
    def facility(self) -> str:
        """The backend's registry name (``"iri"``...)."""
        return self.backend.name

    def __repr__(self) -> str:
        return f"AsyncFacilityClient({self.backend.describe()})"

    async def aclose(self) -> None:
        """Close the connections of this client."""
        await self.backend.aclose()

    async def __aenter__(self) -> AsyncFacilityClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- status ---------------------------------------------------------------------------------

    @answers_checked
    async def resources(self) -> list[ResourceStatus]:
        """Every resource the facility reports, with its current status."""
        return await self.backend.resources()

    @answers_checked
    async def resource(self, name_or_id: str) -> ResourceStatus:
        """One resource by name or id."""
        return await self.backend.resource(name_or_id)

    @answers_checked
    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Planned and current outages, optionally of one resource and overlapping start..end."""
        return await self.backend.outages(resource, start, end)

    @answers_checked
    async def outage(self, outage_id: str, resource: str | None = None) -> Outage:
        """One outage by id, as the facility describes it now (``Outage.has_ended`` tells whether
        it is over). The API's own call where it has one (IRI: an incident, also a resolved
        one); elsewhere it is looked up among the planned and current outages (of ``resource``
        when given), and one no longer listed is a NotFoundError."""
        if not isinstance(outage_id, str) or not outage_id:
            raise InvalidJobSpec(
                "outage_id: a non-empty outage id is required", field="outage_id", facility=self.facility
            )
        return await self.backend.outage(outage_id, resource)

    @answers_checked
    async def is_available(self, resource: str, duration: timedelta = timedelta(hours=1)) -> bool:
        """True when ``resource`` is up or degraded and no outage overlaps now..now+duration."""
        status = await self.backend.resource(resource)
        if not status.state.is_usable:
            return False
        now = datetime.now(UTC)
        window_end = now + duration
        for outage in await self.backend.outages(resource, now, window_end):
            if outage.has_ended(now):
                continue
            if outage.resources and not {status.name, status.id} & set(outage.resources):
                continue
            if outage.overlaps(now, window_end):
                return False
        return True

    # -- identity and allocations ---------------------------------------------------------------

    @answers_checked
    async def whoami(self) -> Identity:
        """Whom the connection's credentials stand for: user name, and where the API tells, the
        projects, the default project, groups and when the credentials expire."""
        return await self.backend.whoami()

    @answers_checked
    async def projects(self) -> list[Project]:
        """The projects (accounts) the caller may charge."""
        return await self.backend.projects()

    @answers_checked
    async def allocations(self, project: str | None = None) -> list[Allocation]:
        """Each allocation of the caller's projects (or of ``project``, an id or a name): its
        unit, grant, what jobs have used and what remains."""
        if project is not None and (not isinstance(project, str) or not project.strip()):
            raise InvalidJobSpec(
                "project: a non-empty project id or name is required",
                field="project",
                facility=self.facility,
            )
        return await self.backend.allocations(project)

    # -- jobs -----------------------------------------------------------------------------------

    @answers_checked
    async def submit(self, resource: str, spec: JobSpec | Mapping[str, Any]) -> Job:
        """Submit ``spec`` to ``resource``; returns the job as the facility first reports it.

        ``spec`` is a :class:`JobSpec` or a mapping in its ``to_dict()`` form, validated first.

        A submit is never sent twice blindly: backends use the API's idempotency key or look up
        their unique tag after an ambiguous failure.
        """
        spec = as_spec(spec, self.facility)
        job = await self.backend.submit(resource, spec)
        StatusPoller.shared(self, resource).watch([job.id])
        return job

    @answers_checked
    async def find_job_by_tag(
        self, resource: str, tag: str, submitted_after: datetime | None = None
    ) -> Job | None:
        """The job a submit tagged ``tag`` (``environment["FACILITY_SUBMIT_TAG"]``) created on
        ``resource``, or None: how a retried task finds the job of an earlier try before
        submitting again.

        ``submitted_after`` bounds the answer to jobs submitted then or later (a retry passes its
        first try's start): an older job carrying the same tag (a cleared task's previous round)
        is never returned. A job whose submit time the API does not report is kept.
        """
        if not isinstance(tag, str) or not tag or not tag.isprintable():
            raise InvalidJobSpec(
                "tag: a non-empty printable string is required", field="tag", facility=self.facility
            )
        found = await self.backend.find_job_by_tag(resource, tag)
        if found is None or submitted_after is None or found.submitted_at is None:
            return found
        after = submitted_after if submitted_after.tzinfo else submitted_after.replace(tzinfo=UTC)
        submitted = (
            found.submitted_at if found.submitted_at.tzinfo else found.submitted_at.replace(tzinfo=UTC)
        )
        # A minute of slack for clocks that disagree between the caller and the facility.
        return found if submitted >= after - timedelta(minutes=1) else None

    @answers_checked
    async def get_job(self, resource: str, job_id: str) -> Job:
        """The current state of one job."""
        job = await self.backend.get_job(resource, job_id)
        self.backend.jobs_seen([job])
        return job

    @answers_checked
    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """Jobs of ``resource`` (all visible, or those of ``job_ids``) in one batched call."""
        jobs = await self.backend.list_jobs(resource, list(job_ids) if job_ids is not None else None)
        self.backend.jobs_seen(jobs)
        return jobs

    @answers_checked
    async def cancel(self, resource: str, job_id: str) -> None:
        """Cancel a job (its processes are killed by the facility's scheduler)."""
        await self.backend.cancel(resource, job_id)

    async def poll_jobs(self, resource: str, job_ids: Sequence[str], max_age: float = 0.0) -> list[Job]:
        """The jobs' current states, in the order of ``job_ids``, through the shared poller.

        One batched request answers for every watched job of ``resource`` (none if the last one
        is younger than ``max_age`` seconds); terminal jobs are not asked about again. A job not
        yet visible right after submit is PENDING during a grace period; a failed round keeps
        each job's last known state (UNKNOWN if it has none). Never raises for one job's sake.
        """
        views = await StatusPoller.shared(self, resource).refresh(list(job_ids), max_age=max_age)
        return [views[job_id] for job_id in job_ids]

    @answers_checked
    async def update_job(self, resource: str, job_id: str, spec: JobSpec | Mapping[str, Any]) -> Job:
        """Replace the description of a job that has not started yet (walltime, queue, ...)."""
        spec = as_spec(spec, self.facility)
        return await self.backend.update_job(resource, job_id, spec)

    async def wait(
        self,
        resource: str,
        job_id: str,
        timeout: float | None = None,
        poll_interval: float = 5.0,
        on_update: Callable[[Job], None] | None = None,
        grace: float | None = None,
    ) -> Job:
        """Wait until the job is terminal and return it.

        Polls through the shared :class:`StatusPoller`, so concurrent waits on one resource share
        one request per interval. ``on_update`` is called on every state change. Raises
        :class:`~facility_common.errors.WaitTimeout` after ``timeout`` seconds, and
        :class:`~facility_common.errors.NotFoundError` once the facility has shown, ``grace``
        seconds after the wait began (default: the poller's, 120 s), that it does not know the
        job. A wait with its own ``grace`` polls on a poller of its own, so it does not change
        the grace of the waits sharing the resource's poller.
        """
        poller = StatusPoller.shared(self, resource, interval=poll_interval)
        if grace is not None and grace != poller.grace:
            poller = StatusPoller(self, resource, interval=poll_interval, grace=grace)
        return await poller.wait(job_id, timeout=timeout, interval=poll_interval, on_update=on_update)

    async def call_backend(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call the backend's own method ``name`` (an API extra documented on its facility page,
        such as S3M's ``token_expiry``) and return its result, awaited if it is a coroutine.

        Raises :class:`~facility_common.errors.UnsupportedOperation` when this API's backend has
        no public method of that name.
        """
        method = getattr(self.backend, name, None) if not name.startswith("_") else None
        if method is None or not callable(method):
            raise UnsupportedOperation(
                f"{name}: the {self.backend.facility_label or self.facility} backend has no such method"
                + _offered_by(name),
                facility=self.facility,
            )
        result = method(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    @answers_checked
    async def job_output(
        self, resource: str, job_id: str, stream: str = "stdout", tail: int | None = None
    ) -> str:
        """The job's stdout or stderr, or only its last ``tail`` lines."""
        if stream not in STREAMS:
            raise InvalidJobSpec(
                f"stream: must be 'stdout' or 'stderr', got {stream!r}",
                field="stream",
                facility=self.facility,
            )
        if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail <= 0):
            raise InvalidJobSpec("tail: must be a positive integer", field="tail", facility=self.facility)
        return await self.backend.job_output(resource, job_id, stream, tail)

    async def follow_output(
        self, resource: str, job_id: str, stream: str = "stdout", poll_interval: float = 2.0
    ) -> AsyncIterator[str]:
        """The job's stdout or stderr line by line as the job writes it, until the job has ended
        (``async for line in client.follow_output(...)``; the sync client returns an iterator).

        A separate method rather than a ``follow`` flag of :meth:`job_output`, which returns the
        text at once. Where the API streams output (Flux RESTful's ``/output/stream``) the stream
        is followed; elsewhere the job and its output are read every ``poll_interval`` seconds.
        Each line keeps its ``"\\n"``; a last line without one comes once the job has ended.
        """
        if stream not in STREAMS:
            raise InvalidJobSpec(
                f"stream: must be 'stdout' or 'stderr', got {stream!r}",
                field="stream",
                facility=self.facility,
            )
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, int | float)
            or poll_interval <= 0
        ):
            raise InvalidJobSpec(
                "poll_interval: must be a positive number of seconds",
                field="poll_interval",
                facility=self.facility,
            )
        async for line in self.backend.follow_output(resource, job_id, stream, poll_interval=poll_interval):
            yield line

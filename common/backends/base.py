"""The contract every facility backend implements.

A backend is an async class bound to one API deployment (base URL plus credentials). It speaks
that API's REST calls and returns the shared models of :mod:`facility_common.models`. Methods it
cannot offer keep the default implementation, which raises :class:`UnsupportedOperation` naming
what the API offers instead (``unsupported_hint``).

``resource`` arguments accept a resource's name or its id; backends resolve names once and cache.
Constructors make no network call.
"""

from __future__ import annotations

import abc
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from ..account import Allocation, Identity, Project
from ..errors import ConfigurationError, NotFoundError, UnsupportedOperation
from ..follow import follow_by_polling
from ..http import ApiSession
from ..models import FileEntry, Job, JobSpec, Outage, ResourceStatus
from ..options import BackendOptions
from ..registry import BUILTIN_DESCRIPTORS, Capability
from .submit import NOT_YET_VISIBLE, SubmitGuard, SubmitMemory

__all__ = ["Capability", "FacilityBackend", "ProgressCallback"]

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(bytes_done, bytes_total_or_None)`` while a transfer runs."""


class FacilityBackend(abc.ABC):
    """Base class of the backends: one API deployment, async, stateless apart from caches."""

    name: ClassVar[str]
    """The registry name (``"iri"``, ``"sfapi"``...)."""
    facility_label: ClassVar[str] = ""
    """A human label used in messages (``"IRI Facility API"``)."""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    unsupported_hint: ClassVar[str] = ""
    """Appended to UnsupportedOperation messages: what the API offers instead."""
    identity_hint: ClassVar[str] = ""
    """Appended instead for ``whoami``, ``projects`` and ``allocations``: where to find them."""
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    """The typed options this backend takes (a :class:`BackendOptions` subclass)."""
    session_only: ClassVar[bool] = False
    """True when every method but ``upload`` and ``download`` reaches the network through the
    backend's ``_session`` (an :class:`~facility_common.http.ApiSession`) and holds no other
    event-loop-bound object across calls. The sync facade then runs those methods on the caller's
    thread through the session's synchronous transport (:meth:`drives_synchronously`). Built-in
    backends are; a third-party backend opts in by setting it."""

    #: label of this deployment in messages and errors, e.g. "iri"
    facility: str
    options: BackendOptions

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A built-in backend takes its label, capabilities and hint from its descriptor in the
        registry (the one place they are written), unless the class sets its own."""
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        descriptor = next((d for d in BUILTIN_DESCRIPTORS if d.name == name), None)
        if descriptor is None:
            return
        if "facility_label" not in cls.__dict__:
            cls.facility_label = descriptor.label
        if "capabilities" not in cls.__dict__:
            cls.capabilities = descriptor.capabilities
        if "unsupported_hint" not in cls.__dict__ and descriptor.unsupported_hint:
            cls.unsupported_hint = descriptor.unsupported_hint
        if "identity_hint" not in cls.__dict__ and descriptor.identity_hint:
            cls.identity_hint = descriptor.identity_hint
        if "session_only" not in cls.__dict__:
            cls.session_only = True

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        options: BackendOptions | None = None,
        **values: Any,
    ) -> None:
        """Bind the backend to one deployment. Options come typed (``options``, an instance of
        :attr:`Options`) or as keyword arguments read by :meth:`BackendOptions.from_mapping`.
        Subclasses must not make a network call here."""
        self.facility = self.name
        self.options = self.typed_options(options, values)

    @classmethod
    def typed_options(cls, options: BackendOptions | None, values: dict[str, Any]) -> Any:
        """``options`` checked to be this backend's :attr:`Options` (range checks included, as
        for options built from text), or built from ``values``."""
        if options is None:
            return cls.Options.from_mapping(cls.name, values)
        if values:
            raise ConfigurationError(
                f"{sorted(values)[0]}: give options either as an options object or as keyword "
                "arguments, not both",
                facility=cls.name,
            )
        if not isinstance(options, cls.Options):
            raise ConfigurationError(
                f"options: the {cls.name!r} backend takes {cls.Options.__name__}, "
                f"not {type(options).__name__}",
                facility=cls.name,
            )
        options.check(cls.name)
        return options

    def drives_synchronously(self) -> bool:
        """Whether the sync facade may run this backend's calls on the caller's thread: it is
        :attr:`session_only` and its session can speak synchronously (its auth and transport
        have a synchronous flow; see :attr:`ApiSession.sync_capable`)."""
        session = getattr(self, "_session", None)
        return self.session_only and isinstance(session, ApiSession) and session.sync_capable

    def jobs_seen(self, jobs: Iterable[Job]) -> None:
        """Tell the submit policy's memory that the API reported ``jobs`` (the client calls this
        after every answer): a job reported once and then not found is gone, never PENDING."""
        guard = getattr(self, "_guard", None)
        if isinstance(guard, SubmitGuard):
            guard.memory.seen(job.id for job in jobs if job.native_state != NOT_YET_VISIBLE)

    def submit_guard(self) -> SubmitGuard:
        """The submit policy of this backend, with its windows from the options."""
        memory = SubmitMemory(
            visibility_grace=self.options.visibility_grace, settle_window=self.options.settle_window
        )
        return SubmitGuard(
            facility=self.name,
            label=self.facility_label or self.name,
            memory=memory,
            lookup_delays=self.options.submit_lookup_delays,
        )

    def _unsupported(self, operation: str, hint_text: str | None = None) -> UnsupportedOperation:
        text = self.unsupported_hint if hint_text is None else hint_text
        hint = f" {text}" if text else ""
        return UnsupportedOperation(
            f"{operation} is not offered by the {self.facility_label or self.name}.{hint}",
            facility=self.name,
        )

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    # -- status ---------------------------------------------------------------------------------

    async def resources(self) -> list[ResourceStatus]:
        raise self._unsupported("resources")

    async def resource(self, name_or_id: str) -> ResourceStatus:
        raise self._unsupported("resource")

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        raise self._unsupported("outages")

    async def outage(self, outage_id: str, resource: str | None = None) -> Outage:
        """One outage by id. This default looks it up among :meth:`outages` (of ``resource``
        when given; an ended one may no longer be listed: NotFoundError); an API with a call
        for one outage overrides it."""
        for found in await self.outages(resource):
            if found.id == outage_id:
                return found
        raise NotFoundError(
            f"outage {outage_id!r} is not among the outages the facility lists"
            + (f" for {resource}" if resource else ""),
            facility=self.name,
            resource=resource,
        )

    # -- identity and allocations ---------------------------------------------------------------

    async def whoami(self) -> Identity:
        """Whom the credentials stand for (user name, projects, expiry where the API tells)."""
        raise self._unsupported("whoami", self.identity_hint or None)

    async def projects(self) -> list[Project]:
        """The projects (accounts) the caller may charge."""
        raise self._unsupported("projects", self.identity_hint or None)

    async def allocations(self, project: str | None = None) -> list[Allocation]:
        """The allocations of the caller's projects, or of ``project`` (an id or a name), with
        what each has used. An unknown project raises NotFoundError."""
        raise self._unsupported("allocations", self.identity_hint or None)

    # -- jobs -----------------------------------------------------------------------------------

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        raise self._unsupported("submit")

    async def get_job(self, resource: str, job_id: str) -> Job:
        raise self._unsupported("get_job")

    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The job that a submit of a spec carrying ``environment["FACILITY_SUBMIT_TAG"] == tag``
        created on ``resource``, or None when the facility shows none.

        This is the look-up a backend makes itself after an ambiguous submit, offered to callers
        that outlive one client: an Airflow retry or a restarted workflow engine asks before
        submitting the same tagged spec again. Where several jobs carry the tag, the newest one
        is returned. Backends whose API cannot show the tag raise UnsupportedOperation.
        """
        raise self._unsupported("find_job_by_tag")

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """All visible jobs of ``resource``, or those of ``job_ids`` (one batched call where the
        API allows). Ids the API does not report are simply absent from the answer."""
        raise self._unsupported("list_jobs")

    async def cancel(self, resource: str, job_id: str) -> None:
        raise self._unsupported("cancel")

    async def update_job(self, resource: str, job_id: str, spec: JobSpec) -> Job:
        """Change a job that has not started yet (walltime, queue, ...)."""
        raise self._unsupported("update_job")

    async def job_output(
        self, resource: str, job_id: str, stream: str = "stdout", tail: int | None = None
    ) -> str:
        """The job's stdout or stderr text; only its last ``tail`` lines when given."""
        raise self._unsupported("job_output")

    def follow_output(
        self, resource: str, job_id: str, stream: str = "stdout", *, poll_interval: float = 2.0
    ) -> AsyncIterator[str]:
        """The job's output line by line as it is written, ending once the job has ended.

        This default polls :meth:`get_job` and :meth:`job_output` every ``poll_interval``
        seconds (:func:`~facility_common.follow.follow_by_polling`); a backend whose API streams
        output (Flux RESTful) overrides it.
        """
        return follow_by_polling(
            lambda: self.get_job(resource, job_id),
            lambda: self.job_output(resource, job_id, stream),
            poll_interval=poll_interval,
        )

    # -- files ----------------------------------------------------------------------------------

    async def ls(self, resource: str, path: str, *, show_hidden: bool = False) -> list[FileEntry]:
        raise self._unsupported("ls")

    async def stat(self, resource: str, path: str) -> FileEntry:
        raise self._unsupported("stat")

    async def mkdir(self, resource: str, path: str, parents: bool = False) -> None:
        raise self._unsupported("mkdir")

    async def rm(self, resource: str, path: str) -> None:
        raise self._unsupported("rm")

    async def mv(self, resource: str, source: str, target: str) -> None:
        raise self._unsupported("mv")

    async def cp(self, resource: str, source: str, target: str) -> None:
        raise self._unsupported("cp")

    async def chmod(self, resource: str, path: str, mode: str) -> None:
        raise self._unsupported("chmod")

    async def chown(
        self, resource: str, path: str, owner: str | None = None, group: str | None = None
    ) -> None:
        raise self._unsupported("chown")

    async def symlink(self, resource: str, target: str, link_path: str) -> None:
        raise self._unsupported("symlink")

    async def checksum(self, resource: str, path: str) -> str:
        """The file's checksum as ``"<algorithm>:<hex digest>"`` (e.g. ``sha256:ab12...``)."""
        raise self._unsupported("checksum")

    async def file_type(self, resource: str, path: str) -> str:
        """What ``file`` says of the path (``"ASCII text"``...)."""
        raise self._unsupported("file_type")

    async def compress(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """Pack ``source`` into the archive ``target`` (``compression``: none, gzip, bzip2, xz)."""
        raise self._unsupported("compress")

    async def extract(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """Unpack the archive ``source`` into the directory ``target``."""
        raise self._unsupported("extract")

    async def view(self, resource: str, path: str, offset: int = 0, size: int | None = None) -> str:
        raise self._unsupported("view")

    async def head(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        raise self._unsupported("head")

    async def tail(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        raise self._unsupported("tail")

    async def upload(
        self,
        resource: str,
        local_path: str | os.PathLike[str],
        remote_path: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        raise self._unsupported("upload")

    async def download(
        self,
        resource: str,
        remote_path: str,
        local_path: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
    ) -> None:
        raise self._unsupported("download")

    # -- helpers --------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Connection facts safe to show (no credentials); backends add their own settings."""
        return {
            "backend": self.name,
            "facility": self.facility,
            "label": self.facility_label,
            "capabilities": sorted(self.capabilities),
        }

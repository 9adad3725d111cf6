"""The facility client: one async implementation and a synchronous facade with the same methods.

:class:`AsyncFacilityClient` wraps one backend (one API deployment) and adds what every API shares:
availability checks, waiting through the shared poller, argument validation. :class:`FacilityClient`
exposes the same method names synchronously by running the async client on one background
event-loop thread per process (a plain asyncio loop), replaced in a forked child. Parsl and Airflow
operators use the facade; Airflow triggers and the poller use the async client directly.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import anyio

from .auth import resolve_auth
from .auth.types import AUTH_TYPES
from .backends.base import FacilityBackend, ProgressCallback
from .errors import APIError, FacilityError, InvalidJobSpec
from .models import FileEntry, Job, JobSpec, Outage, ResourceStatus
from .options import BackendOptions
from .poller import StatusPoller
from .registry import get_descriptor

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["AsyncFacilityClient", "FacilityClient"]

P = ParamSpec("P")
R = TypeVar("R")

OUTAGE_STATUSES_OVER = frozenset({"completed", "cancelled", "resolved"})
STREAMS = ("stdout", "stderr")


def _check_path(field: str, value: object, facility: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidJobSpec(f"{field}: a non-empty path string is required", field=field, facility=facility)
    if "\x00" in value or "\n" in value or "\r" in value:
        raise InvalidJobSpec(
            f"{field}: must not contain NUL or newline characters", field=field, facility=facility
        )
    return value


COMPRESSIONS = ("none", "gzip", "bzip2", "xz")


def _check_compression(compression: object, facility: str) -> None:
    if compression not in COMPRESSIONS:
        raise InvalidJobSpec(
            f"compression: must be one of {', '.join(COMPRESSIONS)}, got {compression!r}",
            field="compression",
            facility=facility,
        )


def _build_backend(
    facility: str, base_url: str, auth: Any, options: BackendOptions | None, values: dict[str, Any]
) -> FacilityBackend:
    """The backend of ``facility`` bound to ``base_url``: its options typed and checked (before
    anything else), then its auth resolved with the same TLS settings."""
    descriptor = get_descriptor(facility)
    backend_class = descriptor.backend_class()
    typed = backend_class.typed_options(options, values)
    if isinstance(auth, Mapping) and auth.get("base_url") is None:
        info = AUTH_TYPES.get(str(auth.get("type")))
        if info is not None and info.needs_base_url:
            # Handshake flows talk to the API itself: its base URL is theirs unless given.
            auth = {**auth, "base_url": base_url}
    resolved_auth = resolve_auth(
        auth,
        facility=facility,
        verify=typed.tls(facility),
        allow_insecure_http=typed.allow_insecure_http,
    )
    return backend_class(base_url=base_url, auth=resolved_auth, options=typed)


#: What parsing an answer of an unexpected shape raises in a backend.
_PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _answers_checked(
    method: Callable[Concatenate[AsyncFacilityClient, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[AsyncFacilityClient, P], Coroutine[Any, Any, R]]:
    """Turn a backend's failure to read an answer into :class:`APIError` naming the facility.

    A server that answers a body of the wrong shape (a number where text was expected, a missing
    key) makes a parser raise ``KeyError``, ``TypeError``... deep in a backend; callers get an
    ``APIError`` instead, chained to the original. Errors of this package pass unchanged, and so
    do errors in the call's own arguments (raised before the call starts).
    """

    @functools.wraps(method)
    async def checked(self: AsyncFacilityClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        call = method(self, *args, **kwargs)  # a bad argument list raises here, unchanged
        try:
            return await call
        except FacilityError:
            raise
        except _PARSE_ERRORS as exc:
            raise APIError(
                f"{method.__name__}: the facility answered a body we could not read "
                f"({type(exc).__name__}: {_short(exc)})",
                facility=self.facility,
            ) from exc

    return checked


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_spec(spec: object, facility: str) -> JobSpec:
    """``spec`` as a JobSpec: a JobSpec, or a mapping in ``JobSpec.to_dict()`` form (as Airflow
    operators and Parsl configurations carry them). Errors name the field and the facility."""
    if isinstance(spec, JobSpec):
        return spec
    if isinstance(spec, Mapping):
        try:
            return JobSpec.from_dict(spec)
        except InvalidJobSpec as exc:
            raise InvalidJobSpec(exc.message, field=exc.field, facility=facility) from None
    raise InvalidJobSpec(
        f"spec: a JobSpec or a mapping is required, not {type(spec).__name__}",
        field="spec",
        facility=facility,
    )


class AsyncFacilityClient:
    """Async client of one facility API deployment.

    Build it with :meth:`connect` (``AsyncFacilityClient.connect("iri", base_url=..., auth=...)``)
    or around a ready backend. ``resource`` arguments take a resource's name or id.
    """

    def __init__(self, backend: FacilityBackend) -> None:
        self.backend = backend
        self._pollers: dict[str, StatusPoller] = {}

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

    @_answers_checked
    async def resources(self) -> list[ResourceStatus]:
        """Every resource the facility reports, with its current status."""
        return await self.backend.resources()

    @_answers_checked
    async def resource(self, name_or_id: str) -> ResourceStatus:
        """One resource by name or id."""
        return await self.backend.resource(name_or_id)

    @_answers_checked
    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Planned and current outages, optionally of one resource and overlapping start..end."""
        return await self.backend.outages(resource, start, end)

    @_answers_checked
    async def is_available(self, resource: str, duration: timedelta = timedelta(hours=1)) -> bool:
        """True when ``resource`` is up or degraded and no outage overlaps now..now+duration."""
        status = await self.backend.resource(resource)
        if not status.state.is_usable:
            return False
        now = datetime.now(UTC)
        window_end = now + duration
        for outage in await self.backend.outages(resource, now, window_end):
            if outage.status and outage.status.lower() in OUTAGE_STATUSES_OVER:
                continue
            if outage.resources and not {status.name, status.id} & set(outage.resources):
                continue
            if outage.overlaps(now, window_end):
                return False
        return True

    # -- jobs -----------------------------------------------------------------------------------

    @_answers_checked
    async def submit(self, resource: str, spec: JobSpec | Mapping[str, Any]) -> Job:
        """Submit ``spec`` to ``resource``; returns the job as the facility first reports it.

        ``spec`` is a :class:`JobSpec` or a mapping in its ``to_dict()`` form, validated first.

        A submit is never sent twice blindly: backends use the API's idempotency key or look up
        their unique tag after an ambiguous failure.
        """
        spec = _as_spec(spec, self.facility)
        job = await self.backend.submit(resource, spec)
        StatusPoller.shared(self, resource).watch([job.id])
        return job

    @_answers_checked
    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The job a submit tagged ``tag`` (``environment["FACILITY_SUBMIT_TAG"]``) created on
        ``resource``, or None: how a retried task finds the job of an earlier try before
        submitting again."""
        if not isinstance(tag, str) or not tag or not tag.isprintable():
            raise InvalidJobSpec(
                "tag: a non-empty printable string is required", field="tag", facility=self.facility
            )
        return await self.backend.find_job_by_tag(resource, tag)

    @_answers_checked
    async def get_job(self, resource: str, job_id: str) -> Job:
        """The current state of one job."""
        return await self.backend.get_job(resource, job_id)

    @_answers_checked
    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """Jobs of ``resource`` (all visible, or those of ``job_ids``) in one batched call."""
        return await self.backend.list_jobs(resource, list(job_ids) if job_ids is not None else None)

    @_answers_checked
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

    @_answers_checked
    async def update_job(self, resource: str, job_id: str, spec: JobSpec | Mapping[str, Any]) -> Job:
        """Replace the description of a job that has not started yet (walltime, queue, ...)."""
        spec = _as_spec(spec, self.facility)
        return await self.backend.update_job(resource, job_id, spec)

    async def wait(
        self,
        resource: str,
        job_id: str,
        timeout: float | None = None,
        poll_interval: float = 5.0,
        on_update: Callable[[Job], None] | None = None,
    ) -> Job:
        """Wait until the job is terminal and return it.

        Polls through the shared :class:`StatusPoller`, so concurrent waits on one resource share
        one request per interval. ``on_update`` is called on every state change. Raises
        :class:`~facility_common.errors.WaitTimeout` after ``timeout`` seconds.
        """
        poller = StatusPoller.shared(self, resource, interval=poll_interval)
        return await poller.wait(job_id, timeout=timeout, interval=poll_interval, on_update=on_update)

    @_answers_checked
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

    # -- files ----------------------------------------------------------------------------------

    @_answers_checked
    async def ls(self, resource: str, path: str, show_hidden: bool = False) -> list[FileEntry]:
        """The entries of a remote directory (or the file itself)."""
        return await self.backend.ls(
            resource, _check_path("path", path, self.facility), show_hidden=show_hidden
        )

    @_answers_checked
    async def stat(self, resource: str, path: str) -> FileEntry:
        """Facts about one remote path."""
        return await self.backend.stat(resource, _check_path("path", path, self.facility))

    @_answers_checked
    async def mkdir(self, resource: str, path: str, parents: bool = False) -> None:
        """Create a remote directory (and its parents with ``parents=True``)."""
        await self.backend.mkdir(resource, _check_path("path", path, self.facility), parents)

    @_answers_checked
    async def rm(self, resource: str, path: str) -> None:
        """Remove a remote file or directory tree."""
        await self.backend.rm(resource, _check_path("path", path, self.facility))

    @_answers_checked
    async def mv(self, resource: str, source: str, target: str) -> None:
        """Move or rename a remote path."""
        await self.backend.mv(
            resource,
            _check_path("source", source, self.facility),
            _check_path("target", target, self.facility),
        )

    @_answers_checked
    async def cp(self, resource: str, source: str, target: str) -> None:
        """Copy a remote path."""
        await self.backend.cp(
            resource,
            _check_path("source", source, self.facility),
            _check_path("target", target, self.facility),
        )

    @_answers_checked
    async def chmod(self, resource: str, path: str, mode: str | int) -> None:
        """Change a remote path's mode; ``mode`` is octal text (``"750"``) or an int (``0o750``)."""
        text = format(mode, "o") if isinstance(mode, int) and not isinstance(mode, bool) else mode
        if (
            not isinstance(text, str)
            or not text.isdigit()
            or any(c not in "01234567" for c in text)
            or len(text) > 4
        ):
            raise InvalidJobSpec(f"mode: {mode!r} is not an octal mode", field="mode", facility=self.facility)
        await self.backend.chmod(resource, _check_path("path", path, self.facility), text)

    @_answers_checked
    async def chown(
        self, resource: str, path: str, owner: str | None = None, group: str | None = None
    ) -> None:
        """Change a remote path's owner and/or group."""
        if owner is None and group is None:
            raise InvalidJobSpec(
                "owner: give an owner, a group or both", field="owner", facility=self.facility
            )
        await self.backend.chown(resource, _check_path("path", path, self.facility), owner, group)

    @_answers_checked
    async def symlink(self, resource: str, target: str, link_path: str) -> None:
        """Create the symbolic link ``link_path`` pointing at ``target``."""
        await self.backend.symlink(
            resource,
            _check_path("target", target, self.facility),
            _check_path("link_path", link_path, self.facility),
        )

    @_answers_checked
    async def checksum(self, resource: str, path: str) -> str:
        """The remote file's checksum as ``"<algorithm>:<hex digest>"``."""
        return await self.backend.checksum(resource, _check_path("path", path, self.facility))

    @_answers_checked
    async def file_type(self, resource: str, path: str) -> str:
        """What the ``file`` command says of a remote path."""
        return await self.backend.file_type(resource, _check_path("path", path, self.facility))

    @_answers_checked
    async def compress(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """Pack ``source`` into the archive ``target`` at the facility."""
        _check_compression(compression, self.facility)
        await self.backend.compress(
            resource,
            _check_path("source", source, self.facility),
            _check_path("target", target, self.facility),
            compression,
        )

    @_answers_checked
    async def extract(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """Unpack the archive ``source`` into the directory ``target`` at the facility."""
        _check_compression(compression, self.facility)
        await self.backend.extract(
            resource,
            _check_path("source", source, self.facility),
            _check_path("target", target, self.facility),
            compression,
        )

    @_answers_checked
    async def view(self, resource: str, path: str, offset: int = 0, size: int | None = None) -> str:
        """Text of a remote file from ``offset``, at most ``size`` bytes."""
        return await self.backend.view(resource, _check_path("path", path, self.facility), offset, size)

    @_answers_checked
    async def head(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """The first lines (default 10) or bytes of a remote file."""
        return await self.backend.head(resource, _check_path("path", path, self.facility), lines, nbytes)

    @_answers_checked
    async def tail(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """The last lines (default 10) or bytes of a remote file."""
        return await self.backend.tail(resource, _check_path("path", path, self.facility), lines, nbytes)

    @_answers_checked
    async def upload(
        self,
        resource: str,
        local_path: str | os.PathLike[str],
        remote_path: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Upload a local file to ``remote_path``."""
        if not await anyio.Path(local_path).is_file():
            raise InvalidJobSpec(
                f"local_path: {os.fspath(local_path)!r} is not a readable file",
                field="local_path",
                facility=self.facility,
            )
        await self.backend.upload(
            resource, local_path, _check_path("remote_path", remote_path, self.facility), progress
        )

    @_answers_checked
    async def download(
        self,
        resource: str,
        remote_path: str,
        local_path: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Download ``remote_path`` to a local file, written whole or not at all."""
        await self.backend.download(
            resource, _check_path("remote_path", remote_path, self.facility), local_path, progress
        )


class _LoopThread:
    """One asyncio event loop on a daemon thread per process, shared by every sync client.

    A forked child does not inherit the parent's loop thread; ``os.register_at_fork`` drops the
    inherited reference so the child starts a loop of its own on first use.
    """

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="facility-client-loop", daemon=True)
                thread.start()
                cls._loop, cls._thread = loop, thread
            return cls._loop

    @classmethod
    def forget_after_fork(cls) -> None:
        cls._lock = threading.Lock()
        cls._loop = cls._thread = None

    @classmethod
    def shutdown(cls) -> None:
        with cls._lock:
            loop, thread = cls._loop, cls._thread
            cls._loop = cls._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            if not loop.is_running():
                loop.close()


atexit.register(_LoopThread.shutdown)
os.register_at_fork(after_in_child=_LoopThread.forget_after_fork)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _sync(
    method: Callable[Concatenate[AsyncFacilityClient, P], Awaitable[R]],
) -> Callable[Concatenate[FacilityClient, P], R]:
    """Make a blocking twin of an :class:`AsyncFacilityClient` method."""

    def blocking(self: FacilityClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        async def call() -> R:
            return await method(self._client_for_this_process(), *args, **kwargs)

        return self._run(call)

    functools.update_wrapper(blocking, method)
    return blocking


class FacilityClient:
    """Synchronous client with the same methods as :class:`AsyncFacilityClient`.

    Calls run on a background event-loop thread shared by all sync clients of the process, so a
    sync client may be used from any thread, including inside another event loop. After
    a fork, a client built with :meth:`connect` rebuilds its connections in the child.
    """

    def __init__(
        self,
        client: AsyncFacilityClient,
        _factory: Callable[[], AsyncFacilityClient] | None = None,
    ) -> None:
        self._client = client
        self._factory = _factory
        self._pid = os.getpid()

    @classmethod
    def connect(
        cls,
        facility: str,
        *,
        base_url: str,
        auth: Any = None,
        options: BackendOptions | None = None,
        **values: Any,
    ) -> FacilityClient:
        """Create a client for the API ``facility``; see :meth:`AsyncFacilityClient.connect`."""
        client = AsyncFacilityClient.connect(
            facility, base_url=base_url, auth=auth, options=options, **values
        )

        def factory() -> AsyncFacilityClient:
            return AsyncFacilityClient.connect(
                facility, base_url=base_url, auth=auth, options=options, **values
            )

        return cls(client, factory)

    @property
    def facility(self) -> str:
        return self._client.facility

    @property
    def async_client(self) -> AsyncFacilityClient:
        """The async client behind this facade (for use on its own event loop only)."""
        return self._client_for_this_process()

    def __repr__(self) -> str:
        return f"FacilityClient({self._client.backend.describe()})"

    def _client_for_this_process(self) -> AsyncFacilityClient:
        if self._pid != os.getpid() and self._factory is not None:
            self._client, self._pid = self._factory(), os.getpid()
        return self._client

    def _run(self, call: Callable[[], Coroutine[Any, Any, R]]) -> R:
        if _running_loop() is _LoopThread.loop():
            raise RuntimeError(
                "FacilityClient cannot be called from its own event loop; use AsyncFacilityClient"
            )
        return asyncio.run_coroutine_threadsafe(call(), _LoopThread.loop()).result()

    def close(self) -> None:
        """Close the connections of this client."""
        client = self._client_for_this_process()
        self._run(client.aclose)

    def __enter__(self) -> FacilityClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    resources = _sync(AsyncFacilityClient.resources)
    resource = _sync(AsyncFacilityClient.resource)
    outages = _sync(AsyncFacilityClient.outages)
    is_available = _sync(AsyncFacilityClient.is_available)
    submit = _sync(AsyncFacilityClient.submit)
    get_job = _sync(AsyncFacilityClient.get_job)
    find_job_by_tag = _sync(AsyncFacilityClient.find_job_by_tag)
    list_jobs = _sync(AsyncFacilityClient.list_jobs)
    cancel = _sync(AsyncFacilityClient.cancel)
    update_job = _sync(AsyncFacilityClient.update_job)
    poll_jobs = _sync(AsyncFacilityClient.poll_jobs)
    wait = _sync(AsyncFacilityClient.wait)
    job_output = _sync(AsyncFacilityClient.job_output)
    ls = _sync(AsyncFacilityClient.ls)
    stat = _sync(AsyncFacilityClient.stat)
    mkdir = _sync(AsyncFacilityClient.mkdir)
    rm = _sync(AsyncFacilityClient.rm)
    mv = _sync(AsyncFacilityClient.mv)
    cp = _sync(AsyncFacilityClient.cp)
    chmod = _sync(AsyncFacilityClient.chmod)
    chown = _sync(AsyncFacilityClient.chown)
    symlink = _sync(AsyncFacilityClient.symlink)
    checksum = _sync(AsyncFacilityClient.checksum)
    file_type = _sync(AsyncFacilityClient.file_type)
    compress = _sync(AsyncFacilityClient.compress)
    extract = _sync(AsyncFacilityClient.extract)
    view = _sync(AsyncFacilityClient.view)
    head = _sync(AsyncFacilityClient.head)
    tail = _sync(AsyncFacilityClient.tail)
    upload = _sync(AsyncFacilityClient.upload)
    download = _sync(AsyncFacilityClient.download)

"""The state and plumbing every part of the FirecREST v2 backend shares.

:class:`FirecrestCore` holds the one :class:`~facility_common.http.ApiSession` every API call goes
through (its retry policy, its body limit and the auth's refresh after a 401 apply to all of
them), the client of the object storage that staged transfers use (no credentials: its URLs are
presigned), the list of systems (kept ``system_cache_seconds``), the user's name and the cache of
job metadata (a job's script and output paths, asked once per job).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import anyio
import httpx

from ...auth import FacilityAuth
from ...drive import SharedLock
from ...errors import FacilityError, JobSubmissionError, NotFoundError
from ...http import ApiRequest, ApiSession
from ...options import BackendOptions
from ..base import FacilityBackend
from .options import FirecrestOptions
from .parsers import (
    default_directory,
    largest_direct_download,
    largest_view,
    max_ops_file_size,
    metadata_of,
    parse_version,
    scheduler_type,
    systems_of,
)
from .requests import FACILITY, build_job_metadata, build_systems, build_userinfo

__all__ = ["FACILITY", "FirecrestCore"]

#: How many jobs' metadata are kept (the oldest are dropped first).
METADATA_ENTRIES = 10_000


class FirecrestCore(FacilityBackend):
    """Connection state of the FirecREST v2 backend; the operations live in the mixins."""

    Options: ClassVar[type[BackendOptions]] = FirecrestOptions
    options: FirecrestOptions

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        options: FirecrestOptions | None = None,
        **values: Any,
    ) -> None:
        super().__init__(base_url=base_url, auth=auth, options=options, **values)
        self.facility = FACILITY
        opts = self.options
        if isinstance(auth, FacilityAuth):
            # FirecREST refuses a token close to its expiry: ask the source for one with room left.
            auth = auth.with_min_validity(opts.min_token_validity)
        self._session: ApiSession = opts.session(FACILITY, base_url, auth)
        self.base_url = self._session.base_url
        self.account = opts.account
        self.partition = opts.partition
        self.directory = opts.directory
        self._guard = self.submit_guard()
        self._storage: httpx.AsyncClient | None = None
        self._systems: dict[str, dict[str, Any]] = {}
        self._systems_at: float | None = None
        self._systems_lock: SharedLock | None = None
        self._server_version: tuple[int, ...] | None = None
        self._user: str | None = None
        self._metadata_cache: dict[tuple[str, str], dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @property
    def max_body_bytes(self) -> int:
        """The largest API answer read, in bytes (direct downloads are streamed, not limited)."""
        return self._session.max_body_bytes

    async def aclose(self) -> None:
        """Close the API session and the object storage client."""
        await self._session.aclose()
        if self._storage is not None:
            await self._storage.aclose()
            self._storage = None

    def _storage_client(self) -> httpx.AsyncClient:
        """The client of the staging area's presigned URLs: no auth (the URL is the credential,
        and the facility's token must not reach the object store), no redirects."""
        if self._storage is None:
            opts = self.options
            self._storage = httpx.AsyncClient(
                verify=opts.tls(FACILITY),
                transport=opts.transport,
                timeout=opts.timeout,
                follow_redirects=False,
            )
        return self._storage

    async def _call(self, request: ApiRequest, resource: str | None) -> Any:
        """Send ``request`` through the session and decode its JSON answer."""
        return await self._session.call(request, resource=resource)

    # -- systems --------------------------------------------------------------------------------

    async def _load_systems(self, *, force: bool = False) -> dict[str, dict[str, Any]]:
        """The systems by name, asked again when older than ``system_cache_seconds``; the
        server's version is read from the same answer's ``F7T-AppVersion`` header."""
        if self._systems_lock is None:
            self._systems_lock = SharedLock()
        async with self._systems_lock:
            fresh = (
                self._systems_at is not None
                and time.monotonic() - self._systems_at < self.options.system_cache_seconds
            )
            if force or not fresh:
                response = await self._session.send(build_systems())
                self._systems = systems_of(self._session.json(response))
                self._systems_at = time.monotonic()
                self._server_version = parse_version(response.headers.get("F7T-AppVersion"))
            return self._systems

    async def _system(self, resource: str) -> str:
        """The canonical name of the system ``resource`` (names are case insensitive)."""
        wanted = str(resource).lower()
        systems = self._systems if self._systems_at is not None else await self._load_systems()
        for name in systems:
            if name.lower() == wanted:
                return name
        for name in await self._load_systems(force=True):
            if name.lower() == wanted:
                return name
        raise NotFoundError(
            f"system {resource!r} is not offered by this FirecREST", facility=FACILITY, resource=resource
        )

    def _direct_limit(self, system: str) -> int:
        """The system's ``max_ops_file_size``: the largest direct upload."""
        return max_ops_file_size(self._systems.get(system, {}))

    def _view_limit(self, system: str) -> int:
        """The most one ``ops/view`` returns on the system (:func:`.parsers.largest_view`)."""
        return largest_view(self._direct_limit(system))

    def _download_limit(self, system: str) -> int:
        """The largest direct download on the system (:func:`.parsers.largest_direct_download`)."""
        return largest_direct_download(self._direct_limit(system))

    def _scheduler(self, system: str) -> str:
        return scheduler_type(self._systems.get(system, {}))

    def _version(self) -> tuple[int, ...] | None:
        """The server's version: the ``api_version`` option, else what its answers said."""
        pinned = parse_version(self.options.api_version)
        return pinned if pinned is not None else self._server_version

    async def _home(self, system: str) -> str:
        """The user's directory on the system's ``defaultWorkDir`` file system."""
        if self._user is None:
            info = await self._call(build_userinfo(system), system)
            user = info.get("user") if isinstance(info, dict) else None
            self._user = str((user or {}).get("name") or "") if isinstance(user, dict) else ""
        directory = default_directory(self._systems.get(system, {}), self._user or None)
        if directory is None:
            raise JobSubmissionError(
                f"{system} names no default working directory; give JobSpec.directory or the "
                "backend option 'directory'",
                facility=FACILITY,
                resource=system,
            )
        return directory

    # -- job metadata ---------------------------------------------------------------------------

    async def _metadata(self, system: str, job_id: str) -> dict[str, Any]:
        """A job's metadata (its script and output paths), asked once and kept."""
        key = (system, job_id)
        cached = self._metadata_cache.get(key)
        if cached is not None:
            return cached
        entry = metadata_of(await self._call(build_job_metadata(system, job_id), system), job_id)
        if entry is None:
            raise NotFoundError(f"job {job_id} has no metadata", facility=FACILITY, resource=system)
        self._metadata_cache[key] = entry
        while len(self._metadata_cache) > METADATA_ENTRIES:
            self._metadata_cache.pop(next(iter(self._metadata_cache)))
        return entry

    async def _outputs(self, system: str, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The metadata of ``job_ids`` that can be had (asked a few at a time, failures left out:
        a job's output paths are a convenience of its view, not a reason to fail it)."""
        found: dict[str, dict[str, Any]] = {}
        limiter = anyio.CapacityLimiter(4)

        async def one(job_id: str) -> None:
            async with limiter:
                try:
                    found[job_id] = await self._metadata(system, job_id)
                except FacilityError:
                    return

        async with anyio.create_task_group() as group:
            for job_id in job_ids:
                group.start_soon(one, job_id)
        return found

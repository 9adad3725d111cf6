"""The IRI backend class: one deployment of the DOE IRI Facility API, its method groups joined."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from ...options import BackendOptions
from .account import AccountMixin
from .events import EventsMixin
from .files import FilesMixin
from .jobs import JobsMixin
from .options import IRIOptions
from .requests import FACILITY, _api_version
from .status import StatusMixin

__all__ = ["IRIBackend"]


class IRIBackend(JobsMixin, FilesMixin, AccountMixin, StatusMixin, EventsMixin):
    """The DOE IRI Facility API, v1 or v2, at one facility.

    ``base_url`` includes the version (``https://api.alcf.anl.gov/api/v1``); ``api_version``
    defaults from its trailing ``/v1``/``/v2``. ``project`` is the account to charge when a
    JobSpec names none, sent as ``attributes.account`` (on v2 with ``project_header``, as the
    ``X-IRI-Facility-Project`` header instead).
    No network call happens before the first operation. Label, capabilities and the hint of
    what the API offers come from its descriptor in :mod:`facility_common.registry`.
    """

    name: ClassVar[str] = "iri"
    Options: ClassVar[type[BackendOptions]] = IRIOptions

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        options: IRIOptions | None = None,
        **values: Any,
    ) -> None:
        super().__init__(base_url=base_url, auth=auth, options=options, **values)
        self.facility = FACILITY
        self.api_version = _api_version(base_url, self.options.api_version)
        self.project = self.options.project
        self.task_timeout = self.options.task_timeout
        self.task_poll_interval = self.options.task_poll_interval
        self._session = self.options.session(FACILITY, base_url, auth)
        self.base_url = self._session.base_url
        self._guard = self.submit_guard()
        self._idempotency_supported = True
        self._ids_by_name = {}
        self._names_by_id = {}
        self._links = {}
        self._resources_loaded_at = None
        self._resources_lock = None  # made in the event loop that first needs it

    def __repr__(self) -> str:
        return f"IRIBackend(base_url={self.base_url!r}, api_version={self.api_version!r})"

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._session.aclose()

    def describe(self) -> dict[str, Any]:
        """Connection facts safe to show (no credentials)."""
        return {
            **super().describe(),
            "base_url": self.base_url,
            "api_version": self.api_version,
            "project": self.project,
        }

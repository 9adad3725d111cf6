"""``AsyncTransferClient``: one implementation of cross-facility transfers over two routes.

* The **Globus route** (``route="globus"``, the default when Globus credentials are given):
  Globus Transfer through globus-sdk (:mod:`.globus_route`).
* A **facility route** (``route="<site name>"``): that facility's own Globus routes with the
  facility API's credentials, NERSC's Superfacility API (:mod:`.facility_route`).

Both give the one :class:`~facility_common.transfers.TransferTask` model. Sources and
destinations are written as a collection id, ``"<site>:<storage>"`` or a :class:`StorageRef`;
a site is a facility connection (:class:`~facility_common.transfers.FacilitySite`) whose storages
resolve to collections from configuration or the facility's storage access endpoints.

A transfer is :meth:`~AsyncTransferClient.prepare`\\ d (collections resolved, arguments checked,
``submission_id`` taken) and then :meth:`~AsyncTransferClient.submit`\\ ted; keep the prepared
request (``to_dict()``) to submit it again after a lost answer: the Globus route never starts a
second transfer for one request. Waits go through one :class:`~.poller.TransferPoller` per route,
so many waits share one status request per interval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from ..connection_settings import ClientSettings
from ..errors import ConfigurationError
from ..http import RetryPolicy
from ..tls import VerifySetting
from .globus_route import GLOBUS_TRANSFER_URL, GlobusRoute
from .models import (
    FailedFile,
    InvalidTransferRequest,
    TransferEvent,
    TransferItem,
    TransferRequest,
    TransferTask,
    as_items,
    is_collection_id,
)
from .poller import TransferPoller
from .sites import Collection, FacilitySite

__all__ = ["AsyncTransferClient", "Endpoint", "StorageRef", "TransferRoute"]


@dataclasses.dataclass(frozen=True)
class StorageRef:
    """A storage of a facility site: ``StorageRef("alcf", "eagle")`` (written ``"alcf:eagle"``)."""

    site: str
    storage: str

    @classmethod
    def parse(cls, text: str) -> StorageRef:
        site, sep, storage = text.partition(":")
        if not sep or not site or not storage or ":" in storage:
            raise InvalidTransferRequest(
                f"endpoint {text!r}: write a collection id or <site>:<storage>", field="endpoint"
            )
        return cls(site.strip(), storage.strip())

    def __str__(self) -> str:
        return f"{self.site}:{self.storage}"


Endpoint = str | StorageRef | Collection
"""A transfer's source or destination: a collection id, ``"<site>:<storage>"``, a
:class:`StorageRef` or a resolved :class:`~facility_common.transfers.Collection`."""


class TransferRoute(Protocol):
    """What a route offers (:class:`GlobusRoute`, :class:`FacilityGlobusRoute`)."""

    name: str
    batched: bool

    async def submission_id(self) -> str: ...
    async def submit(
        self, request: TransferRequest, *, fresh_submission_id: bool = False
    ) -> TransferTask: ...
    async def get_task(self, task_id: str) -> TransferTask: ...
    async def list_tasks(
        self, task_ids: Sequence[str] | None = None, *, label: str | None = None, limit: int = 100
    ) -> list[TransferTask]: ...
    async def find_by_label(self, label: str) -> TransferTask | None: ...
    async def cancel(self, task_id: str) -> TransferTask: ...
    async def events(self, task_id: str, limit: int = 100) -> list[TransferEvent]: ...
    async def failed_files(self, task_id: str) -> list[FailedFile]: ...
    async def mkdir(self, collection_id: str, path: str) -> None: ...
    async def aclose(self) -> None: ...


class AsyncTransferClient:
    """Transfers between facilities (see the module).

    :param globus: the Globus route (or None for facility routes only).
    :param sites: the facility sites endpoints may name.
    :param poll_interval: default seconds between status rounds of a wait.
    """

    def __init__(
        self,
        *,
        globus: GlobusRoute | None = None,
        sites: Iterable[FacilitySite] = (),
        poll_interval: float = 10.0,
        grace: float = 60.0,
    ) -> None:
        self.globus = globus
        self.sites: dict[str, FacilitySite] = {}
        self.poll_interval = poll_interval
        self.grace = grace
        self._routes: dict[str, TransferRoute] = {}
        if globus is not None:
            self._routes[globus.name] = globus
        for site in sites:
            self.add_site(site)
        self.pollers: dict[str, TransferPoller] = {}

    @classmethod
    def connect(
        cls,
        *,
        globus_auth: Any = None,
        globus_url: str = GLOBUS_TRANSFER_URL,
        sites: Mapping[str, ClientSettings | FacilitySite | Mapping[str, Any]] | Iterable[FacilitySite] = (),
        verify: VerifySetting = True,
        allow_insecure_http: bool = False,
        retry: RetryPolicy | None = None,
        poll_interval: float = 10.0,
        ids_per_request: int = 1000,
    ) -> AsyncTransferClient:
        """A client with a Globus route when ``globus_auth`` is given (a ``globus_confidential``
        or ``globus_refresh_token`` mapping, a token, a TokenSource) and the ``sites`` given as
        :class:`FacilitySite`\\ s or by name: connection settings, or a bare collection table
        (``{"collections": {"orion": "<id>"}}``). No request is sent here."""
        globus = None
        if globus_auth is not None:
            globus = GlobusRoute(
                globus_auth,
                base_url=globus_url,
                verify=verify,
                allow_insecure_http=allow_insecure_http,
                retry=retry,
                ids_per_request=ids_per_request,
            )
        built: list[FacilitySite] = []
        if isinstance(sites, Mapping):
            for name, value in sites.items():
                if isinstance(value, FacilitySite):
                    built.append(value)
                elif isinstance(value, ClientSettings):
                    built.append(FacilitySite(name, value))
                elif isinstance(value, Mapping) and set(value) <= {"collections"}:
                    built.append(FacilitySite(name, collections=value.get("collections") or {}))
                else:
                    raise ConfigurationError(
                        f"sites.{name}: expected ClientSettings, a FacilitySite or {{'collections': ...}}",
                        facility=name,
                    )
        else:
            built = list(sites)
        return cls(globus=globus, sites=built, poll_interval=poll_interval)

    def __repr__(self) -> str:
        return f"AsyncTransferClient(routes={sorted(self._routes)}, sites={sorted(self.sites)})"

    def add_site(self, site: FacilitySite) -> None:
        """Make ``site`` known to endpoints (and its own Globus routes usable as a route)."""
        if site.name == GlobusRoute.name:
            raise ConfigurationError(f"site name {site.name!r} is the Globus route's", facility=site.name)
        self.sites[site.name] = site

    def route(self, name: str | None = None) -> TransferRoute:
        """The route ``name`` (``globus``, or a site whose API has Globus routes); by default the
        Globus route."""
        from .facility_route import FacilityGlobusRoute

        if name is None:
            if self.globus is None:
                raise ConfigurationError(
                    "route: no Globus credentials were given; give globus_auth, or route='<site>' to "
                    "use a facility's own Globus routes",
                    facility=GlobusRoute.name,
                )
            return self.globus
        found = self._routes.get(name)
        if found is None:
            site = self.sites.get(name)
            if site is None:
                raise ConfigurationError(
                    f"route: unknown route {name!r} (routes: {', '.join(sorted({*self._routes, *self.sites}))})",
                    facility=name,
                )
            found = self._routes[name] = FacilityGlobusRoute(site)
        return found

    def poller(self, route: str | None = None) -> TransferPoller:
        """The shared poller of a route."""
        chosen = self.route(route)
        poller = self.pollers.get(chosen.name)
        if poller is None:
            poller = self.pollers[chosen.name] = TransferPoller(
                chosen, interval=self.poll_interval, grace=self.grace
            )
        return poller

    # -- preparing -------------------------------------------------------------------------------

    async def resolve(
        self, endpoint: Endpoint, route: str | None = None
    ) -> tuple[str, str, Collection | None]:
        """``(what the route sends, how messages name it, the collection if known)``."""
        chosen = self.route(route)
        if isinstance(endpoint, Collection):
            return endpoint.id, endpoint.name, endpoint
        if isinstance(endpoint, str):
            if is_collection_id(endpoint):
                collection_id = endpoint.strip().lower()
                return collection_id, collection_id, None
            endpoint = StorageRef.parse(endpoint)
        if not isinstance(endpoint, StorageRef):
            raise InvalidTransferRequest(
                f"endpoint: expected a collection id, '<site>:<storage>' or a StorageRef, not "
                f"{type(endpoint).__name__}",
                field="endpoint",
            )
        site = self.sites.get(endpoint.site)
        if site is None:
            raise ConfigurationError(
                f"endpoint {endpoint}: unknown site {endpoint.site!r} (sites: {', '.join(sorted(self.sites)) or 'none'})",
                facility=endpoint.site,
            )
        if chosen.name == site.name and endpoint.storage not in site.configured:
            return endpoint.storage, str(endpoint), None  # the facility's own name for its storage
        collection = await site.collection(endpoint.storage)
        if isinstance(chosen, GlobusRoute):
            chosen.names[collection.id] = collection.name
        return collection.id, collection.name, collection

    async def submission_id(self, route: str | None = None) -> str:
        """A new ``submission_id`` of ``route`` (Transfer's own on the Globus route)."""
        return await self.route(route).submission_id()

    async def prepare(
        self,
        source: Endpoint,
        destination: Endpoint,
        items: Sequence[TransferItem | Mapping[str, Any] | Sequence[Any]],
        *,
        label: str | None = None,
        sync_level: str | int | None = None,
        verify_checksum: bool = False,
        preserve_timestamp: bool = False,
        deadline: datetime | None = None,
        route: str | None = None,
        submission_id: str | None = None,
    ) -> TransferRequest:
        """A checked request with its collections resolved and a ``submission_id`` (Transfer's,
        taken now, or the one given). Nothing is transferred yet: keep the request, then
        :meth:`submit` it (again, if its answer is lost)."""
        chosen = self.route(route)
        request = await self._request(
            chosen,
            source,
            destination,
            items,
            label=label,
            sync_level=sync_level,
            verify_checksum=verify_checksum,
            preserve_timestamp=preserve_timestamp,
            deadline=deadline,
            submission_id=submission_id,
        )
        if submission_id is None:
            request = dataclasses.replace(request, submission_id=await chosen.submission_id())
        return request

    async def _request(
        self,
        route: TransferRoute,
        source: Endpoint,
        destination: Endpoint,
        items: Sequence[TransferItem | Mapping[str, Any] | Sequence[Any]],
        *,
        submission_id: str | None,
        **options: Any,
    ) -> TransferRequest:
        checked = as_items(items)
        source_value, source_name, _ = await self.resolve(source, route.name)
        destination_value, destination_name, _ = await self.resolve(destination, route.name)
        values: dict[str, Any] = {"submission_id": submission_id} if submission_id else {}
        return TransferRequest(
            source=source_value,
            destination=destination_value,
            items=checked,
            route=route.name,
            source_name=source_name,
            destination_name=destination_name,
            **options,
            **values,
        )

    # -- transfers -------------------------------------------------------------------------------

    async def submit(self, request: TransferRequest | Mapping[str, Any]) -> TransferTask:
        """Submit a prepared request (or its ``to_dict()``); the task as accepted. Submitting the
        same request again on the Globus route gives the same task."""
        if not isinstance(request, TransferRequest):
            request = TransferRequest.from_dict(request)
        task = await self.route(request.route).submit(request)
        self.poller(request.route).watch([task.id], [task])
        return task

    async def transfer(
        self,
        source: Endpoint,
        destination: Endpoint,
        items: Sequence[TransferItem | Mapping[str, Any] | Sequence[Any]],
        *,
        label: str | None = None,
        sync_level: str | int | None = None,
        verify_checksum: bool = False,
        preserve_timestamp: bool = False,
        deadline: datetime | None = None,
        route: str | None = None,
    ) -> TransferTask:
        """:meth:`prepare` and :meth:`submit` in one call: Transfer's ``submission_id`` is taken
        just before sending, and the request is not kept (use the two steps where a retry must
        find the same transfer)."""
        chosen = self.route(route)
        request = await self._request(
            chosen,
            source,
            destination,
            items,
            label=label,
            sync_level=sync_level,
            verify_checksum=verify_checksum,
            preserve_timestamp=preserve_timestamp,
            deadline=deadline,
            submission_id=None,
        )
        task = await chosen.submit(request, fresh_submission_id=True)
        self.poller(chosen.name).watch([task.id], [task])
        return task

    async def get_transfer(self, task_id: str, route: str | None = None) -> TransferTask:
        """One transfer's current state."""
        return await self.route(route).get_task(task_id)

    async def list_transfers(
        self,
        task_ids: Sequence[str] | None = None,
        *,
        route: str | None = None,
        label: str | None = None,
        limit: int = 100,
    ) -> list[TransferTask]:
        """Transfers by id (batched), or the newest ``limit`` (of ``label``)."""
        return await self.route(route).list_tasks(
            list(task_ids) if task_ids is not None else None, label=label, limit=limit
        )

    async def find_transfer(self, label: str, route: str | None = None) -> TransferTask | None:
        """The newest transfer labelled ``label``: how a retried task finds an earlier try's."""
        return await self.route(route).find_by_label(label)

    async def cancel(self, task_id: str, route: str | None = None) -> TransferTask:
        """Cancel a transfer; returns it (ended, or still stopping)."""
        return await self.route(route).cancel(task_id)

    async def events(self, task_id: str, route: str | None = None, limit: int = 100) -> list[TransferEvent]:
        """A transfer's events, newest first."""
        return await self.route(route).events(task_id, limit)

    async def failed_files(self, task_id: str, route: str | None = None) -> list[FailedFile]:
        """The files a transfer could not move, and why."""
        return await self.route(route).failed_files(task_id)

    async def mkdir(self, endpoint: Endpoint, path: str, route: str | None = None) -> None:
        """Make a directory (and its missing parents) on an endpoint's collection; one that
        exists already is fine. Transfers make their destination directories themselves: this is
        for a place an app writes to before anything is moved there."""
        chosen = self.route(route)
        target, _, _ = await self.resolve(endpoint, chosen.name)
        await chosen.mkdir(target, path)

    async def poll(
        self, task_ids: Sequence[str], route: str | None = None, max_age: float = 0.0
    ) -> list[TransferTask]:
        """The transfers' current states, in order, through the route's shared poller (one
        batched request answers for all its watched transfers; none if the last is younger
        than ``max_age``). Never raises for one transfer's sake."""
        views = await self.poller(route).refresh(list(task_ids), max_age=max_age)
        return [views[task_id] for task_id in task_ids]

    async def wait(
        self,
        task_id: str,
        route: str | None = None,
        timeout: float | None = None,
        poll_interval: float | None = None,
        on_update: Callable[[TransferTask], None] | None = None,
    ) -> TransferTask:
        """Wait until the transfer ends and return it (whatever its end: check ``state``).

        Concurrent waits on one route share one status request per interval. ``on_update`` is
        called on every change of state or progress. Raises
        :class:`~facility_common.WaitTimeout` after ``timeout`` seconds.
        """
        interval = self.poll_interval if poll_interval is None else poll_interval
        return await self.poller(route).wait(task_id, timeout=timeout, interval=interval, on_update=on_update)

    async def aclose(self) -> None:
        """Close the routes' and sites' connections."""
        for route in self._routes.values():
            await route.aclose()
        for site in self.sites.values():
            await site.aclose()

    async def __aenter__(self) -> AsyncTransferClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

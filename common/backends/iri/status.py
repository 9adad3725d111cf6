"""The IRI backend's status and facility methods: resources, outages, and the IRI-only reads.

**IRI-only calls** (``facility_info``, ``sites``, ``site``, ``event``, ``incident``,
``compute_resources``, ``filesystem_resources``) are outside the generic contract.
Facility, site and event documents have no shared model and are returned as the plain dicts the
API serves, after a shape check (an object with an ``id``). The events feed (``events``) lives in
:mod:`.events`.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from ...errors import FacilityError
from ...http import ApiRequest
from ...models import Outage, ResourceStatus
from .core import IRIBase
from .parsers import (
    _parse_incident,
    _parse_object,
    _parse_objects,
    _parse_outages,
    _parse_resource,
    _parse_resources,
)
from .requests import (
    _build_compute_resources,
    _build_event,
    _build_facility,
    _build_filesystem_resources,
    _build_incident,
    _build_incidents,
    _build_resource,
    _build_site,
    _build_sites,
)


class StatusMixin(IRIBase):
    """Resources, their outages, and the facility's own description."""

    async def resources(self) -> list[ResourceStatus]:
        """Every resource and its current status.

        :calls: GET /status/resources (paged with offset/limit)
        """
        return await self._load_resources()

    async def resource(self, name_or_id: str) -> ResourceStatus:
        """One resource, by name or id.

        :calls: GET /status/resources/{resource_id}
        """
        resource_id, name = await self._resolve(name_or_id)
        data = await self._session.call(_build_resource(resource_id), resource=name)
        try:
            found = _parse_resource(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer("GET /status/resources/{id}", exc, name) from None
        self._remember([found])
        return found

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Planned and unplanned incidents overlapping ``start..end`` (default: now onwards),
        for one resource or all.

        :calls: GET /status/incidents (with resource_id; paged)
        """
        resource_id: str | None = None
        name: str | None = None
        if resource is not None:
            resource_id, name = await self._resolve(resource)
        elif self._resources_loaded_at is None:
            with contextlib.suppress(FacilityError):
                await self._load_resources()  # only to show resource names; ids do otherwise
        items = await self._pages(lambda offset: _build_incidents(resource_id, offset), resource=name)
        try:
            return _parse_outages(
                items, names=self._names_by_id, resource_id=resource_id, start=start, end=end
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET /status/incidents", exc, name) from None

    async def incident(self, incident_id: str) -> Outage:
        """One incident by id as an :class:`Outage` (also a cancelled one: ``raw["resolution"]``
        tells), its resources named where the resource list is known.

        :calls: GET /status/incidents/{incident_id}
        """
        data = await self._object(_build_incident(incident_id), "incident")
        if self._resources_loaded_at is None:
            with contextlib.suppress(FacilityError):
                await self._load_resources()  # only to show resource names; ids do otherwise
        try:
            outage = _parse_incident(data, self._names_by_id, keep_cancelled=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer(f"GET /status/incidents/{incident_id}", exc, None) from None
        assert outage is not None  # keep_cancelled never drops one
        return outage

    async def outage(self, outage_id: str, resource: str | None = None) -> Outage:
        """One incident by id (also a resolved or cancelled one): :meth:`incident`.

        :calls: GET /status/incidents/{incident_id}
        """
        return await self.incident(outage_id)

    async def event(self, event_id: str) -> dict[str, Any]:
        """One status event by id, a plain dict.

        :calls: GET /status/events/{event_id}
        """
        return await self._object(_build_event(event_id), "event")

    # -- the facility ---------------------------------------------------------------------------

    async def facility_info(self) -> dict[str, Any]:
        """The facility's description as served (``id``, ``name``, ``short_name``,
        ``organization_name``, ``support_uri``, ``site_uris``...), a plain dict. (Not named
        ``facility``: that is the contract's deployment label attribute, ``"iri"``.)

        :calls: GET /facility
        """
        return await self._object(_build_facility(), "facility")

    async def sites(self) -> list[dict[str, Any]]:
        """The facility's sites (``id``, ``name``, ``short_name``, address and location fields,
        ``resource_uris``), as plain dicts.

        :calls: GET /facility/sites (paged with offset/limit)
        """
        items = await self._pages(lambda offset: _build_sites(offset))
        try:
            return _parse_objects(items, "site")
        except ValueError as exc:
            raise self._bad_answer("GET /facility/sites", exc, None) from None

    async def site(self, site_id: str) -> dict[str, Any]:
        """One site by id, a plain dict.

        :calls: GET /facility/sites/{site_id}
        """
        return await self._object(_build_site(site_id), "site")

    async def compute_resources(self) -> list[ResourceStatus]:
        """The compute resources the caller may submit to.

        :calls: GET /compute/resources
        """
        return await self._typed_resources(_build_compute_resources())

    async def filesystem_resources(self) -> list[ResourceStatus]:
        """The storage resources the caller may use with the filesystem operations.

        :calls: GET /filesystem/resources (v1) | POST /filesystem/resources (v2)
        """
        return await self._typed_resources(_build_filesystem_resources(self.api_version))

    async def _typed_resources(self, request: ApiRequest) -> list[ResourceStatus]:
        data = await self._session.call(request)
        try:
            resources = _parse_resources(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer(f"{request.method} /{request.path}", exc, None) from None
        self._remember(resources)
        return resources

    async def _object(self, request: ApiRequest, what: str, resource: str | None = None) -> dict[str, Any]:
        data = await self._session.call(request, resource=resource)
        try:
            return _parse_object(data, what)
        except ValueError as exc:
            raise self._bad_answer(f"{request.method} /{request.path}", exc, resource) from None

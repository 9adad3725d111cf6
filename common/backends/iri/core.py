"""What every group of the IRI backend's methods shares: the session, paging, bad answers, and
resource names resolved to ids once."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from ...drive import SharedLock
from ...errors import APIError, NotFoundError
from ...http import ApiRequest, ApiSession
from ...models import ResourceStatus
from ..base import FacilityBackend
from ..submit import SubmitGuard
from .links import RELATIONS, expand, parse_links, request_path
from .options import IRIOptions
from .parsers import _is_empty_page, _items, _parse_resources
from .requests import FACILITY, PAGE_LIMIT, _build_resources

logger = logging.getLogger("facility_common.backends.iri")

MAX_PAGES = 100
"""Most pages read of one paged collection."""
RESOURCE_CACHE_SECONDS = 300.0
"""How old the resource list may be before an unknown name fetches it again."""
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.IGNORECASE)


class IRIBase(FacilityBackend):
    """The state and plumbing the IRI method groups (status, jobs, files, tasks) build on.

    The attributes are set by :class:`~facility_common.backends.iri.IRIBackend`'s constructor.
    """

    options: IRIOptions
    api_version: str
    project: str | None
    task_timeout: float
    task_poll_interval: float
    base_url: str
    _session: ApiSession
    _guard: SubmitGuard
    _idempotency_supported: bool
    _ids_by_name: dict[str, str]
    _names_by_id: dict[str, str]
    _links: dict[str, dict[str, str]]
    _resources_loaded_at: float | None
    _resources_lock: SharedLock | None

    def _bad_answer(self, what: str, exc: Exception, resource: str | None) -> APIError:
        return APIError(f"{what}: unusable answer ({exc})", facility=FACILITY, resource=resource)

    def _parsed(self, what: str, path: str, resource: str, parse: Callable[..., Any], *args: Any) -> Any:
        """``parse(*args)``, its failure an APIError naming ``what`` and ``path``."""
        try:
            return parse(*args)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer(f"{what} {path}", exc, resource) from None

    async def _pages(
        self,
        build: Callable[[int], ApiRequest],
        *,
        resource: str | None = None,
        stop: Callable[[list[dict[str, Any]]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Every item of a paged collection; stops on a short page, a page seen before, a
        ``404 No <items> found`` (how the reference server answers an empty page), or after a
        page for which ``stop(page)`` is true."""
        items: list[dict[str, Any]] = []
        previous: list[Any] | None = None
        for page in range(MAX_PAGES):
            request = build(page * PAGE_LIMIT)
            try:
                data = await self._session.call(request, resource=resource)
            except NotFoundError as exc:
                if _is_empty_page(exc.status_code, exc.body):
                    break  # "No <items> found": an empty page, also one past the end
                raise
            try:
                batch = _items(data)
            except ValueError as exc:
                raise self._bad_answer(f"{request.method} {request.path}", exc, resource) from None
            keys = [item.get("id") for item in batch]
            if keys and keys == previous:
                break  # the server ignores offset
            items.extend(batch)
            if len(batch) < PAGE_LIMIT or (stop is not None and stop(batch)):
                break
            previous = keys
        return items

    # -- resource names -------------------------------------------------------------------------

    def _remember(self, resources: Iterable[ResourceStatus]) -> None:
        for item in resources:
            self._ids_by_name[item.name] = item.id
            self._names_by_id[item.id] = item.name
            links = parse_links(item.raw)
            if links:
                self._links[item.id] = links

    def _linked(self, request: ApiRequest, resource_id: str, operation: str, **values: str) -> ApiRequest:
        """``request`` sent where the resource's HAL link for ``operation`` leads, when the
        facility gave a usable one (see :mod:`.links`); otherwise as built."""
        href = self._links.get(resource_id, {}).get(RELATIONS[operation])
        if href is None:
            return request
        target = expand(href, values)
        path = request_path(target, self.base_url) if target is not None else None
        if path is None:
            # the href itself is not logged: a link refused for its query may carry a credential
            logger.debug("not following the %s link of resource %s", operation, resource_id)
            return request
        return dataclasses.replace(request, path=path)

    async def _load_resources(self) -> list[ResourceStatus]:
        try:
            resources = _parse_resources(await self._pages(lambda offset: _build_resources(offset)))
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET /status/resources", exc, None) from None
        self._remember(resources)
        self._resources_loaded_at = time.monotonic()
        return resources

    def _lookup(self, key: str) -> tuple[str, str] | None:
        if key in self._ids_by_name:
            return self._ids_by_name[key], key
        if key in self._names_by_id:
            return key, self._names_by_id[key]
        folded = [name for name in self._ids_by_name if name.casefold() == key.casefold()]
        if len(folded) == 1:
            return self._ids_by_name[folded[0]], folded[0]
        return None

    async def _resolve(self, resource: str) -> tuple[str, str]:
        """``(resource_id, resource_name)`` for a name or id; the resource list is fetched once and
        again only when a key is unknown and the list is older than ``RESOURCE_CACHE_SECONDS``."""
        found = self._lookup(resource)
        if found is not None:
            return found
        if self._resources_lock is None:
            self._resources_lock = SharedLock()
        async with self._resources_lock:
            found = self._lookup(resource)
            if found is not None:
                return found
            loaded = self._resources_loaded_at
            if loaded is None or time.monotonic() - loaded > RESOURCE_CACHE_SECONDS:
                await self._load_resources()
                found = self._lookup(resource)
                if found is not None:
                    return found
        if _UUID.match(resource):
            return resource, resource  # an id the status list does not show; the server will judge
        known = ", ".join(sorted(self._ids_by_name)) or "none"
        raise NotFoundError(
            f"unknown resource {resource!r}; the {self.facility_label} knows: {known}",
            facility=FACILITY,
            resource=resource,
        )

"""Facilities as the transfer layer sees them: a connection's storages and their Globus collections.

A :class:`FacilitySite` is one facility connection (its :class:`~facility_common.ClientSettings`)
under a name the caller chooses (``alcf``, or the Airflow connection id). It resolves a storage
of that facility to its Globus collection:

1. from the connection's configuration (the ``globus_collections`` extra, or ``collections=``):
   a storage name mapped to a collection id, or to ``{"id", "root"}`` where ``root`` is the
   collection's ``/`` on the facility's file system. Configuration wins, so a user can correct
   what a facility reports;
2. from the facility's API where it offers it: IRI v2's ``GET /storage/access-endpoints/{id}``
   lists a storage resource's data access endpoints, and its ``globus`` endpoint names the
   collection (``endpoint_id``, or the id in its ``globus://<id>/`` URI) and its ``root_path``;
3. otherwise a :class:`~facility_common.ConfigurationError` naming the connection and the
   storage, and saying where the public collection ids are listed (``docs/transfers.md``).

Answers are cached per site. The site's API session (for the access endpoints and for routes
that speak the facility's own API) shares one token source with its
:class:`~facility_common.AsyncFacilityClient`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import anyio

from ..client import AsyncFacilityClient, client_auth
from ..connection_settings import ClientSettings
from ..errors import ConfigurationError, FacilityError, NotFoundError, UnsupportedOperation
from ..http import ApiRequest, ApiSession
from ..options import BackendOptions
from ..registry import get_descriptor
from .models import is_collection_id

__all__ = ["Collection", "FacilitySite", "collection_table"]

_GLOBUS_URI = re.compile(r"^globus://(?P<id>[0-9a-fA-F-]{36})(/|$)")
DOCS_HINT = "docs/transfers.md lists the facilities' public Globus collections"


@dataclasses.dataclass(frozen=True)
class Collection:
    """A Globus collection standing for one storage of a facility.

    ``root`` is where the collection's ``/`` lies on the facility's file system, when known (so a
    job's path there becomes a Globus path and back); ``name`` is how messages call it.
    """

    id: str
    name: str
    root: str | None = None

    def globus_path(self, path: str) -> str:
        """The Globus path of a facility path under :attr:`root` (a path already relative to the
        collection, or with no known root, is returned as is)."""
        if self.root is None:
            return path
        root = self.root.rstrip("/")
        if path == root:
            return "/"
        if root and path.startswith(root + "/"):
            return path[len(root) :]
        return path

    def facility_path(self, globus_path: str) -> str | None:
        """The facility path of a Globus path, when :attr:`root` is known."""
        if self.root is None:
            return None
        return self.root.rstrip("/") + "/" + globus_path.lstrip("/")


def collection_table(site: str, raw: Mapping[str, Any] | None) -> dict[str, Collection]:
    """The ``globus_collections`` configuration of ``site`` checked: storage -> :class:`Collection`.

    Raises :class:`ConfigurationError` naming the site and the storage for an entry that is not
    a collection id or ``{"id", "root"}``.
    """
    table: dict[str, Collection] = {}
    for storage, entry in (raw or {}).items():
        where = f"connection {site!r}, globus_collections.{storage}"
        collection_id: Any
        root: Any
        if isinstance(entry, str):
            collection_id, root = entry, None
        elif isinstance(entry, Mapping):
            unknown = sorted(set(entry) - {"id", "root"})
            if unknown:
                raise ConfigurationError(
                    f"{where}: unknown key {unknown[0]!r} (known: id, root)", facility=site
                )
            collection_id, root = entry.get("id"), entry.get("root")
        else:
            raise ConfigurationError(f"{where}: expected a collection id or {{'id', 'root'}}", facility=site)
        if not is_collection_id(collection_id):
            raise ConfigurationError(
                f"{where}: {collection_id!r} is not a Globus collection id (a UUID)", facility=site
            )
        if root is not None and (not isinstance(root, str) or not root.startswith("/")):
            raise ConfigurationError(f"{where}.root: expected an absolute path", facility=site)
        assert isinstance(collection_id, str)
        table[str(storage)] = Collection(collection_id.strip().lower(), f"{site}:{storage}", root)
    return table


class FacilitySite:
    """One facility connection, for the transfer layer.

    Build it from a connection's settings (:meth:`from_settings`, what Airflow and the command
    do), from connect-style arguments (:meth:`connect`), or from a collection table alone
    (``FacilitySite("olcf", collections={"orion": "<id>"})``: no API, nothing to discover).
    Nothing is sent before the first look-up.
    """

    def __init__(
        self,
        name: str,
        settings: ClientSettings | None = None,
        *,
        collections: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or ":" in name or "/" in name:
            raise ConfigurationError(
                f"site name {name!r}: must be non-empty, without ':' or '/'", facility=name
            )
        self.name = name
        self.settings = settings
        configured = dict(settings.collections) if settings is not None else {}
        configured.update(collections or {})
        self.configured = collection_table(name, configured)
        self._found: dict[str, Collection] = {}
        self._client: AsyncFacilityClient | None = None
        self._session: ApiSession | None = None
        self._lock: anyio.Lock | None = None

    @classmethod
    def from_settings(cls, settings: ClientSettings, name: str | None = None) -> FacilitySite:
        """The site of a connection's settings, named by its connection id unless ``name``."""
        return cls(name or settings.conn_id, settings)

    @classmethod
    def connect(
        cls,
        name: str,
        api: str,
        *,
        base_url: str,
        auth: Any = None,
        collections: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> FacilitySite:
        """A site speaking the API ``api`` (a registry name) at ``base_url``, as
        :meth:`~facility_common.FacilityClient.connect` takes them."""
        settings = ClientSettings(conn_id=name, backend=api, base_url=base_url, auth=auth, options=options)
        return cls(name, settings, collections=collections)

    def __repr__(self) -> str:
        api = f", api={self.settings.backend!r}" if self.settings is not None else ""
        return f"FacilitySite({self.name!r}{api}, collections={sorted(self.configured)})"

    @property
    def api(self) -> str | None:
        """The registry name of the site's API, if it has one."""
        return self.settings.backend if self.settings is not None else None

    def _connect(self) -> tuple[AsyncFacilityClient, ApiSession]:
        if self.settings is None:
            raise ConfigurationError(
                f"site {self.name!r} has no facility connection, only configured collections",
                facility=self.name,
            )
        if self._client is None or self._session is None:
            settings = self.settings
            options: BackendOptions = (
                get_descriptor(settings.backend)
                .options_class()
                .from_mapping(settings.backend, settings.options)
            )
            auth = client_auth(settings.backend, settings.base_url, settings.auth, options)
            self._client = AsyncFacilityClient.connect(
                settings.backend, base_url=settings.base_url, auth=auth, options=options
            )
            self._session = options.session(settings.backend, settings.base_url, auth)
        return self._client, self._session

    @property
    def client(self) -> AsyncFacilityClient:
        """The site's facility client (built on first use; shares the session's token source)."""
        return self._connect()[0]

    async def call(self, request: ApiRequest, *, resource: str | None = None) -> Any:
        """Send one request of the site's API with the connection's credentials (for routes that
        speak the facility's own API); returns the decoded answer."""
        session = self._connect()[1]
        return await session.call(request, resource=resource)

    async def collection(self, storage: str) -> Collection:
        """The Globus collection of ``storage`` (configured, else discovered; see the module)."""
        if not isinstance(storage, str) or not storage.strip():
            raise ConfigurationError(f"site {self.name!r}: a storage name is required", facility=self.name)
        found = self.configured.get(storage) or self._found.get(storage)
        if found is not None:
            return found
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            found = self._found.get(storage)
            if found is None:
                found = self._found[storage] = await self._discover(storage)
        return found

    async def _discover(self, storage: str) -> Collection:
        if self.settings is None:
            raise ConfigurationError(
                f"site {self.name!r} has no collection for storage {storage!r} (it knows "
                f"{', '.join(sorted(self.configured)) or 'none'}); {DOCS_HINT}",
                facility=self.name,
            )
        why: str
        try:
            endpoints = await self.access_endpoints(storage)
        except (NotFoundError, UnsupportedOperation) as exc:
            why = f"the API offers no storage access endpoints for it ({exc.message})"
        except FacilityError:
            raise
        else:
            for endpoint in endpoints:
                found = _globus_collection(endpoint)
                if found is not None:
                    collection_id, root = found
                    return Collection(collection_id, f"{self.name}:{storage}", root)
            why = "its storage access endpoints name no Globus collection"
        raise ConfigurationError(
            f"connection {self.name!r}: no Globus collection known for storage {storage!r}: {why}; "
            f"set globus_collections on the connection ({DOCS_HINT})",
            facility=self.api,
        )

    async def access_endpoints(self, storage: str) -> list[dict[str, Any]]:
        """The data access endpoints the facility reports for a storage resource (IRI v2).

        :calls: GET /storage/access-endpoints/{resource_id}?protocol=globus
        """
        client, _ = self._connect()
        resource = await client.resource(storage)
        data = await self.call(
            ApiRequest(
                "GET",
                f"storage/access-endpoints/{quote(resource.id, safe='')}",
                params={"protocol": "globus"},
            ),
            resource=storage,
        )
        if not isinstance(data, list):
            return []
        return [item for item in data if isinstance(item, dict)]

    async def aclose(self) -> None:
        client, self._client = self._client, None
        session, self._session = self._session, None
        if client is not None:
            await client.aclose()
        if session is not None:
            await session.aclose()


def _globus_collection(endpoint: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """``(collection id, root path)`` of a Globus access endpoint that can transfer, or None."""
    if str(endpoint.get("protocol", "")).lower() != "globus":
        return None
    capabilities = endpoint.get("capabilities")
    if isinstance(capabilities, list) and capabilities and "transfer" not in capabilities:
        return None
    collection_id = endpoint.get("endpoint_id")
    if not is_collection_id(collection_id):
        match = _GLOBUS_URI.match(str(endpoint.get("uri") or ""))
        collection_id = match.group("id") if match else None
    if not isinstance(collection_id, str):
        return None
    root = endpoint.get("root_path")
    return collection_id.lower(), root if isinstance(root, str) and root.startswith("/") else None

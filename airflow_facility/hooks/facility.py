"""``FacilityHook``: a facility API client built from an Airflow connection.

The connection's type picks the API, its host is the base URL, its password or extras carry the
credentials, all read by :func:`facility_common.settings_from_connection`. Each API's connection
type has its hook, a subclass of :class:`FacilityHook` made from the API's descriptor
(``IRIHook``, ``SuperfacilityHook``..., named by ``BackendDescriptor.hook_class``).
Operators use the blocking :class:`~facility_common.FacilityClient`; triggers use
:func:`shared_async_client`, which hands every trigger of one triggerer event loop the same
:class:`~facility_common.AsyncFacilityClient` per connection, so their waits share the client's
batched status poller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import BaseHook

from facility_common import (
    AsyncFacilityClient,
    BackendDescriptor,
    FacilityClient,
    FacilityError,
    NotFoundError,
    settings_from_connection,
)
from facility_common.connection_settings import ClientSettings, ConnectionLike, connection_errors

from ..connections import facility_descriptors

__all__ = [
    "HOOK_CLASSES",
    "FacilityHook",
    "FirecrestHook",
    "FluxHook",
    "IRIHook",
    "S3MHook",
    "SlurmRestHook",
    "SuperfacilityHook",
    "connect_sync",
    "shared_async_client",
]

logger = logging.getLogger(__name__)

# event loop -> settings fingerprint -> client. Weak on the loop: a finished loop drops its clients.
_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncFacilityClient]] = (
    weakref.WeakKeyDictionary()
)


def _connect_async(settings: ClientSettings) -> AsyncFacilityClient:
    with connection_errors(settings.conn_id, settings.backend):
        return AsyncFacilityClient.connect(
            settings.backend, base_url=settings.base_url, auth=settings.auth, **settings.options
        )


def connect_sync(settings: ClientSettings) -> FacilityClient:
    """The blocking client of ``settings``; configuration errors name the connection's fields."""
    with connection_errors(settings.conn_id, settings.backend):
        return FacilityClient.connect(
            settings.backend, base_url=settings.base_url, auth=settings.auth, **settings.options
        )


async def shared_async_client(facility_conn_id: str) -> tuple[AsyncFacilityClient, ClientSettings]:
    """The async client of ``facility_conn_id`` shared by everything on the running event loop.

    Keyed by a fingerprint of the connection's settings, so a changed connection (a rotated
    secret) gets a fresh client while unchanged ones keep sharing theirs.
    """
    connection = await BaseHook.aget_connection(facility_conn_id)
    settings = settings_from_connection(connection)
    clients = _ASYNC_CLIENTS.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(settings.fingerprint)
    if client is None:
        client = clients[settings.fingerprint] = _connect_async(settings)
    return client, settings


class FacilityHook(BaseHook):
    """Client of the facility API named by a connection.

    Works with a connection of any facility connection type (the type decides the API); the
    subclasses made from the descriptors register one connection type each.

    :param facility_conn_id: id of a connection of one of the facility connection types.
    """

    conn_name_attr = "facility_conn_id"
    default_conn_name = "facility_default"
    conn_type = ""
    hook_name = "HPC facility API"

    def __init__(self, facility_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.facility_conn_id = facility_conn_id
        self._settings: ClientSettings | None = None
        self._client: FacilityClient | None = None

    @property
    def settings(self) -> ClientSettings:
        """The connection's client settings (fetched once)."""
        if self._settings is None:
            connection: ConnectionLike = self.get_connection(self.facility_conn_id)
            self._settings = settings_from_connection(connection)
        return self._settings

    def get_conn(self) -> FacilityClient:
        """The blocking client of this connection (created once per hook)."""
        if self._client is None:
            self._client = connect_sync(self.settings)
        return self._client

    def get_async_conn(self) -> AsyncFacilityClient:
        """A new async client of this connection, owned by the caller (close it when done)."""
        return _connect_async(self.settings)

    def job_url(self, resource: str, job_id: str) -> str | None:
        """The job's web page at the facility, when the connection names one."""
        template = self.settings.job_url_template
        if not template:
            return None
        return template.format(job_id=job_id, resource=resource)

    def close(self) -> None:
        """Close the blocking client's connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def test_connection(self) -> tuple[bool, str]:
        """Read the resources (proves the URL and the API), then make one authenticated call, a
        status query for a job id that does not exist (proves the credentials; status pages are
        public at some facilities)."""
        try:
            client = self.get_conn()
            resources = client.resources()
            compute = [resource.name for resource in resources if resource.resource_type == "compute"]
            if compute:
                with contextlib.suppress(NotFoundError):
                    client.list_jobs(compute[0], ["airflow-connection-test"])
        except FacilityError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        names = ", ".join(sorted(resource.name for resource in resources)) or "none"
        return True, f"connected to {self.settings.base_url}; resources: {names}"


def _hook_class(descriptor: BackendDescriptor) -> type[FacilityHook]:
    """The hook of ``descriptor``'s connection type: a :class:`FacilityHook` registering it."""
    namespace = {
        "__module__": __name__,
        "__qualname__": descriptor.hook_class,
        "__doc__": f"The {descriptor.label} ({descriptor.where or descriptor.name}): connection type "
        f"``{descriptor.conn_type}``.",
        "conn_type": descriptor.conn_type,
        "hook_name": descriptor.label,
    }
    return cast("type[FacilityHook]", type(descriptor.hook_class, (FacilityHook,), namespace))


def _hook_classes() -> dict[str, type[FacilityHook]]:
    """One hook per connection type, by class name; a name that is not an identifier or is
    already taken in this module (a plug-in's mistake) is left out with a warning."""
    hooks: dict[str, type[FacilityHook]] = {}
    for descriptor in facility_descriptors():
        name = descriptor.hook_class
        if not name.isidentifier() or name in globals() or name in hooks:
            logger.warning("facility backend %r: hook class name %r is unusable", descriptor.name, name)
            continue
        hooks[name] = _hook_class(descriptor)
    return hooks


HOOK_CLASSES: dict[str, type[FacilityHook]] = _hook_classes()
"""Hook class name -> hook, one per connection type; each is also a name of this module."""
globals().update(HOOK_CLASSES)

if TYPE_CHECKING:
    # The built-in APIs' hooks, made above from their descriptors; type checkers see FacilityHook.
    FirecrestHook = FacilityHook
    FluxHook = FacilityHook
    IRIHook = FacilityHook
    S3MHook = FacilityHook
    SlurmRestHook = FacilityHook
    SuperfacilityHook = FacilityHook

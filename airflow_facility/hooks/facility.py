"""``FacilityHook``: a facility API client built from an Airflow connection.

The connection's type picks the API (``facility_iri``, ``facility_sfapi``...), its host is the base
URL, its password or extras carry the credentials (see :mod:`airflow_facility.hooks.settings`).
Operators use the blocking :class:`~facility_common.FacilityClient`; triggers use
:func:`shared_async_client`, which hands every trigger of one triggerer event loop the same
:class:`~facility_common.AsyncFacilityClient` per connection, so their waits share the client's
batched status poller.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from airflow.sdk import BaseHook

from facility_common import AsyncFacilityClient, FacilityClient, FacilityError, NotFoundError

from .settings import ClientSettings, ConnectionLike, client_settings, connection_errors

__all__ = [
    "FacilityHook",
    "FirecrestHook",
    "FluxHook",
    "IRIHook",
    "S3MHook",
    "SlurmRestHook",
    "SuperfacilityHook",
    "shared_async_client",
]

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
    settings = client_settings(connection)
    clients = _ASYNC_CLIENTS.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(settings.fingerprint)
    if client is None:
        client = clients[settings.fingerprint] = _connect_async(settings)
    return client, settings


class FacilityHook(BaseHook):
    """Client of the facility API named by a connection.

    :param facility_conn_id: id of a connection of one of the facility connection types.
    """

    conn_name_attr = "facility_conn_id"
    default_conn_name = "facility_default"
    conn_type = "facility_iri"
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
            self._settings = client_settings(connection)
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


class IRIHook(FacilityHook):
    """The DOE IRI Facility API (ALCF, NERSC, OLCF)."""

    conn_type = "facility_iri"
    hook_name = "DOE IRI Facility API"


class SuperfacilityHook(FacilityHook):
    """The NERSC Superfacility API."""

    conn_type = "facility_sfapi"
    hook_name = "NERSC Superfacility API"


class S3MHook(FacilityHook):
    """OLCF S3M (Slurm REST behind a gateway)."""

    conn_type = "facility_s3m"
    hook_name = "OLCF S3M"


class SlurmRestHook(FacilityHook):
    """A Slurm REST daemon (slurmrestd)."""

    conn_type = "facility_slurmrest"
    hook_name = "Slurm REST API"


class FluxHook(FacilityHook):
    """The Flux RESTful API."""

    conn_type = "facility_flux"
    hook_name = "Flux RESTful API"


class FirecrestHook(FacilityHook):
    """FirecREST v2 (CSCS and other FirecREST sites)."""

    conn_type = "facility_firecrest"
    hook_name = "FirecREST v2"

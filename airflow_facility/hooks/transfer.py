"""``GlobusTransferHook``: transfer clients built from Airflow connections.

Transfer settings are split the way their facts are: a **Globus connection** (type
``facility_globus``, :mod:`facility_common.transfers.settings`) holds the Globus credentials,
which are one identity's across facilities, and each **facility connection** holds where its
storages' collections are (``globus_collections``; IRI v2 connections need none, their API
reports them). A transfer through a facility's own Globus routes (NERSC's Superfacility API)
needs no Globus connection: it uses that facility connection's credentials.

Operators use the blocking :class:`~facility_common.transfers.TransferClient`; triggers use
:func:`shared_transfer_client`, one :class:`~facility_common.transfers.AsyncTransferClient` per
triggerer event loop and settings, so every deferred transfer of a route shares one status
request per interval.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseHook

from facility_common import FacilityError, settings_from_connection
from facility_common.connection_settings import ClientSettings, connection_errors
from facility_common.transfers import AsyncTransferClient, FacilitySite, TransferClient
from facility_common.transfers.settings import (
    GLOBUS_CONN_TYPE,
    GlobusSettings,
    globus_settings_from_connection,
)

__all__ = ["GlobusTransferHook", "build_transfer_client", "shared_transfer_client"]

# event loop -> settings key -> client. Weak on the loop: a finished loop drops its clients.
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncTransferClient]] = (
    weakref.WeakKeyDictionary()
)


def build_transfer_client(
    globus: GlobusSettings | None, sites: Sequence[ClientSettings], *, poll_interval: float = 10.0
) -> AsyncTransferClient:
    """An async transfer client on ``globus`` (None: facility routes only) and the facility
    connections ``sites`` (each a site named by its connection id)."""
    options: dict[str, Any] = globus.route_options() if globus is not None else {}
    built = []
    for settings in sites:
        with connection_errors(settings.conn_id, settings.backend):
            built.append(FacilitySite.from_settings(settings))
    with connection_errors(globus.conn_id if globus is not None else "", None):
        return AsyncTransferClient.connect(sites=built, poll_interval=poll_interval, **options)


def _key(globus: GlobusSettings | None, sites: Sequence[ClientSettings]) -> str:
    parts = [globus.fingerprint if globus is not None else "-"]
    parts += sorted(f"{s.fingerprint}:{sorted(s.collections.items())}" for s in sites)
    return "|".join(parts)


async def shared_transfer_client(
    globus_conn_id: str | None, facility_conn_ids: Sequence[str] = ()
) -> AsyncTransferClient:
    """The async transfer client of these connections shared by everything on the running event
    loop (a changed connection, such as a rotated secret, gets a fresh one)."""
    globus = None
    if globus_conn_id:
        globus = globus_settings_from_connection(await BaseHook.aget_connection(globus_conn_id))
    sites = [
        settings_from_connection(await BaseHook.aget_connection(c)) for c in dict.fromkeys(facility_conn_ids)
    ]
    clients = _SHARED.setdefault(asyncio.get_running_loop(), {})
    key = _key(globus, sites)
    client = clients.get(key)
    if client is None:
        client = clients[key] = build_transfer_client(globus, sites)
    return client


class GlobusTransferHook(BaseHook):
    """Transfers between facilities: the Globus connection ``globus_conn_id`` (None for the
    facilities' own routes only) and the facility connections ``facility_conn_ids``, whose
    storages endpoints name as ``<conn id>:<storage>``."""

    conn_name_attr = "globus_conn_id"
    default_conn_name = "globus_default"
    conn_type = GLOBUS_CONN_TYPE
    hook_name = "Globus Transfer"

    def __init__(
        self,
        globus_conn_id: str | None = default_conn_name,
        facility_conn_ids: Sequence[str] = (),
        poll_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.globus_conn_id = globus_conn_id
        self.facility_conn_ids = list(dict.fromkeys(facility_conn_ids))
        self.poll_interval = poll_interval
        self._client: TransferClient | None = None

    @property
    def globus_settings(self) -> GlobusSettings | None:
        """The Globus connection's settings, or None without one."""
        if not self.globus_conn_id:
            return None
        return globus_settings_from_connection(self.get_connection(self.globus_conn_id))

    def site_settings(self) -> list[ClientSettings]:
        """The facility connections' settings."""
        return [settings_from_connection(self.get_connection(c)) for c in self.facility_conn_ids]

    def get_conn(self) -> TransferClient:
        """The blocking transfer client of these connections (created once per hook)."""
        if self._client is None:
            globus, sites, interval = self.globus_settings, self.site_settings(), self.poll_interval
            self._client = TransferClient(
                build_transfer_client(globus, sites, poll_interval=interval),
                lambda: build_transfer_client(globus, sites, poll_interval=interval),
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def test_connection(self) -> tuple[bool, str]:
        """Ask Transfer for a submission id: proves the URL and the token (nothing is started)."""
        try:
            client = self.get_conn()
            client.submission_id()
        except FacilityError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        settings = self.globus_settings
        return True, f"the Transfer API at {settings.base_url if settings else '?'} accepted the token"

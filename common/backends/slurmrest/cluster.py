"""The slurmrestd calls about the cluster rather than jobs: ping, partitions (the resources),
nodes and maintenance reservations (the outages).

:class:`ClusterCalls` is a base of :class:`~.backend.SlurmRestBackend`, which gives it the
session, the version and the path prefix; S3M overrides ``resources``, ``resource`` and
``outages`` with its status service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...errors import APIError, NotFoundError
from ...http import ApiSession
from ...models import Outage, ResourceStatus
from ..base import FacilityBackend
from .requests import build_nodes, build_partitions, build_ping, build_reservations
from .status import filter_outages, parse_nodes, parse_partitions, parse_pings, parse_reservations

__all__ = ["ClusterCalls"]


class ClusterCalls(FacilityBackend):
    """Ping, partitions, nodes and reservations of one slurmrestd."""

    _session: ApiSession
    all_reservations: bool

    async def _version(self) -> str:
        """The data-parser version in use (the backend's)."""
        raise NotImplementedError

    def _prefix(self, version: str, resource: str | None) -> str:
        """The path prefix of the version's calls (the backend's)."""
        raise NotImplementedError

    def _bad_answer(self, what: str, exc: Exception, resource: str | None) -> APIError:
        return APIError(f"{what}: unexpected answer: {exc}", facility=self.name, resource=resource)

    async def ping(self, resource: str | None = None) -> list[dict[str, Any]]:
        """slurmctld's answer to ping (``hostname``, ``ping``/``responding``, ``mode``...).

        :calls: GET slurm/{version}/ping
        """
        version = await self._version()
        data = await self._session.call(build_ping(self._prefix(version, resource)), resource=resource)
        try:
            return parse_pings(data)
        except ValueError as exc:
            raise self._bad_answer("GET ping", exc, None) from None

    async def partitions(self, resource: str | None = None) -> list[ResourceStatus]:
        """The cluster's partitions.

        :calls: GET slurm/{version}/partitions
        """
        version = await self._version()
        data = await self._session.call(build_partitions(self._prefix(version, resource)), resource=resource)
        try:
            return parse_partitions(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET partitions", exc, None) from None

    async def resources(self) -> list[ResourceStatus]:
        """The cluster's partitions.

        :calls: GET slurm/{version}/partitions
        """
        return await self.partitions()

    async def resource(self, name_or_id: str) -> ResourceStatus:
        """One partition by name.

        :calls: GET slurm/{version}/partitions
        """
        for status in await self.resources():
            if name_or_id in (status.name, status.id):
                return status
        raise NotFoundError(f"no partition {name_or_id!r}", facility=self.name, resource=name_or_id)

    async def nodes(self, resource: str | None = None) -> list[dict[str, Any]]:
        """The cluster's nodes as plain dicts (``name``, ``state``, ``usable``, ``partitions``...).

        :calls: GET slurm/{version}/nodes
        """
        version = await self._version()
        data = await self._session.call(build_nodes(self._prefix(version, resource)), resource=resource)
        try:
            return parse_nodes(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET nodes", exc, None) from None

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Maintenance reservations overlapping ``start..end``, of ``resource`` or the cluster.

        :calls: GET slurm/{version}/reservations
        """
        version = await self._version()
        data = await self._session.call(
            build_reservations(self._prefix(version, resource)), resource=resource
        )
        try:
            outages = parse_reservations(data, all_reservations=self.all_reservations)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET reservations", exc, resource) from None
        return filter_outages(outages, resource, start, end)

    # -- submit ---------------------------------------------------------------------------------

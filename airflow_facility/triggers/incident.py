"""``FacilityIncidentTrigger``: wait in the triggerer until an outage (an IRI incident, a planned
outage, a maintenance reservation) has ended.

"Ended" is :meth:`~facility_common.Outage.has_ended`: the facility calls it completed, cancelled
or resolved, or its announced end has passed. The outage is read with
:meth:`~facility_common.AsyncFacilityClient.outage` (IRI's incident call; elsewhere a look among
the listed outages). One that the facility stops listing after it was seen has ended too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow.triggers.base import TriggerEvent

from facility_common import FacilityError, NotFoundError

from ..hooks.facility import shared_async_client
from ..payloads import event
from .serialized import SerializedTrigger

__all__ = ["FacilityIncidentTrigger", "ended_payload"]


def ended_payload(incident_id: str, outage: Any) -> dict[str, Any]:
    """The event of an outage that has ended (``outage`` None: it is no longer listed)."""
    payload: dict[str, Any] = {"status": "ended", "incident_id": incident_id}
    if outage is not None:
        data = outage.to_dict()
        data.pop("raw", None)
        payload["outage"] = data
    return payload


class FacilityIncidentTrigger(SerializedTrigger):
    """Yield ``{"status": "ended", "incident_id", "outage"?}`` once the outage has ended.

    A failed status call is logged and tried again at the next interval. An outage the facility
    does not show ends the wait as ended when it was ``seen`` before (by the sensor), and with
    ``{"status": "error"}`` otherwise; so does a configuration error.
    """

    serialized_fields: ClassVar[tuple[str, ...]] = (
        "facility_conn_id",
        "incident_id",
        "resource",
        "poll_interval",
        "seen",
    )

    def __init__(
        self,
        facility_conn_id: str,
        incident_id: str,
        resource: str | None = None,
        poll_interval: float = 60.0,
        seen: bool = True,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if not isinstance(facility_conn_id, str) or not facility_conn_id:
            raise ValueError("facility_conn_id: a connection id is required")
        if not isinstance(incident_id, str) or not incident_id:
            raise ValueError("incident_id: an incident (outage) id is required")
        if resource is not None and (not isinstance(resource, str) or not resource):
            raise ValueError("resource: a resource name, or None")
        if float(poll_interval) <= 0:
            raise ValueError("poll_interval must be > 0")
        self.facility_conn_id = facility_conn_id
        self.incident_id = incident_id
        self.resource = resource
        self.poll_interval = float(poll_interval)
        self.seen = bool(seen)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read the outage every ``poll_interval`` seconds until it has ended."""
        try:
            client, _ = await shared_async_client(self.facility_conn_id)
        except FacilityError as exc:
            yield event({"status": "error", "message": str(exc)})
            return
        while True:
            try:
                outage = await client.outage(self.incident_id, self.resource)
            except NotFoundError as exc:
                if self.seen:
                    yield event(ended_payload(self.incident_id, None))
                else:
                    yield event({"status": "error", "message": str(exc)})
                return
            except FacilityError as exc:
                self.log.warning("outage %s could not be read (%s); retrying", self.incident_id, exc)
            else:
                self.seen = True
                if outage.has_ended():
                    yield event(ended_payload(self.incident_id, outage))
                    return
                self.log.info("outage %s (%s) is not over yet; waiting", self.incident_id, outage.name)
            await asyncio.sleep(self.poll_interval)

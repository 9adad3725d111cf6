"""``FacilityResourceTrigger``: wait in the triggerer until a resource is usable for a while.

"Usable" is :meth:`~facility_common.AsyncFacilityClient.is_available`: the resource is up or
degraded and no planned or current outage overlaps now..now+duration; with ``min_remaining``,
the project's allocation must also have that much left (:mod:`airflow_facility.allocation_gate`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, ClassVar

from airflow.triggers.base import TriggerEvent

from facility_common import FacilityError

from ..allocation_gate import FATAL_ALLOCATION_ERRORS, AllocationGate
from ..hooks.facility import shared_async_client
from ..payloads import event
from .serialized import SerializedTrigger

__all__ = ["FacilityResourceTrigger"]


class FacilityResourceTrigger(SerializedTrigger):
    """Yield ``{"status": "available"}`` once ``resource`` is usable for ``duration`` seconds (and
    the allocation has ``min_remaining`` left, when given; the event then says how much).

    A failed status call is logged and retried at the next interval: a blip of the status API
    must not fail a gate. A configuration error (bad connection) ends with ``{"status": "error"}``.
    """

    serialized_fields: ClassVar[tuple[str, ...]] = (
        "facility_conn_id",
        "resource",
        "duration",
        "poll_interval",
    )

    def __init__(
        self,
        facility_conn_id: str,
        resource: str,
        duration: float = 3600.0,
        poll_interval: float = 60.0,
        min_remaining: float | str | None = None,
        project: str | None = None,
        capability: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if not isinstance(facility_conn_id, str) or not facility_conn_id:
            raise ValueError("facility_conn_id: a connection id is required")
        if not isinstance(resource, str) or not resource:
            raise ValueError("resource: a resource name is required")
        if float(duration) < 0 or float(poll_interval) <= 0:
            raise ValueError("duration must be >= 0 and poll_interval > 0")
        self.facility_conn_id = facility_conn_id
        self.resource = resource
        self.duration = float(duration)
        self.poll_interval = float(poll_interval)
        self.gate = AllocationGate.from_arguments(min_remaining, project, capability)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and the keyword arguments that rebuild this trigger, with the allocation
        gate's arguments when one is set."""
        path, arguments = super().serialize()
        return path, {**arguments, **(self.gate.arguments() if self.gate is not None else {})}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check availability every ``poll_interval`` seconds until it holds."""
        try:
            client, _ = await shared_async_client(self.facility_conn_id)
        except FacilityError as exc:
            yield event({"status": "error", "message": str(exc)})
            return
        window = timedelta(seconds=self.duration)
        while True:
            try:
                available = await client.is_available(self.resource, window)
                if not available:
                    self.log.info(
                        "%s is down or has an outage within the next %s; waiting", self.resource, window
                    )
            except FacilityError as exc:
                self.log.warning("status of %s could not be read (%s); retrying", self.resource, exc)
                available = False
            if available:
                try:
                    verdict = await self.gate.acheck(client) if self.gate is not None else None
                except FATAL_ALLOCATION_ERRORS as exc:
                    yield event({"status": "error", "message": f"the allocation cannot be checked: {exc}"})
                    return
                except FacilityError as exc:
                    self.log.warning("allocations could not be read (%s); retrying", exc)
                else:
                    if verdict is None or verdict.ok:
                        found = {"status": "available", "resource": self.resource}
                        yield event({**found, "allocation": verdict.message} if verdict else found)
                        return
                    self.log.info("%s; waiting", verdict.message)
            await asyncio.sleep(self.poll_interval)

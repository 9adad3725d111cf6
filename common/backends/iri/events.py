"""The IRI status events as a feed: filters, paging, and "since" as a time or as an event id.

An event is one resource's status changing at an instant (``occurred_at``), usually as part of an
incident. :meth:`EventsMixin.events` reads ``GET /status/events`` page by page (the reference
server's ``404 No events found`` for an empty page or one past the end is an empty page, see
:meth:`~.core.IRIBase._pages`) and returns the events in the feed's order: oldest first, events
of the same instant by id, so that "everything after the event I saw last" is well defined.

``since`` is a time (events at or after it) or the id of an event (events after it in the feed's
order): the event is read once (``GET /status/events/{id}``) for its time, the list is asked
``from`` that time, and what does not come after it is dropped. A consumer that stores the id of
the last event it handled reads each event once, however often it asks. (An event recorded later
for the very same instant with a smaller id would be missed: IRI gives events no sequence number.)
The time and status filters are applied to the answer too, for servers that ignore them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ...errors import InvalidJobSpec
from ...models import ResourceState
from .core import IRIBase
from .parsers import _parse_events, _parse_object, _to_datetime
from .requests import FACILITY, _build_event, _build_events

__all__ = ["EventsMixin", "after_cursor", "feed_order"]

_STATUSES = frozenset(state.value for state in ResourceState)


def feed_order(event: dict[str, Any]) -> tuple[datetime, str]:
    """An event's place in the feed: its time (the earliest possible when unreadable), then id."""
    occurred = _to_datetime(event.get("occurred_at")) or datetime.min.replace(tzinfo=UTC)
    return occurred, str(event.get("id"))


def after_cursor(events: list[dict[str, Any]], cursor: dict[str, Any]) -> list[dict[str, Any]]:
    """The events that come after ``cursor`` (an event) in the feed's order."""
    mark = feed_order(cursor)
    return [event for event in events if feed_order(event) > mark]


class EventsMixin(IRIBase):
    """The status events feed of the IRI backend."""

    async def events(
        self,
        resource: str | None = None,
        *,
        since: datetime | str | None = None,
        until: datetime | None = None,
        incident_id: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Status events in the feed's order (oldest first, then by id), as plain dicts (``id``,
        ``name``, ``occurred_at``, ``status``, ``resource_uri``, ``incident_uri``...).

        Filters: ``resource`` (name or id), ``incident_id``, ``status`` (the resource's status
        the event reports: ``up``, ``degraded``, ``down``, ``unknown``), ``since`` (a time: events
        at or after it; or an event id: the events after that one, see the module docstring) and
        ``until`` (events at or before it). An unknown ``since`` id is a NotFoundError.

        :calls: GET /status/events?resource_id=&incident_id=&status=&from=&to= (paged with
            offset/limit); GET /status/events/{since} when ``since`` is an event id
        """
        if status is not None and status not in _STATUSES:
            raise InvalidJobSpec(
                f"status: must be one of {', '.join(sorted(_STATUSES))}, got {status!r}",
                field="status",
                facility=FACILITY,
            )
        if since is not None and not isinstance(since, datetime | str):
            raise InvalidJobSpec(
                "since: a datetime or an event id is required", field="since", facility=FACILITY
            )
        resource_id: str | None = None
        name: str | None = None
        if resource is not None:
            resource_id, name = await self._resolve(resource)
        cursor: dict[str, Any] | None = None
        start: datetime | None
        if isinstance(since, str):
            cursor = await self._event_cursor(since)
            start = feed_order(cursor)[0]
        else:
            start = since
        items = await self._pages(
            lambda offset: _build_events(
                resource_id=resource_id,
                incident_id=incident_id,
                status=status,
                start=start,
                end=until,
                offset=offset,
            ),
            resource=name,
        )
        try:
            found = _parse_events(items, start=start, end=until)
        except ValueError as exc:
            raise self._bad_answer("GET /status/events", exc, name) from None
        if status is not None:
            found = [event for event in found if event.get("status") == status]
        found.sort(key=feed_order)
        return after_cursor(found, cursor) if cursor is not None else found

    async def _event_cursor(self, event_id: str) -> dict[str, Any]:
        """The event ``since`` names, with a readable time (else the feed has no place for it)."""
        data = await self._session.call(_build_event(event_id))
        try:
            event = _parse_object(data, "event")
        except ValueError as exc:
            raise self._bad_answer(f"GET /status/events/{event_id}", exc, None) from None
        if _to_datetime(event.get("occurred_at")) is None:
            raise self._bad_answer(
                f"GET /status/events/{event_id}", ValueError("the event has no occurred_at"), None
            )
        return event

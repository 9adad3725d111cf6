"""``facility status``, ``facility outages`` and ``facility events``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .options import ConnOption, JsonOption, ResourceOption, wants_json
from .output import fmt_time, note, print_json, state_styled, table

__all__ = ["events", "outages", "status"]

RESOURCE_DOWN = 6

ResourceArg = Annotated[
    str | None,
    typer.Argument(
        help="one resource (exit code 6 when it is down); same as --resource",
        show_default=False,
        metavar="RESOURCE",
    ),
]


def status(
    resource: ResourceArg = None,
    resource_option: ResourceOption = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the facility's resources and their status, or one resource's."""
    from .session import open_session

    name = resource or resource_option
    with open_session(conn) as session:
        found = [session.client.resource(name)] if name else session.client.resources()
    if wants_json(as_json):
        listed = [r.to_dict() | {"raw": None} for r in found]
        print_json(listed[0] if name else listed)
    else:
        table(
            ["resource", "type", "status", "updated"],
            [(r.name, r.resource_type, state_styled(r.state.value), fmt_time(r.updated_at)) for r in found],
        )
    if name and found[0].state.value == "down":
        raise typer.Exit(RESOURCE_DOWN)


def outages(
    resource: ResourceOption = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """List planned and current outages, with their local start and end times."""
    from .session import open_session

    with open_session(conn) as session:
        found = session.client.outages(resource)
    if wants_json(as_json):
        print_json([o.to_dict() | {"raw": None} for o in found])
        return
    if not found:
        note("no outages announced")
        return
    table(
        ["outage", "planned", "status", "start", "end", "resources", "description"],
        [
            (
                o.name,
                "yes" if o.planned else "no",
                o.status,
                fmt_time(o.start),
                fmt_time(o.end),
                ", ".join(o.resources),
                o.description if o.description != o.name else "",
            )
            for o in found
        ],
    )


def _since(value: str | None) -> Any:
    """``--since`` as a time (ISO 8601, a bare one taken as UTC) or, failing that, an event id."""
    if value is None:
        return None
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def events(
    resource: ResourceOption = None,
    since: Annotated[
        str | None,
        typer.Option(help="only events after this event id, or at or after this time (ISO 8601)"),
    ] = None,
    event_status: Annotated[
        str | None,
        typer.Option("--status", help="only events reporting this status (up, degraded, down, unknown)"),
    ] = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """List status events (a resource's status changing), oldest first: the IRI API's events
    feed. Keep the last id and pass it as --since to see only what is new."""
    from .session import open_session

    with open_session(conn) as session:
        found = session.client.call_backend("events", resource, since=_since(since), status=event_status)
    if wants_json(as_json):
        print_json(found)
        return
    if not found:
        note("no status events" + (f" after {since}" if since else ""))
        return
    table(
        ["occurred", "status", "event", "id"],
        [
            (
                fmt_time(_when(e.get("occurred_at"))),
                state_styled(str(e.get("status"))),
                e.get("name"),
                e["id"],
            )
            for e in found
        ],
    )


def _when(value: Any) -> Any:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None

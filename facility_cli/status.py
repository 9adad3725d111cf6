"""``facility status``, ``facility outages`` and ``facility check``."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated

import anyio
import typer

from facility_common import FacilityError, NotFoundError, ResourceState, get_descriptor
from facility_common.auth import FacilityAuth, resolve_auth
from facility_common.connection_settings import auth_type_info
from facility_common.http import RetryPolicy

from .common import ConnOption, JsonOption, open_client
from .connection import Connection, load_connection
from .output import console, fail, fmt_time, print_json, reported, table
from .problems import EXIT, diagnose, token_expired

__all__ = ["check", "outages", "status"]

CHECK_RETRY = RetryPolicy(attempts=2, backoff=0.5)
"""A check answers quickly: one retry for a blip, not the patient policy of long-running work."""
STATE_STYLE = {"up": "green", "degraded": "yellow", "down": "red", "unknown": "dim"}


def status(
    resource: Annotated[str | None, typer.Argument(help="one resource (exit code 6 when it is down)")] = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the facility's resources and their status."""
    with open_client(conn) as (_, client):
        resources = [client.resource(resource)] if resource else client.resources()
    if as_json:
        print_json([r.to_dict() | {"raw": None} for r in resources])
    else:
        table(
            None,
            ["resource", "type", "status", "updated"],
            [
                (
                    r.name,
                    r.resource_type,
                    f"[{STATE_STYLE[r.state.value]}]{r.state.value}[/]",
                    fmt_time(r.updated_at),
                )
                for r in resources
            ],
        )
    if resource and resources[0].state is ResourceState.DOWN:
        raise typer.Exit(EXIT.RESOURCE_DOWN)


def outages(
    resource: Annotated[str | None, typer.Option("--resource", "-r", help="only this resource")] = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """List planned and current outages."""
    with open_client(conn) as (_, client):
        found = client.outages(resource)
    if as_json:
        print_json([o.to_dict() | {"raw": None} for o in found])
        return
    if not found:
        console.print("no outages announced")
        return
    table(
        None,
        ["outage", "planned", "status", "start", "end", "resources"],
        [
            (
                o.name,
                "yes" if o.planned else "no",
                o.status,
                fmt_time(o.start),
                fmt_time(o.end),
                ", ".join(o.resources),
            )
            for o in found
        ],
    )


def _ok(text: str) -> None:
    console.print(f"[green]ok[/]    {text}")


def _fetch_token(connection: Connection) -> str | None:
    """Get a token from the connection's token source (client credentials, token file...), or
    None when the auth is not a token source (no auth, a handshake with the API itself)."""
    settings = connection.settings
    auth = settings.auth
    if isinstance(auth, Mapping) and auth_type_info(auth.get("type"), settings.backend).needs_base_url:
        return None
    options = (
        get_descriptor(settings.backend).options_class().from_mapping(settings.backend, settings.options)
    )
    resolved = resolve_auth(
        auth,
        facility=settings.backend,
        verify=options.tls(settings.backend),
        allow_insecure_http=options.allow_insecure_http,
    )
    if not isinstance(resolved, FacilityAuth):
        return None
    source = resolved.source

    async def fetch() -> str:
        return await source.token()

    return anyio.run(fetch)


def check(
    resource: Annotated[
        str | None, typer.Argument(help="also check that this resource is up (exit code 6 when down)")
    ] = None,
    conn: ConnOption = None,
) -> None:
    """Test a connection step by step and say exactly what is wrong.

    Exit codes: 0 fine, 2 configuration, 3 host unreachable, 4 bad credentials, 5 expired token
    or client, 6 resource down.
    """
    with reported():
        connection = load_connection(conn)
    console.print(f"connection {connection.describe()}", markup=False)
    static = connection.static_token
    if token_expired(static):
        raise fail(
            EXIT.EXPIRED,
            "expired token: the token's expiry time has passed",
            hint="get a new token from the facility",
        )
    client = None
    try:
        client = connection.client(retry=CHECK_RETRY)
        resources = client.resources()
        _ok(f"reached {connection.settings.base_url}: {len(resources)} resources")
        token = _fetch_token(connection)
        if token is not None:
            if token_expired(token):
                raise fail(EXIT.EXPIRED, "expired token: the token source gave an expired token")
            _ok(f"obtained a token ({connection.settings.auth_type})")
        compute = [r.name for r in resources if r.resource_type in (None, "compute")]
        if compute:
            with contextlib.suppress(NotFoundError):
                client.list_jobs(compute[0], ["facility-check"])
            _ok(f"credentials accepted (job query on {compute[0]})")
        if resource or connection.settings.resource:
            name = resource or connection.settings.resource
            assert name is not None
            state = client.resource(name)
            if not state.state.is_usable:
                raise fail(
                    EXIT.RESOURCE_DOWN,
                    f"resource down: {state.name} is {state.state.value}",
                    hint="see `facility outages` for announced outages",
                )
            now = datetime.now(UTC)
            current = [
                o for o in client.outages(name, now, now + timedelta(minutes=1)) if o.overlaps(now, now)
            ]
            if current:
                raise fail(
                    EXIT.RESOURCE_DOWN,
                    f"resource down: {state.name} is in outage {current[0].name!r}",
                    hint="see `facility outages`",
                )
            _ok(f"{state.name} is {state.state.value}")
    except FacilityError as exc:
        problem = diagnose(exc, base_url=connection.settings.base_url, token=static)
        raise fail(problem.code, problem.title, problem.detail, problem.hint) from None
    finally:
        if client is not None:
            with contextlib.suppress(FacilityError):
                client.close()
    console.print("connection works")

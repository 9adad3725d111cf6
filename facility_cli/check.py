"""``facility check``: test a connection step by step and say exactly what is wrong."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

from .options import ConnOption, JsonOption, ResourceOption, chosen_conn, wants_json
from .output import fail, out, plural, print_json, styled

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["check", "fetch_token"]


class _Steps:
    """The steps that passed: printed as they pass, or kept for the JSON summary."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.passed: list[str] = []

    def say(self, text: str) -> None:
        if not self.as_json:
            out(text)

    def ok(self, text: str) -> None:
        self.passed.append(text)
        self.say(f"{styled('ok', 'green')}    {text}")


def fetch_token(connection: Connection) -> str | None:
    """Get a token from the connection's token source (client credentials, token file...), or
    None when the auth is not a token source (no auth, a handshake with the API itself)."""
    import anyio

    from facility_common import get_descriptor
    from facility_common.auth import FacilityAuth, resolve_auth
    from facility_common.connection_settings import auth_type_info

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
        try:
            return await source.token()
        finally:
            with contextlib.suppress(Exception):
                await source.aclose()

    return anyio.run(fetch)


def check(
    resource: Annotated[
        str | None,
        typer.Argument(
            help="also check that this resource is up (exit code 6 when down)",
            show_default=False,
            metavar="RESOURCE",
        ),
    ] = None,
    resource_option: ResourceOption = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Test a connection step by step and say exactly what is wrong.

    Exit codes: 0 fine, 2 configuration (or a URL that does not serve the API), 3 host
    unreachable or TLS failed, 4 bad credentials, 5 expired token or client, 6 resource down.
    """
    from facility_common import NotFoundError, RetryPolicy

    from .connection import load_connection
    from .probes import current_outages, outage_problem
    from .problems import EXIT, token_expired
    from .session import open_session, reported

    steps = _Steps(wants_json(as_json))
    with reported():
        connection = load_connection(chosen_conn(conn))
    steps.say(f"connection {connection.describe()}")
    if token_expired(connection.static_token):
        raise fail(
            EXIT.EXPIRED,
            "expired token: the token's expiry time has passed",
            hint="get a new token from the facility",
        )
    # A check answers quickly: one retry for a blip, not the patience of long-running work.
    quick = RetryPolicy(attempts=2, backoff=0.5)
    with open_session(None, connection=connection, retry=quick) as session:
        client = session.client
        resources = client.resources()
        steps.ok(f"reached {connection.settings.base_url}: {plural(len(resources), 'resource')}")
        token = fetch_token(connection)
        if token is not None:
            if token_expired(token):
                raise fail(EXIT.EXPIRED, "expired token: the token source gave an expired token")
            steps.ok(f"obtained a token ({connection.settings.auth_type})")
        name = resource or resource_option or connection.settings.resource
        compute = [r.name for r in resources if r.resource_type in (None, "compute")]
        probe = name if name in compute else (compute[0] if compute else None)
        if probe is not None:
            session.resource_name = probe
            with contextlib.suppress(NotFoundError):
                client.list_jobs(probe, ["facility-check"])
            steps.ok(f"credentials accepted (job query on {probe})")
        if name:
            session.resource_name = name
            state = client.resource(name)
            current = current_outages(client, name)
            if current or not state.state.is_usable:
                problem = outage_problem(state, current)
                raise fail(problem.code, problem.title, problem.detail, problem.hint)
            steps.ok(f"{state.name} is {state.state.value}")
    if steps.as_json:
        print_json({"connection": connection.describe(), "passed": steps.passed, "works": True})
    else:
        out("connection works")

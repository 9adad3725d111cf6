"""One more look after a failure, to say what is really wrong.

An error alone can mislead: a base URL missing its ``/api/v1`` makes every call answer 404,
which reads as "job not found"; ``https://`` to a plain-HTTP server fails as if the host were
down; a submit during an outage fails as "server error 503". Each probe here makes at most one
request (or one TLS handshake) and answers with a :class:`~facility_cli.problems.Problem`
that names the real cause, or None when the first diagnosis stands.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
from datetime import UTC, datetime
from urllib.parse import urlsplit

from facility_common import (
    APIError,
    FacilityClient,
    FacilityError,
    NotFoundError,
    Outage,
    ResourceStatus,
    get_descriptor,
)

from .output import fmt_time
from .problems import EXIT, Problem

__all__ = [
    "current_outages",
    "does_not_serve",
    "not_the_api",
    "outage_problem",
    "probe_api",
    "probe_outage",
    "probe_tls",
]

TLS_PROBE_TIMEOUT = 5.0
#: What a server without the API answers to its resource listing: no such path, a method it does
#: not take, a page that is not the API's JSON.
_NOT_THE_API_STATUSES = frozenset({404, 405})


def does_not_serve(base_url: str, api: str, error: FacilityError) -> Problem:
    """The problem of a base URL that answers, but not as ``api``."""
    descriptor = get_descriptor(api)
    return Problem(
        EXIT.CONFIG,
        f"{base_url} does not serve the {descriptor.label} ({api})",
        f"its resource listing answered: {error}",
        f"check the base URL and the API; it looks like {descriptor.url_placeholder}"
        + (f" (see {descriptor.docs})" if descriptor.docs else ""),
    )


def not_the_api(error: FacilityError) -> bool:
    """Whether ``error`` is how a server without the API answers (404, 405, a page not JSON)."""
    if isinstance(error, NotFoundError):
        return True
    if type(error) is APIError:
        return error.status_code in _NOT_THE_API_STATUSES or "not JSON" in error.message
    return False


def probe_api(client: FacilityClient, base_url: str, api: str) -> Problem | None:
    """After a "not found": does the base URL serve the API at all? One resource listing."""
    try:
        client.resources()
    except FacilityError as exc:
        return does_not_serve(base_url, api, exc) if not_the_api(exc) else None
    return None


def _proxied(host: str) -> bool:
    """Whether the environment sends traffic to ``host`` through a proxy (then a direct probe
    says nothing about the path the client takes)."""
    if host in ("localhost", "127.0.0.1", "::1"):
        return False
    names = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
    return any(os.environ.get(name) for name in names)


def probe_tls(base_url: str) -> Problem | None:
    """After "no answer" from an ``https://`` URL: is the host there, failing the TLS handshake?"""
    parts = urlsplit(base_url)
    host = parts.hostname
    if parts.scheme != "https" or not host or _proxied(host):
        return None
    port = parts.port or 443
    try:
        raw = socket.create_connection((host, port), timeout=TLS_PROBE_TIMEOUT)
    except OSError:
        return None  # not even TCP: "unreachable" stands
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only the handshake is probed; nothing is sent
    with contextlib.closing(raw):
        try:
            with context.wrap_socket(raw, server_hostname=host):
                return None  # TLS works: the failure was elsewhere
        except ssl.SSLError as exc:
            reason = exc.reason or type(exc).__name__
        except OSError as exc:
            reason = type(exc).__name__
    plain = "WRONG_VERSION_NUMBER" in str(reason) or "record layer" in str(reason).lower()
    return Problem(
        EXIT.UNREACHABLE,
        f"TLS failed: {host}:{port} accepts connections but not a TLS handshake ({reason})",
        "",
        f"the server speaks plain HTTP: use http://{parts.netloc}{parts.path}"
        if plain
        else "check the URL's scheme and port, and any TLS-intercepting proxy",
    )


def outage_problem(status: ResourceStatus, outages: list[Outage]) -> Problem:
    """A resource that is down, or in an outage, with the outage's description and end."""
    current = outages[0] if outages else None
    if current is None:
        return Problem(
            EXIT.RESOURCE_DOWN,
            f"resource down: {status.name} is {status.state.value}",
            status.description or "",
            "see `facility outages` for announced outages",
        )
    ends = f"expected to end {fmt_time(current.end)}" if current.end else "no end announced"
    about = current.description or ""
    return Problem(
        EXIT.RESOURCE_DOWN,
        f"resource down: {status.name} is in outage {current.name!r} ({ends})",
        about if about and about != current.name else "",
        "see `facility outages`; wait or use another resource",
    )


#: Outage statuses that mean it is over (the client's availability check reads them the same way).
OUTAGE_OVER = frozenset({"completed", "cancelled", "resolved"})


def current_outages(client: FacilityClient, resource: str) -> list[Outage]:
    """The outages of ``resource`` going on now."""
    now = datetime.now(UTC)
    return [
        outage
        for outage in client.outages(resource, now, now)
        if outage.overlaps(now, now) and (outage.status or "").lower() not in OUTAGE_OVER
    ]


def probe_outage(client: FacilityClient, resource: str) -> Problem | None:
    """After a server error: is ``resource`` down or in an outage now?"""
    try:
        status = client.resource(resource)
        current = current_outages(client, resource)
    except FacilityError:
        return None
    if current or not status.state.is_usable:
        return outage_problem(status, current)
    return None

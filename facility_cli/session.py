"""The client a command works with, and how its failures become one clear message.

:func:`open_session` loads the connection (``--conn``, the environment or the config file),
builds a client whose retries are announced on stderr, and turns a
:class:`~facility_common.FacilityError` raised inside the block into a message and an exit code,
after one probe where the error alone would mislead (:mod:`facility_cli.probes`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from facility_common import FacilityClient, FacilityError, ServerError, TransportError

from .connection import Connection, load_connection
from .options import chosen_conn
from .output import fail, note
from .probes import not_the_api, probe_api, probe_outage, probe_tls
from .problems import Problem, diagnose
from .retries import announced

__all__ = ["Session", "open_session", "problem_for", "reported"]

#: HTTP statuses after which a command looks whether its resource is down.
_OUTAGE_STATUSES = frozenset({502, 503, 504})


@dataclasses.dataclass
class Session:
    """A loaded connection and its client, for the length of one command."""

    connection: Connection
    client: FacilityClient
    resource_name: str | None = None
    """The resource the command works on, once chosen (for the outage probe)."""

    @property
    def api(self) -> str:
        return self.connection.settings.backend

    def resource(self, given: str | None) -> str:
        """``--resource``, or the connection's default resource."""
        chosen = given or self.connection.settings.resource
        if not chosen:
            raise fail(
                2,
                "no resource: give --resource NAME (-r), or set one in the connection",
                hint='FACILITY_RESOURCE=NAME, or resource = "NAME" in the config file; '
                "`facility status` lists them",
            )
        self.resource_name = chosen
        return chosen


def problem_for(error: FacilityError, session: Session | None, connection: Connection | None) -> Problem:
    """What ``error`` means, probing once where the error alone would mislead."""
    connection = session.connection if session is not None else connection
    base_url = connection.settings.base_url if connection is not None else None
    if session is not None and base_url is not None:
        probed: Problem | None = None
        if isinstance(error, TransportError):
            probed = probe_tls(base_url)
        elif not_the_api(error):
            probed = probe_api(session.client, base_url, session.api)
        elif session.resource_name and (
            isinstance(error, ServerError) or error.status_code in _OUTAGE_STATUSES
        ):
            probed = probe_outage(session.client, session.resource_name)
        if probed is not None:
            return probed
    token = connection.static_token if connection is not None else None
    return diagnose(error, base_url=base_url, token=token)


@contextmanager
def reported(connection: Connection | None = None) -> Iterator[None]:
    """Turn a FacilityError raised inside the block into a message and an exit code."""
    try:
        yield
    except FacilityError as exc:
        problem = problem_for(exc, None, connection)
        raise fail(problem.code, problem.title, problem.detail, problem.hint) from None


@contextmanager
def open_session(
    conn: str | None, *, connection: Connection | None = None, **defaults: Any
) -> Iterator[Session]:
    """Load the connection (``conn`` or the global ``--conn``, unless ``connection`` is given
    loaded) and yield a session on it.

    ``defaults`` are backend options used where the connection sets none; the retry policy,
    the connection's or ``defaults``', announces its pauses on stderr.
    """
    if connection is None:
        with reported():
            connection = load_connection(chosen_conn(conn))
    retry = connection.settings.options.get("retry", defaults.pop("retry", None))
    with reported(connection):
        client = connection.client({"retry": announced(retry, note)}, **defaults)
    session = Session(connection, client)
    try:
        yield session
    except FacilityError as exc:
        problem = problem_for(exc, session, connection)
        raise fail(problem.code, problem.title, problem.detail, problem.hint) from None
    except KeyboardInterrupt:
        raise fail(130, "interrupted") from None
    finally:
        with suppress(FacilityError):
            client.close()

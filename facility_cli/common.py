"""Options shared by every command, and the client they build."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from facility_common import FacilityClient

from .connection import Connection, load_connection
from .output import reported

__all__ = ["ConnOption", "JsonOption", "open_client", "pick_resource"]

ConnOption = Annotated[
    str | None,
    typer.Option(
        "--conn",
        "-c",
        help="connection: a name in the config file, an Airflow URI (facility-iri://...) or Airflow "
        "JSON; default: FACILITY_CONN, FACILITY_URL/FACILITY_API, or the config file's default",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


@contextmanager
def open_client(conn: str | None) -> Iterator[tuple[Connection, FacilityClient]]:
    """Load the connection and yield it with a client; errors become messages and exit codes."""
    with reported():
        connection = load_connection(conn)
    with reported(connection):
        client = connection.client()
        try:
            yield connection, client
        finally:
            client.close()


def pick_resource(connection: Connection, resource: str | None) -> str:
    """The resource argument, or the connection's default resource."""
    chosen = resource or connection.settings.resource
    if not chosen:
        raise typer.BadParameter("name a resource (or set one in the connection: resource = ...)")
    return chosen

"""``facility token revoke``: revoke the connection's token where the API has a call for it
(OLCF S3M: ``DELETE /olcf/v1/token/ctls/revoke``).

The facility refuses the token from then on, for every client that holds it; ``--yes`` skips the
question. ``facility whoami`` shows what the token is before you revoke it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .options import ConnOption, JsonOption, wants_json
from .output import out, print_json

__all__ = ["token_app"]

token_app = typer.Typer(help="The connection's token: revoke it (S3M).", no_args_is_help=True)


@token_app.command()
def revoke(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke the connection's token at the facility: it stops working everywhere, at once."""
    from .output import fail
    from .problems import EXIT
    from .session import open_session

    with open_session(conn) as session:
        described = session.connection.describe()
        if not yes and not typer.confirm(f"revoke the token of {described}?", err=True):
            raise fail(EXIT.ERROR, "not revoked")
        session.client.call_backend("revoke_token")
    if wants_json(as_json):
        print_json({"connection": described, "revoked": True})
    else:
        out(f"revoked the token of {described}: the facility refuses it from now on")

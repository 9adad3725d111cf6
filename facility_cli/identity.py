"""``facility whoami`` and ``facility login``.

``whoami`` says whom the connection's credentials stand for, where the API tells: its identity
call (IRI v2's ``account/whoami``, the SF API's ``account/``, FirecREST's ``userinfo``, S3M's
token introspection, slurmrestd's accounting user) with the projects, groups and expiry it
gives. Where the API has no such call (IRI v1, Flux), the claims of a JWT access token (read,
never verified) stand in; an opaque token and no call leave it unknown, and the command says so.

``login`` runs the Globus native-app flow ALCF uses (globus-sdk's ``NativeAppAuthClient``): it
prints the URL to open, reads the code Globus shows, and stores the tokens in a globus-sdk token
storage file (0600), where the ``globus_refresh_token`` auth type reads them (``storage_path``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import ConnOption, JsonOption, wants_json
from .output import fmt_duration, fmt_time, note, out, print_json

if TYPE_CHECKING:
    from .session import Session

__all__ = ["login", "whoami"]

#: The ALCF IRI API's Globus scope (FINDINGS 1.4): what ALCF's own login script asks for.
ALCF_IRI_SCOPE = "https://auth.globus.org/scopes/6be511f6-a071-471f-9bc0-02a0d0836723/filesystem"
_IDENTITY_CLAIMS = ("preferred_username", "username", "email", "sub")


def _from_api(session: Session) -> dict[str, Any] | None:
    """What the API's identity call says, or None where the API has none."""
    from facility_common import UnsupportedOperation

    try:
        identity = session.client.whoami()
    except UnsupportedOperation:
        return None
    found = identity.to_dict()
    found.pop("raw", None)
    expires = found.pop("expires_at")
    return {
        **found,
        "source": identity.source or "the API",
        "identity": found.pop("username"),
        "expires": expires,
    }


def _from_token(session: Session) -> dict[str, Any] | None:
    from .check import fetch_token
    from .problems import jwt_claims

    token = session.connection.static_token or fetch_token(session.connection)
    claims = jwt_claims(token) if token else None
    if not claims:
        return None
    identity = next((str(claims[key]) for key in _IDENTITY_CLAIMS if claims.get(key)), None)
    exp = claims.get("exp")
    expires = datetime.fromtimestamp(exp, UTC).isoformat() if isinstance(exp, int | float) else None
    return {"source": "the token's claims (not verified)", "identity": identity, "expires": expires}


def _show(found: dict[str, Any]) -> None:
    out(f"identity    {found['identity'] or 'not stated'} (from {found['source']})")
    details = (("user id", "user_id"), ("name", "name"), ("email", "email"))
    for label, key in details:
        if found.get(key):
            out(f"{label:<11} {found[key]}")
    if found.get("projects"):
        default = found.get("default_project")
        marked = [f"{p} (default)" if p == default else p for p in found["projects"]]
        out(f"projects    {', '.join(marked)}")
    elif found.get("default_project"):
        out(f"project     {found['default_project']}")
    if found.get("groups"):
        out(f"groups      {', '.join(found['groups'])}")
    if found.get("permissions"):
        out(f"permissions {', '.join(map(str, found['permissions']))}")
    if found["expires"]:
        when = datetime.fromisoformat(found["expires"])
        left = when.timestamp() - time.time()
        state = f"in {fmt_duration(left)}" if left > 0 else f"{fmt_duration(-left)} ago: expired"
        out(f"expires     {fmt_time(when)} ({state})")
    else:
        out("expires     not stated")


def whoami(conn: ConnOption = None, as_json: JsonOption = False) -> None:
    """Show whom the connection's credentials stand for, their projects and expiry, where the
    API (or a JWT token) tells."""
    from .session import open_session

    with open_session(conn) as session:
        label = session.client.backend.facility_label or session.api
        found = _from_api(session)
        if found is None:
            found = _from_token(session)
        elif not found["expires"]:
            claims = _from_token(session)
            found["expires"] = claims["expires"] if claims else None
    described = session.connection.describe()
    if found is None:
        unsupported = (
            f"the {label} has no call that says whom a token belongs to, and this token is opaque "
            "(not a JWT): the facility's web portal shows your identity and token lifetime"
        )
        if wants_json(as_json):
            print_json(
                {"connection": described, "identity": None, "expires": None, "unsupported": unsupported}
            )
        else:
            out(f"connection  {described}")
            out(f"identity    unknown: {unsupported}")
        return
    if wants_json(as_json):
        print_json({"connection": described, **found})
        return
    out(f"connection  {described}")
    _show(found)


def _default_storage(client_id: str) -> Path:
    """Where ALCF's login script keeps its tokens for its client; an app of its own otherwise."""
    from facility_common.auth import ALCF_FACILITY_API_CLIENT_ID, DEFAULT_STORAGE_PATHS

    if client_id == ALCF_FACILITY_API_CLIENT_ID:
        return Path(DEFAULT_STORAGE_PATHS[0]).expanduser()
    return Path(f"~/.globus/app/{client_id}/facility/tokens.json").expanduser()


def login(
    client_id: Annotated[
        str | None, typer.Option(help="Globus native-app client id (default: ALCF's Facility API client)")
    ] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="scope to ask for (repeat; default: ALCF's IRI API)")
    ] = None,
    storage: Annotated[
        Path | None, typer.Option(help="token storage file to write (default: where ALCF's script keeps it)")
    ] = None,
    auth_url: Annotated[
        str | None, typer.Option(help="Globus Auth base URL (default: https://auth.globus.org/)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Log in to Globus (ALCF's IRI API): open the printed URL, paste the code back."""
    import globus_sdk
    from globus_sdk.token_storage import JSONTokenStorage

    from facility_common.auth import ALCF_FACILITY_API_CLIENT_ID

    from .output import fail
    from .problems import EXIT

    chosen_client = client_id or ALCF_FACILITY_API_CLIENT_ID
    path = (storage or _default_storage(chosen_client)).expanduser()
    base_url = auth_url.rstrip("/") + "/" if auth_url else None
    auth = globus_sdk.NativeAppAuthClient(chosen_client, base_url=base_url)
    auth.oauth2_start_flow(requested_scopes=scope or [ALCF_IRI_SCOPE], refresh_tokens=True)
    note("Open this URL, log in, and paste the code Globus shows:")
    note(f"  {auth.oauth2_get_authorize_url()}")
    code = typer.prompt("code", err=True, hide_input=False).strip()
    try:
        tokens = auth.oauth2_exchange_code_for_tokens(code)
    except globus_sdk.GlobusAPIError as exc:
        raise fail(
            EXIT.BAD_CREDENTIALS,
            f"Globus refused the code: HTTP {exc.http_status} {exc.code}",
            hint="run `facility login` again and paste the newest code",
        ) from None
    except globus_sdk.NetworkError as exc:
        raise fail(EXIT.UNREACHABLE, f"no answer from Globus Auth: {type(exc).__name__}") from None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    storage_file = JSONTokenStorage(path)
    try:
        storage_file.store_token_response(tokens)
    finally:
        storage_file.close()
    path.chmod(0o600)
    servers = sorted(tokens.by_resource_server)
    auth_mapping = {"type": "globus_refresh_token", "storage_path": str(path), "client_id": chosen_client}
    if wants_json(as_json):
        print_json({"storage_path": str(path), "resource_servers": servers, "auth": auth_mapping})
        return
    out(f"logged in: tokens for {', '.join(servers)} stored in {path} (readable only by you)")
    out("use them in a connection with:")
    out(
        f'  auth = {{ type = "globus_refresh_token", storage_path = "{path}", client_id = "{chosen_client}" }}'
    )

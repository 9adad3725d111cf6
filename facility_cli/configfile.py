"""``facility config list``, ``show`` and ``add``: the named connections of the config file.

The file is TOML (:func:`~facility_cli.connection.config_path`); each ``[connections.NAME]``
table is read by :func:`~facility_cli.connection.connection_from_table`. ``add`` appends a table
(the rest of the file, comments included, stays as it is), checks it with the same parser
before writing, and keeps the file private (0600). Nothing here prints a secret: ``show`` names
the keys that hold one.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from .options import JsonOption, wants_json
from .output import fail, note, out, print_json, table

__all__ = ["config_app", "render_table"]

config_app = typer.Typer(help="Named connections in the config file: list, show, add.", no_args_is_help=True)

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_DEFAULT_LINE = re.compile(r"^default\s*=.*$", re.MULTILINE)
_TABLE_LINE = re.compile(r"^\s*\[", re.MULTILINE)


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def render_table(name: str, table_data: Mapping[str, Any]) -> str:
    """``[connections.NAME]`` and its keys, as TOML."""
    lines = [f"[connections.{_key(name)}]"]
    lines += [f"{_key(key)} = {_value(value)}" for key, value in table_data.items()]
    return "\n".join(lines) + "\n"


def _read() -> tuple[Path, dict[str, Any]]:
    from .connection import config_path, read_config
    from .session import reported

    path = config_path()
    with reported():
        return path, read_config(path)


@config_app.command("list")
def list_connections(as_json: JsonOption = False) -> None:
    """List the connections of the config file (the default one marked *)."""
    from facility_common import FacilityError

    from .connection import connection_from_table

    path, config = _read()
    tables = config.get("connections") or {}
    default = config.get("default") or (next(iter(tables)) if len(tables) == 1 else None)
    rows: list[dict[str, Any]] = []
    for name, data in tables.items():
        row: dict[str, Any] = {"name": name, "default": name == default}
        try:
            settings = connection_from_table(name, data, path).settings
        except FacilityError as exc:
            row.update(api=data.get("api"), url=data.get("url"), problem=str(exc))
        else:
            row.update(api=settings.backend, url=settings.base_url, auth=settings.auth_type)
            row["resource"] = settings.resource
        rows.append(row)
    if wants_json(as_json):
        print_json({"path": str(path), "connections": rows})
        return
    if not rows:
        note(f"no connections in {path} (add one: facility config add NAME --api API --url URL ...)")
        return
    note(f"connections in {path}:")
    table(
        ["name", "api", "url", "auth", "resource"],
        [
            (
                ("* " if row["default"] else "  ") + row["name"],
                row.get("api"),
                row.get("url"),
                row.get("auth") or f"invalid: {row.get('problem')}",
                row.get("resource"),
            )
            for row in rows
        ],
    )


@config_app.command("show")
def show(
    name: Annotated[
        str | None, typer.Argument(help="connection name (default: the one in use)", metavar="NAME")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show one connection's settings; secrets are named, never shown."""
    from .connection import load_connection, secret_keys_in
    from .session import reported

    with reported():
        connection = load_connection(name)
    settings = connection.settings
    hidden = secret_keys_in({"auth": settings.auth} if isinstance(settings.auth, Mapping) else {})
    if isinstance(settings.auth, str):
        hidden = ["token"]
    facts = {
        "name": settings.conn_id,
        "api": settings.backend,
        "url": settings.base_url,
        "auth": settings.auth_type,
        "secrets (hidden)": ", ".join(hidden),
        "resource": settings.resource,
        "options": dict(settings.options),
    }
    if wants_json(as_json):
        print_json(facts)
        return
    for key, value in facts.items():
        if value:
            out(f"{key.ljust(16)}  {json.dumps(value) if isinstance(value, dict) else value}")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def _with_default(text: str, name: str) -> str:
    line = f"default = {json.dumps(name)}"
    first_table = _TABLE_LINE.search(text)
    head = text[: first_table.start()] if first_table else text
    if _DEFAULT_LINE.search(head):
        return _DEFAULT_LINE.sub(line, head, count=1) + text[len(head) :]
    return f"{line}\n{text}"


@config_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="name of the new connection", metavar="NAME")],
    api: Annotated[str, typer.Option(help="the API: iri, sfapi, s3m, slurmrest, flux, firecrest")],
    url: Annotated[str, typer.Option(help="the API's base URL")],
    token_file: Annotated[Path | None, typer.Option(help="file holding the bearer token")] = None,
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="read the token from stdin (kept out of shell history)")
    ] = False,
    auth: Annotated[str | None, typer.Option(help='auth mapping as JSON ({"type": ...})')] = None,
    resource: Annotated[str | None, typer.Option("--resource", "-r", help="default resource")] = None,
    setting: Annotated[
        list[str] | None, typer.Option("--set", help="KEY=VALUE connection extra or option (repeat)")
    ] = None,
    make_default: Annotated[bool, typer.Option("--default", help="make it the default connection")] = False,
) -> None:
    """Add a connection to the config file (written readable only by you)."""
    from .connection import connection_from_table
    from .jobspec import parse_assignments
    from .session import reported

    path, config = _read()
    tables = config.get("connections") or {}
    if name in tables:
        raise fail(2, f"connection {name!r} is already in {path}", hint="remove its table there first")
    entry: dict[str, Any] = {"api": api, "url": url}
    if token_stdin:
        entry["token"] = sys.stdin.readline().strip()
        if not entry["token"]:
            raise typer.BadParameter("no token on stdin", param_hint="'--token-stdin'")
    if token_file is not None:
        entry["token_file"] = str(token_file.expanduser().resolve())
    if auth is not None:
        try:
            entry["auth"] = json.loads(auth)
        except ValueError:
            raise typer.BadParameter("not JSON", param_hint="'--auth'") from None
    if resource:
        entry["resource"] = resource
    entry.update(parse_assignments(setting, "--set"))
    with reported():
        # Build (and drop) a client: its options and auth are checked now, with no request.
        connection_from_table(name, entry, path).client().close()
    text = path.read_text() if path.is_file() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    text += ("\n" if text else "") + render_table(name, entry)
    if make_default or not tables:
        text = _with_default(text, name)
    _write_private(path, text)
    out(f"added connection {name!r} to {path}" + (" (the default)" if make_default or not tables else ""))

"""Remote file commands: ``ls``, ``stat``, ``mkdir``, ``rm``, ``mv``, ``cp``, ``chmod``, ``cat``,
``head`` and ``tail``. Each is one call of the client (``rm -R`` of a directory after a ``stat``);
what an API lacks is said by the client's ``not supported`` error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .options import ConnOption, JsonOption, ResourceOption, wants_json
from .output import fail, fmt_time, human_size, out, print_json, table

if TYPE_CHECKING:
    from facility_common import FileEntry

__all__ = ["cat", "chmod", "cp", "head", "ls", "mkdir", "mv", "rm", "stat", "tail"]

PathArg = Annotated[str, typer.Argument(help="remote path", metavar="PATH")]
LinesOption = Annotated[int | None, typer.Option("--lines", "-n", help="number of lines (default 10)", min=1)]
BytesOption = Annotated[
    int | None, typer.Option("--bytes", "-c", help="number of bytes instead of lines", min=1)
]


def _entry_row(entry: FileEntry, exact: bool) -> tuple[str, ...]:
    size = "" if entry.size is None else (str(entry.size) if exact else human_size(entry.size))
    name = f"{entry.name} -> {entry.link_target}" if entry.link_target else entry.name
    return (entry.permissions or "", entry.user or "", size, fmt_time(entry.modified_at), entry.type, name)


def ls(
    path: PathArg,
    resource: ResourceOption = None,
    show_hidden: Annotated[bool, typer.Option("--all", "-a", help="show hidden entries")] = False,
    exact: Annotated[bool, typer.Option("--bytes", help="sizes in bytes, not KiB/MiB")] = False,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a remote directory."""
    from .session import open_session

    with open_session(conn) as session:
        entries = session.client.ls(session.resource(resource), path, show_hidden=show_hidden)
    if wants_json(as_json):
        print_json([e.to_dict() for e in entries])
        return
    table(
        ["permissions", "user", "size", "modified", "type", "name"],
        [_entry_row(e, exact) for e in sorted(entries, key=lambda e: e.name)],
    )


def stat(
    path: PathArg, resource: ResourceOption = None, conn: ConnOption = None, as_json: JsonOption = False
) -> None:
    """Show facts about one remote path."""
    from .session import open_session

    with open_session(conn) as session:
        entry = session.client.stat(session.resource(resource), path)
    if wants_json(as_json):
        print_json(entry.to_dict())
        return
    size = f"{entry.size} bytes ({human_size(entry.size)})" if entry.size is not None else ""
    rows = [
        ("path", entry.path),
        ("type", entry.type),
        ("size", size),
        ("permissions", entry.permissions or ""),
        ("owner", ":".join(part for part in (entry.user, entry.group) if part)),
        ("modified", fmt_time(entry.modified_at)),
        ("link to", entry.link_target or ""),
    ]
    for name, value in rows:
        if value:
            out(f"{name.ljust(11)}  {value}")


def _done(as_json: bool, text: str, **fields: object) -> None:
    if wants_json(as_json):
        print_json(fields)
    else:
        out(text)


def mkdir(
    path: PathArg,
    resource: ResourceOption = None,
    parents: Annotated[bool, typer.Option("--parents", "-p", help="create missing parents too")] = False,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a remote directory."""
    from .session import open_session

    with open_session(conn) as session:
        session.client.mkdir(session.resource(resource), path, parents=parents)
    _done(as_json, f"created {path}", created=path)


def rm(
    path: PathArg,
    resource: ResourceOption = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-R", help="remove a directory and all in it")
    ] = False,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove a remote file (a directory tree with -R)."""
    from .problems import EXIT
    from .session import open_session

    with open_session(conn) as session:
        chosen = session.resource(resource)
        if not recursive and session.client.stat(chosen, path).type == "directory":
            raise fail(EXIT.CONFIG, f"{path} is a directory", hint="give -R to remove it and all it holds")
        session.client.rm(chosen, path)
    _done(as_json, f"removed {path}", removed=path)


def mv(
    source: Annotated[str, typer.Argument(help="remote path to move", metavar="SOURCE")],
    target: Annotated[str, typer.Argument(help="new remote path", metavar="TARGET")],
    resource: ResourceOption = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move or rename a remote path."""
    from .session import open_session

    with open_session(conn) as session:
        session.client.mv(session.resource(resource), source, target)
    _done(as_json, f"moved {source} to {target}", source=source, target=target)


def cp(
    source: Annotated[str, typer.Argument(help="remote path to copy", metavar="SOURCE")],
    target: Annotated[str, typer.Argument(help="remote path of the copy", metavar="TARGET")],
    resource: ResourceOption = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a remote path at the facility (directories whole)."""
    from .session import open_session

    with open_session(conn) as session:
        session.client.cp(session.resource(resource), source, target)
    _done(as_json, f"copied {source} to {target}", source=source, target=target)


def chmod(
    mode: Annotated[str, typer.Argument(help="octal mode, e.g. 750", metavar="MODE")],
    path: PathArg,
    resource: ResourceOption = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a remote path's mode."""
    from .session import open_session

    with open_session(conn) as session:
        session.client.chmod(session.resource(resource), path, mode)
    _done(as_json, f"mode of {path} is now {mode}", path=path, mode=mode)


def _print_text(text: str, as_json: bool, path: str) -> None:
    if wants_json(as_json):
        print_json({"path": path, "text": text})
    else:
        out(text, nl=bool(text) and not text.endswith("\n"))


def cat(
    path: PathArg,
    resource: ResourceOption = None,
    offset: Annotated[int, typer.Option(help="start at this byte", min=0)] = 0,
    size: Annotated[int | None, typer.Option(help="at most this many bytes", min=1)] = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a remote text file."""
    from .session import open_session

    with open_session(conn) as session:
        text = session.client.view(session.resource(resource), path, offset, size)
    _print_text(text, as_json, path)


def head(
    path: PathArg,
    resource: ResourceOption = None,
    lines: LinesOption = None,
    nbytes: BytesOption = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the first lines (or bytes) of a remote file."""
    from .session import open_session

    with open_session(conn) as session:
        text = session.client.head(session.resource(resource), path, lines, nbytes)
    _print_text(text, as_json, path)


def tail(
    path: PathArg,
    resource: ResourceOption = None,
    lines: LinesOption = None,
    nbytes: BytesOption = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the last lines (or bytes) of a remote file."""
    from .session import open_session

    with open_session(conn) as session:
        text = session.client.tail(session.resource(resource), path, lines, nbytes)
    _print_text(text, as_json, path)
